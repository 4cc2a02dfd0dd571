"""AIMService reconciler: observe → plan → apply → status.

Observe (`observe`): the runtime config, every model the service could mean with their
templates, the templates a name could point at, the InferenceService of its name and the
cluster's GPUs, all from the cache, into one `ServiceObservation`. Plan (`service_plan.plan`,
pure, also what `aim-engine explain service` prints): the model (found, or one to create for
`spec.model.image` and `spec.model.custom`), the template, the InferenceService. Apply: the model
when one must be created, the InferenceService (owned by the service, so garbage-collected with
it). Status: `service_plan.status`, written by the store's status writer.

An InferenceService that exists is never deleted because a later step fails (a model being
re-inspected, a template edited): it keeps serving as last applied, and the status says what is
wrong. Deleting the service deletes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from aim_engine.api.core import InferenceServiceEvent, Node, PredictorPod, SecretMetadata
from aim_engine.api.kserve import InferenceService
from aim_engine.api.meta import KubeObject, ObjectKey, ObjectMeta
from aim_engine.api.v1alpha1 import (
    AIMClusterModel,
    AIMClusterRuntimeConfig,
    AIMClusterServiceTemplate,
    AIMModel,
    AIMRuntimeConfig,
    AIMService,
    AIMServiceTemplate,
    AnyModel,
    AnyTemplate,
)
from aim_engine.catalog import conditions, inference_service, service_model, service_status, service_templates
from aim_engine.catalog.model_view import ModelView
from aim_engine.controllers import service_plan
from aim_engine.controllers.gpu_nodes import gpu_signature_changed, inventory
from aim_engine.controllers.indexes import (
    CUSTOM_IDENTITY,
    EVENT_OBJECT,
    MODEL_IMAGE,
    MODEL_NAME,
    POD_SERVICE,
    SERVICE_MODEL,
    SERVICE_RUNTIME_CONFIG,
    SERVICE_TEMPLATE,
    pod_service,
    template_key,
)
from aim_engine.controllers.lookup import find_model, find_runtime_config
from aim_engine.controllers.service_plan import ModelsSeen, ServiceObservation
from aim_engine.controllers.settings import ControllerSettings
from aim_engine.controllers.views import model_view, template_view
from aim_engine.runtime.predicates import created_or_deleted, generation_changed
from aim_engine.runtime.reconciler import Reconciler, Result, Watch
from aim_engine.runtime.store import Store

SERVICE_EVENTS = conditions.ready_events(on_ready=True, trouble=("Failed", "Degraded"))
"""Events for what a user acts on: starting to run, and breaking."""


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
            # A pull secret created or deleted: the services of its namespace say so at once.
            Watch(SecretMetadata, self._services_of_namespace, created_or_deleted),
        ]
        if settings.kserve:
            # What the predictor's pods say (unschedulable, ImagePullBackOff, ...), only when it
            # changes: not every status write of a running pod.
            self.watches.append(Watch(PredictorPod, self._service_of_pod, _pod_trouble_changed))
            # What KServe could not do, said only in events: only its failures wake a service.
            self.watches.append(Watch(InferenceServiceEvent, self._service_of_event, _kserve_failure))

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

    def _services_of_namespace(self, obj: KubeObject) -> Iterable[ObjectKey]:
        return [s.key for s in self.store.list(AIMService, obj.namespace)]

    def _service_of_pod(self, pod: KubeObject) -> Iterable[ObjectKey]:
        return [ObjectKey(pod.namespace or "", service) for service in pod_service(pod)]

    def _service_of_event(self, event: KubeObject) -> Iterable[ObjectKey]:
        """The service that owns the InferenceService the event is about."""
        involved = cast(InferenceServiceEvent, event).involved_object
        deployed = self.store.get(InferenceService, involved.name or "", event.namespace)
        if deployed is None:
            return []
        owners = deployed.metadata.owner_references or ()
        owner = next((o for o in owners if o.controller and o.kind == AIMService.KIND), None)
        return [ObjectKey(event.namespace or "", owner.name)] if owner is not None else []

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
        plan = service_plan.plan(self.observe(service))
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
        stamp = conditions.timestamp(self.settings.clock())
        new_status = service_plan.status(service, plan, deployed, timestamp=stamp)
        await self.store.write_status(service, new_status, events=SERVICE_EVENTS)
        return None

    def observe(self, service: AIMService) -> ServiceObservation:
        """Everything the plan reads, from the cache, once."""
        namespace = service.namespace or ""
        name = inference_service.inference_service_name(service.name)
        runtime = find_runtime_config(self.store, service.spec.runtime_config_name, service.namespace)
        models = self._models_seen(service)
        seen = models.all()
        names = {service.spec.template.name if service.spec.template else None}
        names |= {m.spec.default_service_template for m in seen}
        # The names the plan may give the pod, whichever model it resolves: does each exist here?
        secrets = {
            s.name for m in seen for s in inference_service.pull_secrets(service.spec, runtime.spec, m)
        }
        deployed = self.store.get(InferenceService, name, namespace) if self.settings.kserve else None
        return ServiceObservation(
            service=service,
            kserve=self.settings.kserve,
            runtime=runtime,
            deployed=deployed,
            models=models,
            templates={m.where: self._templates_of(m, namespace) for m in seen},
            named={n: self._find_template(n, namespace) for n in names if n},
            gpus_in_cluster=frozenset(g.model for g in inventory(self.store)),
            secrets=frozenset(n for n in secrets if self.store.get(SecretMetadata, n, namespace) is not None),
            pods=self.store.list(PredictorPod, namespace, index=(POD_SERVICE, service.name))
            if self.settings.kserve
            else (),
            kserve_events=self._events_about(deployed),
        )

    def _events_about(self, deployed: InferenceService | None) -> list[InferenceServiceEvent]:
        if deployed is None:
            return []
        events = self.store.list(
            InferenceServiceEvent, deployed.namespace, index=(EVENT_OBJECT, deployed.name)
        )
        return [e for e in events if e.involved_object.uid == deployed.metadata.uid]

    def _models_seen(self, service: AIMService) -> ModelsSeen:
        wanted = service.spec.model
        namespace = service.namespace or ""
        if wanted.name:
            found = find_model(self.store, wanted.name, namespace)
            return ModelsSeen(by_name=model_view(found) if found is not None else None)
        if wanted.image:
            in_namespace = self.store.list(AIMModel, namespace, index=(MODEL_IMAGE, wanted.image))
            in_cluster = self.store.list(AIMClusterModel, index=(MODEL_IMAGE, wanted.image))
            return ModelsSeen(
                namespace_with_image=[model_view(m) for m in in_namespace],
                cluster_with_image=[model_view(m) for m in in_cluster],
            )
        if wanted.custom is not None:
            identity = service_model.service_custom_identity(wanted.custom)
            same = self.store.list(AIMModel, namespace, index=(CUSTOM_IDENTITY, identity))
            return ModelsSeen(same_custom=[model_view(m) for m in same])
        return ModelsSeen()

    def _find_template(self, name: str, namespace: str) -> service_templates.TemplateView | None:
        found: AnyTemplate | None = self.store.get(AIMServiceTemplate, name, namespace)
        if found is None:
            found = self.store.get(AIMClusterServiceTemplate, name)
        return template_view(found) if found is not None else None

    def _templates_of(self, model: ModelView, namespace: str) -> list[service_templates.TemplateView]:
        """The templates a service in `namespace` may select for `model`: of its scope (a
        cluster model's from the namespace too), not being deleted."""
        found: list[AnyTemplate] = list(
            self.store.list(AIMServiceTemplate, namespace, index=(MODEL_NAME, model.name))
        )
        if model.namespace is None:
            found += self.store.list(AIMClusterServiceTemplate, index=(MODEL_NAME, model.name))
        return [template_view(t) for t in found if not t.metadata.deletion_timestamp]


def _pod_trouble_changed(old: KubeObject | None, new: KubeObject | None) -> bool:
    """A pod came or went, or what it says is wrong changed."""
    if old is None or new is None:
        return True
    return service_status.pod_trouble([cast(PredictorPod, old)]) != service_status.pod_trouble(
        [cast(PredictorPod, new)]
    )


def _kserve_failure(old: KubeObject | None, new: KubeObject | None) -> bool:
    event = cast(InferenceServiceEvent | None, new)
    return event is not None and service_status.kserve_failure([event]) is not None


def _model_seen_changed(old: AnyModel | None, new: AnyModel | None) -> bool:
    """A model changed in what a service reads of it: identity, spec, phase, Ready message."""
    return old is None or new is None or model_view(old) != model_view(new)


def _template_seen_changed(old: AnyTemplate | None, new: AnyTemplate | None) -> bool:
    """A template changed in what a service reads of it: spec, annotations, status."""
    return old is None or new is None or template_view(old) != template_view(new)
