"""`aim-engine explain`: every decision the operator makes about one service or one model, in
words, from the same plans the reconcilers apply (nothing here decides anything itself).

A service: its runtime config, how its model was found, every candidate template with the
first rule that rejected it or its rank, the chosen one and why, the merged resources and env
with the level each value came from, and the image with where it came from. A model: its
runtime config, where its metadata came from, the templates it plans and, for a fine-tuned
model, every template of its family with what happened to it and how each copy's deployment
image was resolved.
"""

from __future__ import annotations

from collections.abc import Sequence

from aim_engine.api.meta import EnvVar
from aim_engine.api.v1alpha1 import AIMClusterModel, AIMModel, AIMService, AIMServiceTemplate, ImageMetadata
from aim_engine.api.v1alpha1.template import AIMClusterServiceTemplate
from aim_engine.api.v1alpha2 import AIMClusterProfile, AIMProfile
from aim_engine.catalog import conditions
from aim_engine.catalog import templates as tp
from aim_engine.catalog.fine_tuning import FineTuneReport
from aim_engine.catalog.model_kind import CustomModel, FineTunedModel, ImageModel, ModelType, classify
from aim_engine.catalog.model_status import IMAGE_METADATA
from aim_engine.catalog.naming import describe
from aim_engine.catalog.selection import Selection
from aim_engine.catalog.template_status import hardware_summary
from aim_engine.controllers.indexes import MODEL_NAME
from aim_engine.controllers.model import ModelReconciler
from aim_engine.controllers.service import ServicePlan, ServiceReconciler
from aim_engine.offline.table import aligned
from aim_engine.runtime.store import Store

ModelKind = AIMModel | AIMClusterModel


def _columns(rows: Sequence[Sequence[str]]) -> list[str]:
    return aligned(rows, separator="  ", indent="  ")


def _env_value(var: EnvVar) -> str:
    if var.value is not None:
        return var.value
    source = var.value_from
    if source is None:
        return ""
    if source.secret_key_ref is not None:
        return f"(secret {source.secret_key_ref.name}, key {source.secret_key_ref.key})"
    if source.config_map_key_ref is not None:
        return f"(config map {source.config_map_key_ref.name}, key {source.config_map_key_ref.key})"
    if source.field_ref is not None:
        return f"(field {source.field_ref.field_path})"
    return "(from a resource field)"


def _candidates(selection: Selection) -> list[str]:
    rows = [["RANK", "TEMPLATE", "SCOPE", "TYPE", "GPU", "METRIC", "PRECISION", "VERDICT"]]
    chosen = selection.chosen.name if selection.chosen else None
    ordered = sorted(selection.verdicts, key=lambda v: (v.rank is None, v.rank or 0, v.option.name))
    for v in ordered:
        o = v.option
        gpu = "/".join(o.gpu_models) or "CPU"
        if o.gpu_count:
            gpu = f"{o.gpu_count} x {gpu}"
        if v.rule is None:
            verdict = "chosen" if o.name == chosen else "eligible"
        else:
            verdict = f"{v.rule}: {v.detail}"
        rank = str(v.rank) if v.rank is not None else "-"
        rows.append(
            [
                rank,
                o.name,
                o.scope,
                o.type or "unoptimized",
                gpu,
                o.metric or "-",
                o.precision or "-",
                verdict,
            ]
        )
    return _columns(rows)


def explain_service(reconciler: ServiceReconciler, service: AIMService) -> str:
    plan: ServicePlan = reconciler.plan(service)
    status = service.status.status if service.status else None
    lines = [f"{describe('AIMService', service.name, service.namespace)}: {status or 'no status yet'}", ""]
    lines.append(f"Runtime config: {plan.runtime.condition.message}")
    model_cond = next((c for c in plan.steps if c.type == "ModelReady"), None)
    if plan.model_how:
        lines.append(f"Model: {plan.model_how}")
    if model_cond is not None:
        lines.append(f"  {model_cond.reason}: {model_cond.message}")
    choice = plan.choice
    if choice is not None:
        lines += ["", f"Template: {choice.condition.reason}: {choice.condition.message}"]
        if choice.selection is not None:
            lines += ["  Candidates, best first (the first rule that rejected each, or its rank):"]
            lines += _candidates(choice.selection) if choice.selection.verdicts else ["  (none)"]
            lines.append(
                "  Rules, in order: TemplateNotReady, UnoptimizedTemplateFiltered, "
                "ServiceOverridesNotMatched, RequiredGPUNotInCluster, ShadowedByNamespaceTemplate; "
                "then by type, GPU, metric, precision, and name"
            )
        else:
            lines.append("  A named template: automatic selection (and its gates) did not run")
    desired = plan.desired
    if desired is not None:
        lines += ["", f"Image: {desired.image}", f"  from {desired.image_from}", "", "Resources:"]
        rows = []
        for part, values in (("requests", desired.resources.requests), ("limits", desired.resources.limits)):
            for name in sorted(values):
                rows.append(
                    [f"{part}.{name}", str(values[name]), desired.resources.origins[f"{part}.{name}"]]
                )
        lines += _columns(rows) if rows else ["  (none)"]
        lines += ["", "Env (lowest level first; a higher level replaces a name in place):"]
        lines += _columns([[e.var.name, _env_value(e.var), e.level] for e in desired.env]) or ["  (none)"]
        lines += ["", f"InferenceService {desired.name}:"]
    else:
        lines += ["", "InferenceService: not planned"]
    kserve = next((c for c in plan.steps if c.type == "InferenceServiceReady"), None)
    if kserve is not None:
        lines.append(f"  {kserve.reason}: {kserve.message}")
    elif desired is None:
        blocker = next((c for c in plan.steps if c.status != "True"), None)
        if blocker is not None:
            lines.append(f"  blocked by {blocker.type}: {blocker.reason}")
    return "\n".join(lines) + "\n"


