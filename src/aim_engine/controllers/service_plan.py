"""What a service should become, decided from one observation of the world: the service
reconciler's plan, which `aim-engine explain service` prints too.

`ServiceObservation` is everything the decision reads, gathered once from the cache by the
reconciler: the runtime config, the InferenceService of the service's name, every model the
service could mean (by name, by image, or by custom identity) with each one's templates, the
templates a name could point at, and the GPU models in the cluster. `plan` is pure: from that
value alone it resolves the model, chooses the template and builds the InferenceService, saying
at each step why; `status` turns the plan and what was applied into the service's status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aim_engine.api.core import InferenceServiceEvent, PredictorPod
from aim_engine.api.image_reference import parse_reference
from aim_engine.api.kserve import InferenceService
from aim_engine.api.v1alpha1 import AIMModel, AIMService, AIMServiceStatus, ResolvedReference
from aim_engine.api.v1alpha1.service import ServiceStatus
from aim_engine.catalog import (
    inference_service,
    labels,
    runtime_config,
    service_model,
    service_status,
    service_templates,
)
from aim_engine.catalog.conditions import Cond
from aim_engine.catalog.model_view import ModelView
from aim_engine.runtime.store import controlled_by


@dataclass(frozen=True, kw_only=True)
class ModelsSeen:
    """The models a service's `spec.model` could mean, as the cache holds them."""

    by_name: ModelView | None = None
    """`spec.model.name`: the namespace model of that name, else the cluster model."""
    namespace_with_image: Sequence[ModelView] = ()
    cluster_with_image: Sequence[ModelView] = ()
    """`spec.model.image`: the models whose `spec.image` is exactly that image."""
    same_custom: Sequence[ModelView] = ()
    """`spec.model.custom`: namespace custom models with the same base image, sources, hardware."""

    def all(self) -> list[ModelView]:
        found = [self.by_name] if self.by_name is not None else []
        return [*found, *self.namespace_with_image, *self.cluster_with_image, *self.same_custom]


@dataclass(frozen=True, kw_only=True)
class ServiceObservation:
    service: AIMService
    kserve: bool
    """Whether the cluster serves the InferenceService API."""
    runtime: runtime_config.RuntimeConfigResolution
    deployed: InferenceService | None
    """The InferenceService of the service's name, whoever made it."""
    models: ModelsSeen
    templates: Mapping[str, Sequence[service_templates.TemplateView]]
    """Each seen model's templates (by `ModelView.where`): what automatic selection picks from."""
    named: Mapping[str, service_templates.TemplateView | None]
    """The template each name in play resolves to (namespace first, then cluster):
    `spec.template.name` and every seen model's `spec.defaultServiceTemplate`."""
    gpus_in_cluster: frozenset[str]
    secrets: frozenset[str] = frozenset()
    """Which of the pull secrets in play exist in the service's namespace (names only)."""
    pods: Sequence[PredictorPod] = ()
    """The pods of the service's predictor (what they say while KServe is not ready)."""
    kserve_events: Sequence[InferenceServiceEvent] = ()
    """The events about the deployed InferenceService (this object: its uid)."""


PULL_SECRETS = "PullSecretsReady"


@dataclass(frozen=True)
class ModelResolution:
    model: ModelView | None
    condition: Cond
    phase: ServiceStatus | None
    """The phase the model imposes (None when it is ready)."""
    how: str
    """How the model was found, or why not (for explain)."""
    create: AIMModel | None = None


@dataclass(kw_only=True)
class ServicePlan:
    """What a service resolves to and should become, before anything is written."""

    runtime: runtime_config.RuntimeConfigResolution
    steps: list[Cond] = field(default_factory=list)
    phase: ServiceStatus = "Failed"
    deployed: InferenceService | None = None
    """The service's own InferenceService as it exists now (None: absent, or someone else's)."""
    model: ModelView | None = None
    model_how: str = ""
    create: AIMModel | None = None
    """A model to create for `spec.model.image` or `spec.model.custom`."""
    choice: service_templates.TemplateChoice | None = None
    desired: inference_service.DesiredInferenceService | None = None


