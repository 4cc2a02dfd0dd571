"""AIMService reconciler: runtime config → model → template → InferenceService → status.

Observe: the runtime config, the model (found, or created for `spec.model.image` and
`spec.model.custom`), the model's templates and the cluster's GPUs, all from the cache. Plan:
`catalog.service_templates` chooses the template, `catalog.inference_service` builds the
InferenceService, `catalog.service_status` the status. Apply: the model when one must be
created, the InferenceService (owned by the service, so garbage-collected with it) and the
status when it changed.

An InferenceService that exists is never deleted because a later step fails (a model being
re-inspected, a template edited): it keeps serving as last applied, and the status says what is
wrong. Deleting the service deletes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from aim_engine.api.core import Node
from aim_engine.api.kserve import InferenceService
from aim_engine.api.meta import KubeObject, ObjectKey, ObjectMeta
from aim_engine.api.v1alpha1 import (
    AIMClusterModel,
    AIMClusterRuntimeConfig,
    AIMClusterServiceTemplate,
    AIMModel,
    AIMRuntimeConfig,
    AIMService,
    AIMServiceStatus,
    AIMServiceTemplate,
    AnyModel,
    AnyTemplate,
    ResolvedReference,
)
from aim_engine.catalog import conditions, labels
from aim_engine.catalog import inference_service as isvc
from aim_engine.catalog import runtime_config as rc
from aim_engine.catalog import service_model as sm
from aim_engine.catalog import service_status as ss
from aim_engine.catalog import service_templates as st
from aim_engine.catalog.conditions import Cond
from aim_engine.catalog.model_view import ModelView
from aim_engine.controllers.gpu_nodes import gpu_signature_changed, inventory
from aim_engine.controllers.indexes import (
    CUSTOM_IDENTITY,
    MODEL_IMAGE,
    MODEL_NAME,
    SERVICE_MODEL,
    SERVICE_RUNTIME_CONFIG,
    SERVICE_TEMPLATE,
    template_key,
)
from aim_engine.controllers.lookup import find_model, find_runtime_config
from aim_engine.controllers.settings import ControllerSettings
from aim_engine.controllers.views import model_view, template_view
from aim_engine.registry.reference import parse_reference
from aim_engine.runtime.predicates import generation_changed
from aim_engine.runtime.reconciler import Reconciler, Result, Watch
from aim_engine.runtime.store import Store, controlled_by

SERVICE_EVENTS = conditions.ready_events(on_ready=True, trouble=("Failed", "Degraded"))
"""Events for what a user acts on: starting to run, and breaking."""


@dataclass(frozen=True)
class ModelResolution:
    model: ModelView | None
    condition: Cond
    phase: str
    """The phase the model imposes ("" when it is ready)."""
    how: str
    """How the model was found, or why not (for explain)."""
    create: AIMModel | None = None


@dataclass
class ServicePlan:
    """What a service resolves to and should become, before anything is written."""

    runtime: rc.RuntimeConfigResolution
    steps: list[Cond]
    phase: str
    deployed: InferenceService | None
    """The service's own InferenceService as it exists now."""
    model: ModelView | None = None
    model_how: str = ""
    create: AIMModel | None = None
    """A model to create for `spec.model.image` or `spec.model.custom`."""
    choice: st.TemplateChoice | None = None
    desired: isvc.DesiredInferenceService | None = None


