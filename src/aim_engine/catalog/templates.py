"""Which service templates a model should have, by kind of model:

- an image model: one per deployment its image recommends, plus custom templates;
- a custom model: its custom templates, or one from `custom.hardware`;
- a fine-tuned model: a copy of each official template it matches (`fine_tuning`).

Pure: the controller applies the result and prunes what is no longer wanted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

from aim_engine.api.v1alpha1 import (
    AIMModelSpec,
    CustomTemplate,
    Hardware,
    ImageMetadata,
    RecommendedDeployment,
)
from aim_engine.api.v1alpha1.common import MODEL_ID_PATTERN, GPURequirements, Metric, Precision
from aim_engine.api.v1alpha1.template import AIMServiceTemplateSpec
from aim_engine.catalog import labels
from aim_engine.catalog.fine_tuning import Candidate, FineTuneReport, match
from aim_engine.catalog.model_kind import CustomModel, FineTunedModel, ModelType, classify
from aim_engine.catalog.naming import derived_name
from aim_engine.catalog.template_spec import (
    DesiredTemplate,
    creates_templates,
    discovery_enabled,
    gpu_models_of,
    hardware_identity,
    merge_env,
    merge_hardware,
    normalized,
)

_METRICS = set(get_args(Metric))
_PRECISIONS = set(get_args(Precision))
_METRIC_SHORT = {"latency": "lat", "throughput": "thr"}
_MODEL_ID = re.compile(MODEL_ID_PATTERN)


PlanState = Literal[
    "CreatingTemplates",
    "NoTemplatesExpected",
    "AwaitingMetadata",
    "NoMatchingTemplates",
    "DeploymentImageUnresolved",
]
"""What a template plan amounts to (the ServiceTemplatesReady reason when no template exists)."""


@dataclass(frozen=True, kw_only=True)
class TemplatePlan:
    templates: list[DesiredTemplate]
    expects_templates: bool
    """False when the model is not supposed to have generated templates (then none is pruned)."""
    reason: PlanState
    message: str
    prune: bool = False
    """Whether templates the model applied earlier and no longer plans may be deleted: only
    when the plan is complete (metadata known, or nothing depends on it)."""
    fine_tuning: FineTuneReport | None = None
    """For fine-tuned models: the verdict on every candidate template."""
    skipped: list[str] = field(default_factory=list)
    """Planned templates that could not be made yet, with why (named in the model's status)."""


def plan(
    model_name: str,
    spec: AIMModelSpec,
    metadata: ImageMetadata | None,
    candidates: Sequence[Candidate] = (),
    *,
    kind: ModelType | None = None,
) -> TemplatePlan:
    """The templates a model should own, given the image metadata known so far (None: unknown)
    and, for a fine-tuned model, the candidate official templates with their owners. `kind` is
    the model's classification when the caller has it already."""
    kind = kind if kind is not None else classify(spec)
    if not creates_templates(spec):
        return TemplatePlan(
            templates=[],
            expects_templates=False,
            reason="NoTemplatesExpected",
            message="spec.discovery.createServiceTemplates is false",
        )
    if isinstance(kind, FineTunedModel):
        report = match(model_name, spec, kind, candidates)
        copies = report.copies
        skipped = [f"{v.candidate.ref} ({v.detail})" for v in report.skipped]
        reason: PlanState = (
            "CreatingTemplates"
            if copies
            else ("DeploymentImageUnresolved" if skipped else "NoMatchingTemplates")
        )
        return TemplatePlan(
            templates=copies,
            expects_templates=True,
            reason=reason,
            message=report.summary(),
            prune=True,
            fine_tuning=report,
            skipped=skipped,
        )
    if isinstance(kind, CustomModel):
        custom = custom_templates(model_name, spec, default=True)
        return TemplatePlan(
            templates=custom,
            expects_templates=True,
            reason="CreatingTemplates",
            message=f"{len(custom)} custom template(s)",
            prune=True,
        )
    extra = custom_templates(model_name, spec)
    if metadata is None:
        if not discovery_enabled(spec):
            message = (
                "spec.discovery.extractMetadata is false and spec.imageMetadata is not set, so the "
                "image's recommended deployments are unknown"
            )
            return TemplatePlan(
                templates=extra, expects_templates=bool(extra), reason="NoTemplatesExpected", message=message
            )
        return TemplatePlan(
            templates=extra,
            expects_templates=True,
            reason="AwaitingMetadata",
            message="Waiting for the image metadata",
        )
    deployments = (metadata.model.recommended_deployments if metadata.model else None) or []
    generated = [recommended_template(model_name, spec, metadata, d) for d in deployments]
    planned = _unique([*generated, *extra])
    if not planned:
        return TemplatePlan(
            templates=[],
            expects_templates=False,
            reason="NoTemplatesExpected",
            message="The image recommends no deployments",
            prune=True,
        )
    return TemplatePlan(
        templates=planned,
        expects_templates=True,
        reason="CreatingTemplates",
        message=f"{len(planned)} template(s) planned",
        prune=True,
    )


def _unique(templates: Sequence[DesiredTemplate]) -> list[DesiredTemplate]:
    seen: dict[str, DesiredTemplate] = {}
    for template in templates:
        seen.setdefault(template.name, template)
    return list(seen.values())


def recommended_template(
    model_name: str, spec: AIMModelSpec, metadata: ImageMetadata, deployment: RecommendedDeployment
) -> DesiredTemplate:
    gpu = deployment.gpu_model or ""
    count = deployment.gpu_count or 0
    metric = deployment.metric if deployment.metric in _METRICS else None
    precision = deployment.precision if deployment.precision in _PRECISIONS else None
    size = f"{count}x-{gpu}" if gpu and count else (gpu or (f"x{count}" if count else ""))
    parts = [model_name, size, _METRIC_SHORT.get(metric or "", metric or ""), precision or ""]
    identity = [
        model_name,
        gpu,
        count,
        deployment.metric or "",
        deployment.precision or "",
        deployment.profile_id or "",
    ]
    if deployment.model_id:
        identity.append(deployment.model_id)
    canonical = (metadata.model.canonical_name if metadata.model else None) or None
    # What fine-tuned models match on: the family (the model's aimId, else the image's canonical
    # name) and the model id this deployment serves (its own modelId, else the canonical name).
    model_id = deployment.model_id or canonical
    hardware = None
    if gpu or count:
        hardware = Hardware(gpu=GPURequirements(requests=count if count else None, model=gpu or None))
    template_spec = AIMServiceTemplateSpec(
        model_name=model_name,
        aim_id=spec.aim_id or canonical,
        model_id=model_id if model_id and _is_model_id(model_id) else None,
        metric=metric,
        precision=precision,
        profile_id=deployment.profile_id or None,
        type="optimized",
        hardware=hardware,
        image_pull_secrets=spec.image_pull_secrets,
        service_account_name=spec.service_account_name,
    )
    return DesiredTemplate(
        derived_name(parts, identity),
        normalized(template_spec),
        {labels.MODEL: model_name, labels.ORIGIN: labels.ORIGIN_AUTO},
    )


def _is_model_id(text: str) -> bool:
    return _MODEL_ID.fullmatch(text) is not None


def custom_templates(model_name: str, spec: AIMModelSpec, *, default: bool = False) -> list[DesiredTemplate]:
    """Templates from `customTemplates` and `custom.templates` (both are read, for every kind of
    model that has custom templates); with `default` and no entries, one from `custom.hardware`."""
    entries = [*(spec.custom_templates or []), *((spec.custom.templates if spec.custom else None) or [])]
    if not entries:
        if not default:
            return []
        entries = [CustomTemplate()]
    return _unique([custom_template(model_name, spec, entry) for entry in entries])


def custom_template(model_name: str, spec: AIMModelSpec, entry: CustomTemplate) -> DesiredTemplate:
    base_hardware = spec.custom.hardware if spec.custom else None
    hardware = merge_hardware(base_hardware, entry.hardware)
    metric = entry.profile.metric if entry.profile else None
    precision = entry.profile.precision if entry.profile else None
    gpu_models = gpu_models_of(hardware)
    gpu_part = gpu_models[0] if len(gpu_models) == 1 else ""
    identity: list[object] = [
        model_name,
        entry.name or "",
        precision or "",
        metric or "",
        hardware_identity(hardware),
        entry.aim_id or "",
        entry.model_id or "",
    ]
    name = derived_name([model_name, "custom", entry.name or "", precision or "", gpu_part], identity)
    template_labels = {labels.MODEL: model_name, labels.ORIGIN: labels.ORIGIN_AUTO}
    if entry.name:
        template_labels[labels.TEMPLATE_ALIAS] = entry.name
    template_spec = AIMServiceTemplateSpec(
        model_name=model_name,
        aim_id=entry.aim_id,
        model_id=entry.model_id,
        metric=metric,
        precision=precision,
        type=entry.type or (spec.custom.type if spec.custom else None) or "unoptimized",
        hardware=hardware,
        env=merge_env(spec.env, entry.env),
        model_sources=spec.model_sources,
        custom_profile=entry.custom_profile,
        image_pull_secrets=spec.image_pull_secrets,
        service_account_name=spec.service_account_name,
    )
    return DesiredTemplate(name, normalized(template_spec), template_labels)
