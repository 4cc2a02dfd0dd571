"""Which service templates a model should have: one per deployment its image recommends, plus
custom templates. Pure: the controller applies the result and prunes what is no longer
wanted."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar, get_args

from aim_engine.api.meta import EnvVar
from aim_engine.api.v1alpha1 import (
    AIMModelSpec,
    CustomTemplate,
    Hardware,
    ImageMetadata,
    RecommendedDeployment,
)
from aim_engine.api.v1alpha1.common import (
    MODEL_ID_PATTERN,
    CPURequirements,
    GPURequirements,
    Metric,
    Precision,
)
from aim_engine.api.v1alpha1.template import AIMServiceTemplateSpec
from aim_engine.catalog import labels
from aim_engine.catalog.naming import derived_name

_METRICS = set(get_args(Metric))
_PRECISIONS = set(get_args(Precision))
_METRIC_SHORT = {"latency": "lat", "throughput": "thr"}
_MODEL_ID = re.compile(MODEL_ID_PATTERN)
M = TypeVar("M", GPURequirements, CPURequirements)


@dataclass(frozen=True)
class DesiredTemplate:
    name: str
    spec: AIMServiceTemplateSpec
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TemplatePlan:
    templates: list[DesiredTemplate]
    expects_templates: bool
    """False when the model is not supposed to have generated templates (then none is pruned)."""
    reason: str
    message: str


def discovery_enabled(spec: AIMModelSpec) -> bool:
    return spec.discovery is None or spec.discovery.extract_metadata is not False


def creates_templates(spec: AIMModelSpec) -> bool:
    return spec.discovery is None or spec.discovery.create_service_templates is not False


def is_custom(spec: AIMModelSpec) -> bool:
    return bool(spec.model_sources)


def plan(model_name: str, spec: AIMModelSpec, metadata: ImageMetadata | None) -> TemplatePlan:
    """The templates a model should own, given the image metadata known so far (None: unknown)."""
    if not creates_templates(spec):
        return TemplatePlan(
            [], False, "NoTemplatesExpected", "spec.discovery.createServiceTemplates is false"
        )
    if is_custom(spec):
        custom = custom_templates(model_name, spec)
        return TemplatePlan(custom, True, "CreatingTemplates", f"{len(custom)} custom template(s)")
    extra = custom_templates(model_name, spec) if spec.custom_templates else []
    if metadata is None:
        if not discovery_enabled(spec):
            message = (
                "spec.discovery.extractMetadata is false and spec.imageMetadata is not set, so the "
                "image's recommended deployments are unknown"
            )
            return TemplatePlan(extra, bool(extra), "NoTemplatesExpected", message)
        return TemplatePlan(extra, True, "AwaitingMetadata", "Waiting for the image metadata")
    deployments = (metadata.model.recommended_deployments if metadata.model else None) or []
    generated = [recommended_template(model_name, spec, metadata, d) for d in deployments]
    planned = _unique([*generated, *extra])
    if not planned:
        return TemplatePlan([], False, "NoTemplatesExpected", "The image recommends no deployments")
    return TemplatePlan(planned, True, "CreatingTemplates", f"{len(planned)} template(s) planned")


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
    canonical = metadata.model.canonical_name if metadata.model else None
    hardware = None
    if gpu or count:
        hardware = Hardware(gpu=GPURequirements(requests=count if count else None, model=gpu or None))
    template_spec = AIMServiceTemplateSpec(
        model_name=model_name,
        aim_id=canonical or None,
        model_id=canonical if canonical and _is_model_id(canonical) else None,
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
        _without_unset(template_spec),
        {labels.MODEL: model_name, labels.ORIGIN: labels.ORIGIN_AUTO},
    )


def _is_model_id(text: str) -> bool:
    return _MODEL_ID.fullmatch(text) is not None


def custom_templates(model_name: str, spec: AIMModelSpec) -> list[DesiredTemplate]:
    """Templates from `customTemplates` (or `custom.templates`), or one from `custom.hardware`."""
    entries = [*(spec.custom_templates or []), *((spec.custom.templates if spec.custom else None) or [])]
    if not entries:
        if not is_custom(spec):
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
        hardware.gpu.requests if hardware and hardware.gpu else None,
        sorted(gpu_models),
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
    return DesiredTemplate(name, _without_unset(template_spec), template_labels)


def gpu_models_of(hardware: Hardware | None) -> list[str]:
    if hardware is None or hardware.gpu is None:
        return []
    models = list(hardware.gpu.models or [])
    if hardware.gpu.model and hardware.gpu.model not in models:
        models.append(hardware.gpu.model)
    return models


def merge_hardware(base: Hardware | None, override: Hardware | None) -> Hardware | None:
    """Field-by-field: anything the override sets wins; the rest comes from the base."""
    if base is None or override is None:
        return override or base
    gpu = _merge_model(base.gpu, override.gpu, GPURequirements)
    cpu = _merge_model(base.cpu, override.cpu, CPURequirements)
    return Hardware(gpu=gpu, cpu=cpu)


def _merge_model(base: M | None, override: M | None, cls: type[M]) -> M | None:
    if base is None or override is None:
        return override or base
    merged = {**base.model_dump(exclude_unset=True), **override.model_dump(exclude_unset=True)}
    return cls.model_validate(merged)


def merge_env(base: Sequence[EnvVar] | None, override: Sequence[EnvVar] | None) -> list[EnvVar] | None:
    """By name: the override's entries replace the base's; order is the base's, then new names."""
    if not base and not override:
        return None
    merged = {e.name: e for e in base or ()}
    for entry in override or ():
        merged[entry.name] = entry
    return list(merged.values())


def _without_unset(spec: AIMServiceTemplateSpec) -> AIMServiceTemplateSpec:
    """Re-parse so that only fields with a value count as set (None means absent on the wire)."""
    return AIMServiceTemplateSpec.model_validate(
        spec.model_dump(by_alias=True, exclude_none=True, mode="json")
    )