class ServiceReconciler(Reconciler):
    kind = AIMService

    def __init__(self, store: Store, settings: ControllerSettings) -> None:
        self.store = store
        self.settings = settings
        self.owns = (InferenceService,) if settings.kserve else ()
        self.watches: list[Watch[Any]] = [
            Watch(AIMModel, self._services_of_model, _model_seen_changed),
            Watch(AIMClusterModel, self._services_of_model, _model_seen_changed),
            Watch(AIMServiceTemplate, self._services_of_template, _template_seen_changed),
            Watch(AIMClusterServiceTemplate, self._services_of_template, _template_seen_changed),
            Watch(AIMRuntimeConfig, self._services_of_config, generation_changed),
            Watch(AIMClusterRuntimeConfig, self._services_of_config, generation_changed),
            Watch(Node, self._services_needing_gpus, gpu_signature_changed),
        ]

    @property
    def name(self) -> str:
        return "service"

    # --- watches: which services a change concerns ---

    def _services_of_model(self, model: KubeObject) -> Iterable[ObjectKey]:
        spec = cast(AnyModel, model).spec
        values = [f"name:{model.name}", *([f"image:{spec.image}"] if spec.image else [])]
        return self._services(model.namespace, values)

    def _services_of_template(self, template: KubeObject) -> Iterable[ObjectKey]:
        """Services that named the template, and those that select among its model's templates."""
        model_name = cast(AnyTemplate, template).spec.model_name
        named = template_key(template.KIND, template.namespace, template.name)
        found = {s.key for s in self.store.list(AIMService, index=(SERVICE_TEMPLATE, named))}
        return found | set(self._services(template.namespace, [f"name:{model_name}"]))

    def _services_of_config(self, config: KubeObject) -> Iterable[ObjectKey]:
        found = self.store.list(AIMService, config.namespace, index=(SERVICE_RUNTIME_CONFIG, config.name))
        return [s.key for s in found]

    def _services_needing_gpus(self, node: KubeObject) -> Iterable[ObjectKey]:
        return [s.key for s in self.store.list(AIMService)]

    def _services(self, namespace: str | None, values: Iterable[str]) -> list[ObjectKey]:
        keys: set[ObjectKey] = set()
        for value in values:
            keys.update(s.key for s in self.store.list(AIMService, namespace, index=(SERVICE_MODEL, value)))
        return sorted(keys)

    # --- reconcile ---

    async def reconcile(self, key: ObjectKey) -> Result | None:
        service = self.store.get(AIMService, key.name, key.namespace)
        if service is None:
            return None  # the InferenceService goes with it (owner reference)
        plan = self.plan(service)
        if plan.create is not None:
            # No owner: the model is shared by every service that asks for the same thing,
            # and outlives them (the document's lifecycle).
            await self.store.apply(plan.create)
        deployed = plan.deployed
        if plan.desired is not None:
            desired = plan.desired
            deployed = await self.store.apply(
                InferenceService(
                    api_version=InferenceService.API_VERSION,
                    kind=InferenceService.KIND,
                    metadata=ObjectMeta(
                        name=desired.name, namespace=service.namespace, labels=desired.labels
                    ),
                    spec=desired.spec,
                ),
                owner=service,
            )
        await self.store.write_status(service, self._status(service, plan, deployed), events=SERVICE_EVENTS)
        return None

    def plan(self, service: AIMService) -> ServicePlan:
        """Everything the service should become, read from the store alone (no writes): what
        `reconcile` applies and what `aim-engine explain` prints."""
        namespace = service.namespace or ""
        name = isvc.inference_service_name(service.name)
        deployed = self.store.get(InferenceService, name, namespace) if self.settings.kserve else None
        taken = deployed is not None and not controlled_by(deployed, service)
        if taken:
            deployed = None  # someone else's object of that name: reported, never touched
        runtime = find_runtime_config(self.store, service.spec.runtime_config_name, service.namespace)
        plan = ServicePlan(runtime=runtime, steps=[runtime.condition], phase="Failed", deployed=deployed)
        if runtime.fatal:
            return plan
        resolution = self._resolve_model(service, runtime)
        plan.model, plan.create, plan.model_how = resolution.model, resolution.create, resolution.how
        plan.steps.append(resolution.condition)
        plan.phase = resolution.phase or "Pending"
        if resolution.model is None or resolution.phase:
            return plan
        model = resolution.model
        choice = self._choose_template(service, model)
        plan.choice = choice
        plan.steps.append(choice.condition)
        plan.phase = choice.phase
        if choice.template is None:
            return plan
        if not self.settings.kserve:
            message = (
                "The cluster serves no InferenceService API (serving.kserve.io/v1beta1): install "
                "KServe, then restart the operator"
            )
            plan.steps.append(Cond(ss.KSERVE, "False", "KServeNotInstalled", message))
            plan.phase = "Failed"
            return plan
        if taken:
            message = (
                f"An InferenceService named {name} already exists in namespace {namespace} and does "
                "not belong to this service; delete it or rename the service"
            )
            plan.steps.append(Cond(ss.KSERVE, "False", "InferenceServiceConflict", message))
            plan.phase = "Failed"
            return plan
        plan.desired = isvc.build(service.name, service.spec, model, choice.template, runtime.spec)
        previous = service.status.status if service.status else None
        # Applying changes no status: what KServe reported on the object is what counts.
        kserve, plan.phase = ss.inference_service_condition(
            name, deployed.status if deployed is not None else None, previous
        )
        plan.steps.append(kserve)
        return plan

    # --- observe ---

    def _resolve_model(self, service: AIMService, runtime: rc.RuntimeConfigResolution) -> ModelResolution:
        spec = service.spec
        namespace = service.namespace or ""
        if spec.model.name:
            found = find_model(self.store, spec.model.name, namespace)
            if found is None:
                return ModelResolution(None, sm.not_found(spec), "Failed", "found no model of that name")
            where = (
                "in the service's namespace"
                if found.namespace
                else f"(no AIMModel of that name in {namespace})"
            )
            how = f"spec.model.name {spec.model.name!r}: {found.KIND} {where}"
        elif spec.model.image:
            image = spec.model.image
            try:
                parse_reference(image)
            except ValueError as exc:
                message = f"spec.model.image {image!r} is not a valid image reference: {exc}; fix it"
                cond = Cond(sm.CONDITION, "False", "InvalidImageReference", message)
                return ModelResolution(None, cond, "Failed", "the image reference is invalid")
            auto_name = sm.auto_model_name(image)
            in_namespace = self.store.list(AIMModel, namespace, index=(MODEL_IMAGE, image))
            in_cluster = self.store.list(AIMClusterModel, index=(MODEL_IMAGE, image))
            picked = sm.pick_by_image(
                [model_view(m) for m in in_namespace], [model_view(m) for m in in_cluster], auto_name
            )
            counts = f"{len(in_namespace)} namespace and {len(in_cluster)} cluster model(s) have it"
            if picked is None:
                config = runtime.spec.model if runtime.spec else None
                auto = config.auto_discovery is not False if config else True
                created = sm.image_model(service.name, namespace, spec, auto_discovery=auto)
                how = (
                    f"spec.model.image {image}: {counts}; creates AIMModel {created.name} with discovery "
                    f"{'on' if auto else 'off'} (runtime config spec.model.autoDiscovery)"
                )
                return ModelResolution(
                    None, sm.creating(created, f"spec.model.image {image}"), "Pending", how, created
                )
            found = self._model_of(picked)
            how = f"spec.model.image {image}: {counts}; uses {picked.where}"
        else:
            custom = spec.model.custom
            assert custom is not None  # the CRD demands exactly one of name, image, custom
            name = sm.custom_model_name(custom)
            identity = sm.service_custom_identity(custom)
            same = self.store.list(AIMModel, namespace, index=(CUSTOM_IDENTITY, identity))
            existing = next((m for m in same if m.name == name), same[0] if same else None)
            if existing is None:
                created = sm.custom_model(service.name, namespace, spec)
                how = (
                    "spec.model.custom: no custom model with these sources and hardware; "
                    f"creates AIMModel {name}"
                )
                return ModelResolution(
                    None, sm.creating(created, "spec.model.custom"), "Pending", how, created
                )
            found = existing
            how = f"spec.model.custom: AIMModel {existing.name} has the same base image, sources and hardware"
        if found is None:  # deleted between two cache reads
            return ModelResolution(None, sm.not_found(spec), "Pending", "the model just went away")
        view = model_view(found)
        cond, phase = sm.readiness(view)
        return ModelResolution(view, cond, phase, how)

    def _model_of(self, view: ModelView) -> AnyModel | None:
        kind: type[AnyModel] = AIMModel if view.namespace else AIMClusterModel
        return self.store.get(kind, view.name, view.namespace)

    def _choose_template(self, service: AIMService, model: ModelView) -> st.TemplateChoice:
        selector = service.spec.template
        namespace = service.namespace or ""
        if selector is not None and selector.name:
            return st.named(
                self._find_template(selector.name, namespace), selector.name, "spec.template.name", model
            )
        note = ""
        default = model.spec.default_service_template
        if default:
            found = self._find_template(default, namespace)
            if found is not None:
                return st.named(found, default, f"spec.defaultServiceTemplate of {model.where}", model)
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
        return st.automatic(
            self._candidates(model, namespace),
            allow_unoptimized=bool(selector and selector.allow_unoptimized),
            overrides=service.spec.overrides,
            gpus_in_cluster={g.model for g in inventory(self.store)},
            current=current,
            note=note,
        )

    def _find_template(self, name: str, namespace: str) -> st.TemplateView | None:
        found: AnyTemplate | None = self.store.get(AIMServiceTemplate, name, namespace)
        if found is None:
            found = self.store.get(AIMClusterServiceTemplate, name)
        return template_view(found) if found is not None else None

    def _candidates(self, model: ModelView, namespace: str) -> list[st.TemplateView]:
        found: list[AnyTemplate] = list(
            self.store.list(AIMServiceTemplate, namespace, index=(MODEL_NAME, model.name))
        )
        if model.namespace is None:
            found += self.store.list(AIMClusterServiceTemplate, index=(MODEL_NAME, model.name))
        views = [template_view(t) for t in found if not t.metadata.deletion_timestamp]
        return [v for v in views if st.belongs_to(v, model)]

    # --- status ---

    def _status(
        self, service: AIMService, plan: ServicePlan, deployed: InferenceService | None
    ) -> AIMServiceStatus:
        steps = list(plan.steps)
        for type_, on in ((sm.CONDITION, "Model"), (st.CONDITION, "Template"), (ss.KSERVE, "Template")):
            if not any(c.type == type_ for c in steps):
                steps.append(ss.waiting(type_, on))
        template = plan.choice.template if plan.choice is not None else None
        template_ref = _reference(template) if template is not None else None
        image = plan.desired.image if plan.desired is not None else None
        phase = plan.phase
        if plan.desired is None and deployed is not None:
            # Resolution broke after a deployment: the InferenceService keeps serving what it
            # was given, and that template stays in use (so it is not pruned).
            phase = "Failed" if phase == "Failed" else "Degraded"
            running = deployed.labels.get(labels.TEMPLATE)
            template_ref = ResolvedReference(name=running) if running else None
            image = _container_image(deployed)
        return ss.build_status(
            service.status,
            generation=service.metadata.generation,
            steps=steps,
            phase=phase,
            resolved_model=_reference(plan.model) if plan.model is not None else None,
            resolved_template=template_ref,
            resolved_image=image,
            timestamp=conditions.timestamp(self.settings.clock()),
        )


def _model_seen_changed(old: AnyModel | None, new: AnyModel | None) -> bool:
    """A model changed in what a service reads of it: identity, spec, phase, Ready message."""
    return old is None or new is None or model_view(old) != model_view(new)


def _template_seen_changed(old: AnyTemplate | None, new: AnyTemplate | None) -> bool:
    """A template changed in what a service reads of it: spec, annotations, status."""
    return old is None or new is None or template_view(old) != template_view(new)


def _reference(obj: ModelView | st.TemplateView) -> ResolvedReference:
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