def _kind_line(kind: ModelType) -> str:
    if isinstance(kind, FineTunedModel):
        return (
            f"fine-tuned model of aimId {kind.aim_id!r}, versionPolicy {kind.policy}, "
            f"modelIds {', '.join(kind.model_ids)}"
        )
    if isinstance(kind, CustomModel):
        return "custom model: weights from spec.modelSources; the image is not inspected"
    assert isinstance(kind, ImageModel)
    return "image model: templates from the deployments its image recommends"


def _metadata_line(model: ModelKind) -> tuple[str, ImageMetadata | None]:
    spec, status = model.spec, model.status
    if spec.image_metadata is not None:
        return "from spec.imageMetadata", spec.image_metadata
    if status is not None and status.image_metadata is not None:
        if status.inspected_image:
            digest = f" ({status.image_digest})" if status.image_digest else ""
            return f"inspected {status.inspected_image}{digest}", status.image_metadata
        return "from status.imageMetadata", status.image_metadata
    cond = conditions.find(status.conditions if status else None, IMAGE_METADATA)
    return (f"none: {cond.reason}: {cond.message}" if cond else "none yet"), None


def _fine_tuning(report: FineTuneReport) -> list[str]:
    lines = ["", f"Fine-tuning: looked for {report.looked_for()}"]
    official = [v for v in report.verdicts if v.outcome != "copy"]
    if not official:
        lines.append("  no official template of that aimId is in scope")
    for v in official:
        lines.append(f"  {v.candidate.ref}: {v.outcome}: {v.detail}")
        if v.image is not None:
            lines.append(f"    deployment image {v.image.image or '(unresolved)'}: {v.image.how}")
        if v.copy is not None:
            lines.append(f"    copy {v.copy.name}")
    copies = len(report.verdicts) - len(official)
    if copies:
        lines.append(
            f"  ({copies} copies made for fine-tuned models have that aimId too; copies are never copied)"
        )
    return lines


def explain_model(reconciler: ModelReconciler, store: Store, model: ModelKind) -> str:
    kind = classify(model.spec)
    status = model.status.status if model.status else None
    lines = [f"{describe(model.KIND, model.name, model.namespace)}: {status or 'no status yet'}", ""]
    lines.append(f"Kind: {_kind_line(kind)}")
    lines.append(f"Runtime config: {reconciler.runtime_config(model).condition.message}")
    source, metadata = _metadata_line(model)
    lines.append(f"Metadata: {source}")
    candidates = reconciler.candidates(model, kind) if isinstance(kind, FineTunedModel) else []
    plan = tp.plan(model.name, model.spec, metadata, candidates, kind=kind)
    template_kind: type[AIMServiceTemplate | AIMClusterServiceTemplate] = (
        AIMServiceTemplate if model.namespace else AIMClusterServiceTemplate
    )
    existing = {t.name: t for t in store.list(template_kind, model.namespace, index=(MODEL_NAME, model.name))}
    planned = plan.message if plan.reason == "CreatingTemplates" else f"{plan.reason}: {plan.message}"
    lines += ["", f"Templates: {planned}"]
    rows = [["TEMPLATE", "HARDWARE", "METRIC", "PRECISION", "TYPE", "STATUS"]]
    for desired in plan.templates:
        live = existing.get(desired.name)
        state = (live.status.status if live and live.status else None) or (
            "not created" if live is None else "-"
        )
        spec = desired.spec
        rows.append(
            [
                desired.name,
                hardware_summary(spec.hardware),
                spec.metric or "-",
                spec.precision or "-",
                spec.type or "-",
                state or "-",
            ]
        )
    lines += _columns(rows) if len(rows) > 1 else ["  (none planned)"]
    others = sorted(set(existing) - {t.name for t in plan.templates})
    if others:
        lines.append(
            f"  also of this model, not planned (kept: made by someone else or in use): {', '.join(others)}"
        )
    if plan.fine_tuning is not None:
        lines += _fine_tuning(plan.fine_tuning)
    lines += _profiles(reconciler, store, model, kind, metadata)
    return "\n".join(lines) + "\n"


def _profiles(
    reconciler: ModelReconciler,
    store: Store,
    model: ModelKind,
    kind: ModelType,
    metadata: ImageMetadata | None,
) -> list[str]:
    if not reconciler.uses_v1alpha2(model):
        return ["", "Profiles: none (declared in v1alpha1; a v1alpha2 declaration publishes profiles)"]
    planned = reconciler.planned_profiles(model, kind, metadata)
    if planned is None:
        return ["", "Profiles: declared in v1alpha2; waiting for the image metadata"]
    profile_kind: type[AIMProfile | AIMClusterProfile] = AIMProfile if model.namespace else AIMClusterProfile
    rows = [["PROFILE", "ACCELERATOR", "METRIC", "PRECISION", "PRIMARY", "STATUS"]]
    for p in planned:
        live = store.get(profile_kind, p.name, model.namespace)
        state = (live.status.status if live is not None and live.status else None) or "not created"
        spec = p.spec
        accelerator = (
            f"{spec.accelerator_count or ''} x {spec.accelerator_model}" if spec.accelerator_model else "CPU"
        )
        rows.append(
            [
                p.name,
                accelerator,
                spec.metric or "-",
                spec.precision or "-",
                "yes" if spec.primary else "",
                state,
            ]
        )
    lines = ["", f"Profiles (declared in v1alpha2): {len(planned)} {profile_kind.KIND}(s)"]
    return lines + (_columns(rows) if planned else ["  (none: the image recommends no deployments)"])