def plan(world: ServiceObservation) -> ServicePlan:
    service = world.service
    namespace = service.namespace or ""
    name = inference_service.inference_service_name(service.name)
    taken = world.deployed is not None and not controlled_by(world.deployed, service)
    runtime = world.runtime
    deployed = None if taken else world.deployed  # someone else's object of that name: never touched
    result = ServicePlan(runtime=runtime, steps=[runtime.condition], deployed=deployed)
    if runtime.fatal:
        return result
    resolution = resolve_model(world)
    result.model, result.create, result.model_how = resolution.model, resolution.create, resolution.how
    result.steps.append(resolution.condition)
    result.phase = resolution.phase or "Pending"
    if resolution.model is None or resolution.phase is not None:
        return result
    model = resolution.model
    choice = choose_template(world, model)
    result.choice = choice
    result.steps.append(choice.condition)
    if choice.template is None:
        result.phase = choice.phase or "Pending"
        return result
    if not world.kserve:
        message = (
            "The cluster serves no InferenceService API (serving.kserve.io/v1beta1): install "
            "KServe, then restart the operator"
        )
        result.steps.append(Cond(service_status.KSERVE, "False", "KServeNotInstalled", message))
        result.phase = "Failed"
        return result
    if taken:
        message = (
            f"An InferenceService named {name} already exists in namespace {namespace} and does "
            "not belong to this service; delete it or rename the service"
        )
        result.steps.append(Cond(service_status.KSERVE, "False", "InferenceServiceConflict", message))
        result.phase = "Failed"
        return result
    result.desired = inference_service.build(service.name, service.spec, model, choice.template, runtime.spec)
    result.steps.append(pull_secrets_condition(world, result.desired.pull_secrets))
    previous = service.status.status if service.status else None
    # Applying changes no status: what KServe reported on the object is what counts.
    kserve, result.phase = service_status.inference_service_condition(
        name, deployed.status if deployed is not None else None, previous, world.pods, world.kserve_events
    )
    result.steps.append(kserve)
    return result


def resolve_model(world: ServiceObservation) -> ModelResolution:
    spec = world.service.spec
    namespace = world.service.namespace or ""
    seen = world.models
    if spec.model.name:
        found = seen.by_name
        if found is None:
            return ModelResolution(
                None, service_model.not_found(spec), "Failed", "found no model of that name"
            )
        where = (
            "in the service's namespace" if found.namespace else f"(no AIMModel of that name in {namespace})"
        )
        how = f"spec.model.name {spec.model.name!r}: {found.kind} {where}"
    elif spec.model.image:
        image = spec.model.image
        try:
            parse_reference(image)
        except ValueError as exc:
            message = f"spec.model.image {image!r} is not a valid image reference: {exc}; fix it"
            cond = Cond(service_model.CONDITION, "False", "InvalidImageReference", message)
            return ModelResolution(None, cond, "Failed", "the image reference is invalid")
        auto_name = service_model.auto_model_name(image)
        picked = service_model.pick_by_image(seen.namespace_with_image, seen.cluster_with_image, auto_name)
        counts = (
            f"{len(seen.namespace_with_image)} namespace and {len(seen.cluster_with_image)} "
            "cluster model(s) have it"
        )
        if picked is None:
            config = world.runtime.spec.model if world.runtime.spec else None
            auto = config.auto_discovery is not False if config else True
            created = service_model.image_model(world.service.name, namespace, spec, auto_discovery=auto)
            how = (
                f"spec.model.image {image}: {counts}; creates AIMModel {created.name} with discovery "
                f"{'on' if auto else 'off'} (runtime config spec.model.autoDiscovery)"
            )
            return ModelResolution(
                None, service_model.creating(created, f"spec.model.image {image}"), "Pending", how, created
            )
        found = picked
        how = f"spec.model.image {image}: {counts}; uses {picked.where}"
    else:
        custom = spec.model.custom
        assert custom is not None  # the CRD demands exactly one of name, image, custom
        name = service_model.custom_model_name(custom)
        same = seen.same_custom
        existing = next((m for m in same if m.name == name), same[0] if same else None)
        if existing is None:
            created = service_model.custom_model(world.service.name, namespace, spec)
            how = (
                f"spec.model.custom: no custom model with these sources and hardware; creates AIMModel {name}"
            )
            return ModelResolution(
                None, service_model.creating(created, "spec.model.custom"), "Pending", how, created
            )
        found = existing
        how = f"spec.model.custom: AIMModel {existing.name} has the same base image, sources and hardware"
    unhealthy = [
        f"{t.name} ({t.status.status if t.status and t.status.status else 'no status'})"
        for t in world.templates.get(found.where, ())
        if not (t.status and t.status.status == "Ready") and service_templates.belongs_to(t, found)
    ]
    cond, phase = service_model.readiness(found, unhealthy)
    return ModelResolution(found, cond, phase, how)


