"""Which template a service deploys. Pure.

1. `spec.template.name`: that template, a namespace template before a cluster template;
2. else the model's `spec.defaultServiceTemplate`, looked up the same way (when it does not
   exist, automatic selection runs and says so);
3. else automatic selection (`catalog.selection`) among the model's templates: the namespace
   templates of the model, and, when the model is a cluster model, its cluster templates.

A named template (1 or 2) skips the automatic rules (optimization level, overrides): naming
one is how a user deploys exactly what they chose. It must be Ready and belong to the model
the service resolved.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from aim_engine.api.v1alpha1.service import ServiceOverrides, ServiceStatus
from aim_engine.api.v1alpha1.template import AIMServiceTemplateSpec, AIMServiceTemplateStatus
from aim_engine.catalog import conditions
from aim_engine.catalog.conditions import READY, Cond
from aim_engine.catalog.model_view import ModelView
from aim_engine.catalog.naming import describe
from aim_engine.catalog.selection import Overrides, Selection, TemplateOption, select
from aim_engine.catalog.template_spec import gpu_models_of

CONDITION = "TemplateReady"


@dataclass(frozen=True)
class TemplateView:
    """A template as a service sees it."""

    kind: str
    name: str
    namespace: str | None
    uid: str | None
    spec: AIMServiceTemplateSpec
    status: AIMServiceTemplateStatus | None
    annotations: dict[str, str]

    @property
    def state(self) -> str | None:
        return self.status.status if self.status else None

    @property
    def where(self) -> str:
        return describe(self.kind, self.name, self.namespace)

    def ready_message(self) -> str:
        ready = conditions.find(self.status.conditions if self.status else None, READY)
        return ready.message if ready is not None else ""


def option_of(template: TemplateView) -> TemplateOption:
    status = template.status
    profile = status.profile.metadata if status and status.profile else None
    hardware = (status.resolved_hardware if status else None) or template.spec.hardware
    gpu = hardware.gpu if hardware else None
    return TemplateOption(
        name=template.name,
        namespaced=template.namespace is not None,
        status=template.state,
        type=(profile.type if profile else None) or template.spec.type,
        metric=template.spec.metric or (profile.metric if profile else None),
        precision=template.spec.precision or (profile.precision if profile else None),
        gpu_models=tuple(gpu_models_of(hardware)),
        gpu_count=(gpu.requests if gpu else None) or (profile.gpu_count if profile else None),
        status_message="" if template.state == "Ready" else template.ready_message(),
    )


def overrides_of(overrides: ServiceOverrides | None) -> Overrides:
    if overrides is None:
        return Overrides()
    gpu = overrides.hardware.gpu if overrides.hardware else None
    models = gpu_models_of(overrides.hardware)
    return Overrides(
        metric=overrides.metric,
        precision=overrides.precision,
        gpu_model=models[0] if models else None,
        gpu_count=gpu.requests if gpu else None,
    )


def belongs_to(template: TemplateView, model: ModelView) -> bool:
    """Whether the template deploys `model`: it names it, and a cluster template only ever
    deploys a cluster model (a namespace model of the same name shadows it for services)."""
    if template.spec.model_name != model.name:
        return False
    return template.namespace is not None or model.namespace is None


@dataclass(frozen=True)
class TemplateChoice:
    template: TemplateView | None
    condition: Cond
    phase: ServiceStatus | None
    """The service phase while no template is usable (None when one is)."""
    selection: Selection | None = None
    """The automatic selection, with every candidate's verdict (for explain)."""
    note: str = ""


def named(template: TemplateView | None, name: str, origin: str, model: ModelView) -> TemplateChoice:
    """The outcome for a template named in `origin` (spec.template.name or the model's
    spec.defaultServiceTemplate)."""
    if template is None:
        message = (
            f"{origin} {name!r} names no AIMServiceTemplate in this namespace and no "
            "AIMClusterServiceTemplate; create it, fix the name, or remove it to select automatically"
        )
        return TemplateChoice(None, Cond(CONDITION, "False", "TemplateNotFound", message), "Failed")
    if not belongs_to(template, model):
        message = (
            f"{origin} {name!r} is {template.where}, which deploys model {template.spec.model_name!r}, "
            f"not {model.where}; name a template of that model or change spec.model"
        )
        return TemplateChoice(None, Cond(CONDITION, "False", "TemplateModelMismatch", message), "Failed")
    return _usable(template, f"{origin} names {template.where}")


def _usable(template: TemplateView, why: str) -> TemplateChoice:
    if template.state == "Ready":
        return TemplateChoice(template, Cond(CONDITION, "True", "Resolved", why), None)
    detail = template.ready_message()
    message = f"{template.where} is {template.state or 'not reported yet'}" + (
        f": {detail}" if detail else ""
    )
    phase: ServiceStatus = "Failed" if template.state == "Failed" else "Pending"
    return TemplateChoice(None, Cond(CONDITION, "False", "TemplateNotReady", message), phase)


# Rules a user must change the service (or the catalog) to get past; anything else may pass by
# itself (a template becoming ready, a GPU node joining).
_USER_FIXES = {"UnoptimizedTemplateFiltered", "ServiceOverridesNotMatched"}


def automatic(
    candidates: Sequence[TemplateView],
    *,
    allow_unoptimized: bool,
    overrides: ServiceOverrides | None,
    gpus_in_cluster: Collection[str],
    current: str | None,
    note: str = "",
) -> TemplateChoice:
    by_name = {t.name: t for t in candidates}
    selection = select(
        [option_of(t) for t in candidates],
        allow_unoptimized=allow_unoptimized,
        overrides=overrides_of(overrides),
        gpus_in_cluster=gpus_in_cluster,
        current=current,
    )
    prefix = f"{note}; " if note else ""
    if selection.chosen is None:
        rules = {v.rule for v in selection.verdicts}
        phase: ServiceStatus = "Failed" if not candidates or rules <= _USER_FIXES else "Pending"
        message = prefix + selection.message
        if not candidates:
            message = prefix + (
                "The model has no service templates; name one in spec.template.name, or let the "
                "model create them (spec.discovery.createServiceTemplates)"
            )
        return TemplateChoice(None, Cond(CONDITION, "False", "NoEligibleTemplate", message), phase, selection)
    chosen = by_name[selection.chosen.name]
    return TemplateChoice(
        chosen, Cond(CONDITION, "True", "Resolved", prefix + selection.message), None, selection, note
    )
