"""AIMServiceTemplate / AIMClusterServiceTemplate reconciler: resolve the model, check the
cluster's GPUs, and publish the profile services select on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from aim_engine.api.core import Node
from aim_engine.api.meta import GROUP, KubeObject, ObjectKey
from aim_engine.api.v1alpha1 import (
    AIMClusterModel,
    AIMClusterServiceTemplate,
    AIMModel,
    AIMServiceTemplate,
    AIMServiceTemplateStatus,
    AnyTemplate,
)
from aim_engine.catalog import conditions
from aim_engine.catalog.model_view import ModelView
from aim_engine.catalog.template_status import evaluate
from aim_engine.controllers.gpu_nodes import gpu_signature_changed, inventory
from aim_engine.controllers.indexes import MODEL_NAME
from aim_engine.controllers.lookup import find_model
from aim_engine.controllers.settings import ControllerSettings
from aim_engine.controllers.views import model_view
from aim_engine.runtime.predicates import generation_changed
from aim_engine.runtime.reconciler import Reconciler, Result, Watch
from aim_engine.runtime.resources import group_of
from aim_engine.runtime.store import Store

TEMPLATE_EVENTS = conditions.ready_events(on_ready=False, trouble=None)


class TemplateReconciler(Reconciler):
    def __init__(self, store: Store, settings: ControllerSettings, *, cluster: bool) -> None:
        self.store = store
        self.settings = settings
        self.cluster = cluster
        self.kind = AIMClusterServiceTemplate if cluster else AIMServiceTemplate
        # Templates read a model's spec and identity, never its status (which changes every
        # time its templates' do): only a new generation, a create or a delete concerns them.
        watches: list[Watch[Any]] = [
            Watch(AIMClusterModel, self._templates_of_cluster_model, generation_changed),
            Watch(Node, self._templates_needing_gpus, gpu_signature_changed),
        ]
        if not cluster:
            watches.append(Watch(AIMModel, self._templates_of_namespace_model, generation_changed))
        self.watches = watches

    @property
    def name(self) -> str:
        return "clusterservicetemplate" if self.cluster else "servicetemplate"

    # --- watches ---

    def _templates_of_namespace_model(self, model: KubeObject) -> Iterable[ObjectKey]:
        return [t.key for t in self.store.list(self.kind, model.namespace, index=(MODEL_NAME, model.name))]

    def _templates_of_cluster_model(self, model: KubeObject) -> Iterable[ObjectKey]:
        # Namespaced templates fall back to a cluster model of the same name, so all scopes.
        return [t.key for t in self.store.list(self.kind, index=(MODEL_NAME, model.name))]

    def _templates_needing_gpus(self, node: KubeObject) -> Iterable[ObjectKey]:
        return [t.key for t in self.store.list(self.kind) if _needs_gpu(cast(AnyTemplate, t))]

    # --- reconcile ---

    async def reconcile(self, key: ObjectKey) -> Result | None:
        template = cast(AnyTemplate | None, self.store.get(self.kind, key.name, key.namespace or None))
        if template is None:
            return None
        model = self._model(template)
        if model is None and _owned_by_a_model(template):
            # Its model is gone and the garbage collector deletes it next: a status saying so
            # (and an event) would be a write per template in a deletion storm, for nothing.
            return None
        verdict = evaluate(template.spec, template.annotations, model, inventory(self.store))
        status = template.status or AIMServiceTemplateStatus()
        generation = template.metadata.generation
        stamp = conditions.timestamp(self.settings.clock())
        merged = conditions.merge(
            status.conditions, verdict.conditions, generation=generation, timestamp=stamp
        )
        new_status = status.model_copy(
            update={
                "status": verdict.status,
                "conditions": merged,
                "observed_generation": generation,
                "profile": verdict.profile,
                "resolved_model": verdict.resolved_model,
                "resolved_hardware": verdict.resolved_hardware,
                "hardware_summary": verdict.hardware_summary,
                "version": verdict.version,
                "deployment_image": verdict.deployment_image,
            }
        )
        # Only trouble is worth an event here; the model reports readiness.
        await self.store.write_status(template, new_status, events=TEMPLATE_EVENTS)
        return None

    def _model(self, template: AnyTemplate) -> ModelView | None:
        model = find_model(self.store, template.spec.model_name, None if self.cluster else template.namespace)
        if model is None:
            return None
        return model_view(model)


def _needs_gpu(template: AnyTemplate) -> bool:
    hardware = template.spec.hardware
    # Templates without their own hardware may inherit GPUs from the model: include them.
    return hardware is None or hardware.gpu is not None


def _owned_by_a_model(template: AnyTemplate) -> bool:
    """Whether a model is the template's controlling owner (the templates the operator makes). A
    model deleted with `--cascade=orphan` loses this reference first, so its templates then say
    that their model is missing."""
    return any(
        ref.controller
        and ref.kind in (AIMModel.KIND, AIMClusterModel.KIND)
        and group_of(ref.api_version) == GROUP
        for ref in template.metadata.owner_references or ()
    )