def pull_secrets_condition(world: ServiceObservation, wanted: Sequence[inference_service.PullSecret]) -> Cond:
    """Whether the pod will find every pull secret it is given. A cluster model's live in the
    operator namespace, where discovery reads them; a pod reads its own namespace only, and
    nothing is copied across: the service says which are missing, and how to fix it."""
    namespace = world.service.namespace or ""
    missing = [s for s in wanted if s.name not in world.secrets]
    if not missing:
        if not wanted:
            return Cond(PULL_SECRETS, "True", "PullSecretsFound", "No image pull secret is needed")
        listed = ", ".join(s.name for s in wanted)
        return Cond(PULL_SECRETS, "True", "PullSecretsFound", f"Image pull secrets in {namespace}: {listed}")
    names = ", ".join(f"{s.name!r} (from {s.origin})" for s in missing)
    message = (
        f"Image pull secret(s) {names} do not exist in namespace {namespace!r}, where the predictor's "
        f"pod reads them: create {missing[0].name!r} in {namespace!r}, or list a secret of "
        f"{namespace!r} in the runtime config (secrets are never copied across namespaces)"
    )
    return Cond(PULL_SECRETS, "False", "PullSecretNotFound", message)


def choose_template(world: ServiceObservation, model: ModelView) -> service_templates.TemplateChoice:
    service = world.service
    selector = service.spec.template
    if selector is not None and selector.name:
        return service_templates.named(
            world.named.get(selector.name), selector.name, "spec.template.name", model
        )
    note = ""
    default = model.spec.default_service_template
    if default:
        found = world.named.get(default)
        if found is not None:
            return service_templates.named(
                found, default, f"spec.defaultServiceTemplate of {model.where}", model
            )
        note = (
            f"spec.defaultServiceTemplate {default!r} of {model.where} does not exist, "
            "so one was selected automatically"
        )
    status = service.status
    current = None
    if (
        status is not None
        and status.resolved_template
        and status.observed_generation == service.metadata.generation
    ):
        current = status.resolved_template.name
    candidates = [t for t in world.templates.get(model.where, ()) if service_templates.belongs_to(t, model)]
    return service_templates.automatic(
        candidates,
        allow_unoptimized=bool(selector and selector.allow_unoptimized),
        overrides=service.spec.overrides,
        gpus_in_cluster=world.gpus_in_cluster,
        current=current,
        note=note,
    )


def status(
    service: AIMService, plan: ServicePlan, deployed: InferenceService | None, *, timestamp: str
) -> AIMServiceStatus:
    """The service's status from its plan and the InferenceService as applied (or as it was)."""
    steps = list(plan.steps)
    for type_, on in (
        (service_model.CONDITION, "Model"),
        (service_templates.CONDITION, "Template"),
        (service_status.KSERVE, "Template"),
    ):
        if not any(c.type == type_ for c in steps):
            steps.append(service_status.waiting(type_, on))
    template = plan.choice.template if plan.choice is not None else None
    template_ref = _reference(template) if template is not None else None
    image = plan.desired.image if plan.desired is not None else None
    phase: ServiceStatus = plan.phase
    if plan.desired is None and deployed is not None:
        # Resolution broke after a deployment: the InferenceService keeps serving what it
        # was given, and that template stays in use (so it is not pruned).
        phase = "Failed" if phase == "Failed" else "Degraded"
        running = deployed.labels.get(labels.TEMPLATE)
        template_ref = ResolvedReference(name=running) if running else None
        image = _container_image(deployed)
    return service_status.build_status(
        service.status,
        generation=service.metadata.generation,
        steps=steps,
        phase=phase,
        resolved_model=_reference(plan.model) if plan.model is not None else None,
        resolved_template=template_ref,
        resolved_image=image,
        timestamp=timestamp,
    )


def _reference(obj: ModelView | service_templates.TemplateView) -> ResolvedReference:
    return ResolvedReference(
        name=obj.name,
        namespace=obj.namespace,
        kind=obj.kind,
        scope="Namespace" if obj.namespace else "Cluster",
        uid=obj.uid,
    )


def _container_image(deployed: InferenceService) -> str | None:
    containers = (deployed.spec.get("predictor") or {}).get("containers") or []
    image = containers[0].get("image") if containers and isinstance(containers[0], dict) else None
    return str(image) if image else None
