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
from aim_engine.api.v1alpha1 import AIMService, AnyModel
from aim_engine.api.v1alpha2 import AIMClusterProfile, AIMProfile
from aim_engine.catalog.fine_tuning import FineTuneReport
from aim_engine.catalog.model_kind import CustomModel, FineTunedModel, ImageModel, ModelType
from aim_engine.catalog.model_status import ImageOutcome
from aim_engine.catalog.naming import describe
from aim_engine.catalog.selection import Selection
from aim_engine.catalog.template_status import hardware_summary
from aim_engine.controllers import model_plan, service_plan
from aim_engine.controllers.model import ModelReconciler
from aim_engine.controllers.service import ServiceReconciler
from aim_engine.offline.table import aligned


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
    plan = service_plan.plan(reconciler.observe(service))
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


def _metadata_line(image: ImageOutcome, model: AnyModel) -> str:
    """Where the plan's metadata came from, in the words of discovery's own outcome."""
    status = model.status
    if image.source == "spec":
        return "from spec.imageMetadata"
    if image.source == "registry" or (image.source == "status" and status and status.inspected_image):
        inspected = image.inspected_image or (status.inspected_image if status else None)
        digest = image.digest or (status.image_digest if status else None)
        return f"inspected {inspected}" + (f" ({digest})" if digest else "")
    if image.source == "status":
        return "from status.imageMetadata"
    return f"none: {image.condition.reason}: {image.condition.message}"


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


async def explain_model(reconciler: ModelReconciler, model: AnyModel) -> str:
    """The model reconciler's own observation and plan, in words."""
    world = await reconciler.observe(model)
    plan = model_plan.plan(world)
    status = model.status.status if model.status else None
    lines = [f"{describe(model.KIND, model.name, model.namespace)}: {status or 'no status yet'}", ""]
    lines.append(f"Kind: {_kind_line(world.model_type)}")
    lines.append(f"Runtime config: {world.runtime.condition.message}")
    lines.append(f"Metadata: {_metadata_line(world.image, model)}")
    templates = plan.templates
    planned = (
        templates.message
        if templates.reason == "CreatingTemplates"
        else f"{templates.reason}: {templates.message}"
    )
    lines += ["", f"Templates: {planned}"]
    rows = [["TEMPLATE", "HARDWARE", "METRIC", "PRECISION", "TYPE", "STATUS"]]
    for desired in templates.templates:
        live = world.templates.get(desired.name)
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
    others = sorted(set(world.templates) - {t.name for t in templates.templates})
    if others:
        lines.append(
            f"  also of this model, not planned (kept: made by someone else or in use): {', '.join(others)}"
        )
    if templates.fine_tuning is not None:
        lines += _fine_tuning(templates.fine_tuning)
    lines += _profiles(world, plan)
    return "\n".join(lines) + "\n"


def _profiles(world: model_plan.ModelObservation, plan: model_plan.ModelPlan) -> list[str]:
    if not world.declared_v1alpha2:
        return ["", "Profiles: none (declared in v1alpha1; a v1alpha2 declaration publishes profiles)"]
    planned = plan.profiles
    if planned is None:
        return ["", "Profiles: declared in v1alpha2; waiting for the image metadata"]
    profile_kind = AIMProfile.KIND if world.model.namespace else AIMClusterProfile.KIND
    rows = [["PROFILE", "ACCELERATOR", "METRIC", "PRECISION", "PRIMARY", "STATUS"]]
    for p in planned:
        live = world.profiles.get(p.name)
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
    lines = ["", f"Profiles (declared in v1alpha2): {len(planned)} {profile_kind}(s)"]
    return lines + (_columns(rows) if planned else ["  (none: the image recommends no deployments)"])
