"""AIMModel / AIMClusterModel reconciler: observe → plan → apply → status.

Observe (`observe`): the runtime config, the image metadata (from the registry,
spec.imageMetadata or an earlier inspection recorded in status), for fine-tuned models the
candidate official templates with their owning models, and the templates and profiles the model
has, all from the cache except the one registry call: one `ModelObservation`. Plan
(`model_plan.plan`, pure, also what `aim-engine explain model` prints): the templates and
profiles to apply and what to prune. Apply: one helper applies and prunes owned objects of any
kind. Status: `catalog.model_status.build_status`, from the templates as they stand after the
apply, written by the store's status writer. A model is inspected once per `spec.image`, not
on every reconcile or restart.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from aim_engine.api.core import SecretMetadata
from aim_engine.api.meta import KubeObject, ObjectKey
from aim_engine.api.v1alpha1 import (
    AIMClusterModel,
    AIMClusterRuntimeConfig,
    AIMClusterServiceTemplate,
    AIMModel,
    AIMModelStatus,
    AIMRuntimeConfig,
    AIMService,
    AIMServiceTemplate,
    AnyModel,
    AnyTemplate,
)
from aim_engine.api.v1alpha2 import AIMClusterProfile, AIMProfile, AnyProfile
from aim_engine.catalog import conditions, model_status, runtime_config
from aim_engine.catalog.api_version import declared_version
from aim_engine.catalog.fine_tuning import Candidate
from aim_engine.catalog.model_kind import FineTunedModel, ModelType, classify
from aim_engine.controllers.apply import sync_owned
from aim_engine.controllers.discovery import Discovery
from aim_engine.controllers.indexes import (
    AIM_ID,
    FINE_TUNED_AIM_ID,
    MODEL_NAME,
    PROFILE_MODEL,
    RUNTIME_CONFIG,
    SERVICE_TEMPLATE,
    parse_template_key,
    service_templates,
    template_key,
)
from aim_engine.controllers.lookup import find_model, find_runtime_config
from aim_engine.controllers.model_plan import ModelObservation, ModelPlan
from aim_engine.controllers.model_plan import plan as plan_model
from aim_engine.controllers.settings import ControllerSettings
from aim_engine.controllers.views import model_view
from aim_engine.registry.inspector import Inspector
from aim_engine.runtime.manager import paused
from aim_engine.runtime.predicates import any_of, beyond_status, field_changed, generation_changed
from aim_engine.runtime.reconciler import Backoff, Reconciler, Result, Watch
from aim_engine.runtime.store import Store

MODEL_EVENTS = conditions.ready_events(on_ready=True, trouble=("Failed", "Degraded", "NotAvailable"))
"""Events for what a user acts on: becoming ready, and breaking (not progressing)."""
V1ALPHA2 = AIMProfile.API_VERSION

# Retry after transient registry failures: 2 s, 4 s, ... up to 5 minutes. Failures the user
# must fix (a missing pull secret, an image that does not exist) are retried too, because the
# fix may happen outside the model (a secret created, an image pushed): 30 s, 60 s, ... 10 min.
# Only a malformed spec.image waits for a change of the model itself.
RETRY_TRANSIENT = Backoff(2.0, 300.0)
RETRY_PERMANENT = Backoff(30.0, 600.0)
# Fine-tuned copies whose deployment image cannot be resolved yet are retried this often, on
# top of the watches on their owners (which usually resolve them first).
RETRY_SKIPPED = 60.0
# A new model whose templates have not all reported looks again after this long at the latest.
FIRST_STATUS_SAFETY = 5.0


class ModelReconciler(Reconciler):
    def __init__(
        self,
        store: Store,
        inspector: Inspector,
        settings: ControllerSettings,
        *,
        cluster: bool,
    ) -> None:
        self.store = store
        self.settings = settings
        self.cluster = cluster
        self.discovery = Discovery(store, inspector, settings, cluster=cluster)
        self.kind = AIMClusterModel if cluster else AIMModel
        self.template_kind: type[AnyTemplate] = AIMClusterServiceTemplate if cluster else AIMServiceTemplate
        self.profile_kind: type[AnyProfile] = AIMClusterProfile if cluster else AIMProfile
        self.owns = (self.template_kind, self.profile_kind)
        self.predicate = any_of(beyond_status, _writers_changed)
        fine_tuned_owner = any_of(generation_changed, field_changed("status.image_metadata"))
        watches: list[Watch[Any]] = [
            Watch(self.template_kind, self._models_of_template),
            Watch(AIMClusterRuntimeConfig, self._models_using_cluster_config, generation_changed),
            # A service that names or resolved a template keeps it from being pruned.
            Watch(
                AIMService,
                self._models_of_service_templates,
                field_changed("spec.template", "status.resolved_template"),
            ),
            # Fine-tuned models follow their sources: any template of the family, in any scope
            # they can see, and the models that own those templates (their image, metadata and
            # baseImageRef decide the copies' deployment image, their tag the version).
            Watch(AIMClusterModel, self._fine_tuned_of_owner, fine_tuned_owner),
            # A pull secret created or fixed is used at once, not after the failure's backoff.
            Watch(SecretMetadata, self._models_using_secret),
        ]
        if not cluster:
            watches += [
                Watch(AIMRuntimeConfig, self._models_using_namespace_config, generation_changed),
                Watch(AIMClusterServiceTemplate, self._fine_tuned_of_template, beyond_status),
                Watch(AIMModel, self._fine_tuned_of_owner, fine_tuned_owner),
            ]
        self.watches = watches
        self._deferrals: dict[ObjectKey, int] = {}  # first-status deferrals per new model

    @property
    def name(self) -> str:
        return "clustermodel" if self.cluster else "model"

    # --- watches: which models a change concerns ---

    def _models_of_template(self, template: KubeObject) -> Iterable[ObjectKey]:
        """A template of this scope: the model it names, and fine-tuned models of its family."""
        spec = cast(AnyTemplate, template).spec
        return [ObjectKey(template.namespace or "", spec.model_name), *self._fine_tuned_of_template(template)]

    def _fine_tuned_of_template(self, template: KubeObject) -> Iterable[ObjectKey]:
        aim_id = cast(AnyTemplate, template).spec.aim_id
        if not aim_id or (self.cluster and template.namespace):
            return []  # cluster models see cluster templates only
        # A namespace template is seen by the fine-tuned models of its namespace; a cluster
        # template by every fine-tuned model of this scope.
        found = self.store.list(self.kind, template.namespace or None, index=(FINE_TUNED_AIM_ID, aim_id))
        return [m.key for m in found]

    def _fine_tuned_of_owner(self, owner: KubeObject) -> Iterable[ObjectKey]:
        """A model whose templates a fine-tuned model copies: its image and baseImageRef decide
        the copies' deployment image, its tag their version."""
        keys: list[ObjectKey] = []
        for kind in (AIMServiceTemplate, AIMClusterServiceTemplate):
            if owner.namespace and kind is AIMClusterServiceTemplate:
                continue  # cluster templates never resolve to a namespace model
            for template in self.store.list(kind, owner.namespace or None, index=(MODEL_NAME, owner.name)):
                keys += self._fine_tuned_of_template(template)
        return keys

    def _models_of_service_templates(self, service: KubeObject) -> Iterable[ObjectKey]:
        """When a service lets go of a template (changed or deleted), its model looks again."""
        keys = []
        for key in service_templates(cast(AIMService, service)):
            kind, namespace, name = parse_template_key(key)
            if kind != self.template_kind.KIND:
                continue
            template = self.store.get(self.template_kind, name, namespace)
            if template is not None:
                keys.append(ObjectKey(template.namespace or "", template.spec.model_name))
        return keys

    def _models_using_namespace_config(self, config: KubeObject) -> Iterable[ObjectKey]:
        found = self.store.list(self.kind, config.namespace, index=(RUNTIME_CONFIG, config.name))
        return [m.key for m in found]

    def _models_using_cluster_config(self, config: KubeObject) -> Iterable[ObjectKey]:
        return [m.key for m in self.store.list(self.kind, index=(RUNTIME_CONFIG, config.name))]

    def _models_using_secret(self, secret: KubeObject) -> Iterable[ObjectKey]:
        """Models that read this secret as a pull secret: from the namespace the secret is in
        (cluster models: the operator namespace), named by the model or by its runtime config."""
        namespace = secret.namespace or ""
        if self.cluster and namespace != self.settings.operator_namespace:
            return []
        models = cast(list[AnyModel], self.store.list(self.kind, None if self.cluster else namespace))
        return [m.key for m in models if secret.name in self._pull_secret_names(m)]

    def _pull_secret_names(self, model: AnyModel) -> set[str]:
        names = {r.name for r in model.spec.image_pull_secrets or ()}
        runtime = self.runtime_config(model)
        if runtime.spec is not None:
            names |= {r.name for r in runtime.spec.image_pull_secrets or ()}
        return names

    # --- reconcile ---

    async def reconcile(self, key: ObjectKey) -> Result | None:
        model = cast(AnyModel | None, self.store.get(self.kind, key.name, key.namespace or None))
        if model is None:
            self._deferrals.pop(key, None)
            return None  # templates go with it (owner references)
        world = await self.observe(model)
        plan = plan_model(world)
        if await self._deleted_behind_the_cache(world, plan):
            return None
        await sync_owned(
            self.store,
            self.template_kind,
            model,
            [
                self._owned(self.template_kind, model, d.name, d.labels, d.spec, d.annotations)
                for d in plan.apply_templates
            ],
            prune=plan.prune_templates,
        )
        await sync_owned(
            self.store,
            self.profile_kind,
            model,
            [self._owned(self.profile_kind, model, p.name, p.labels, p.spec) for p in plan.apply_profiles],
            prune=plan.prune_profiles,
        )
        # The status, from the templates as they stand after the apply.
        owned = self._templates(model)
        if self._defer_first_status(key, model, owned, plan, world.image):
            # Templates just created report within moments, and each report requeues this
            # model: writing "Progressing" now would only be overwritten at once. The requeue
            # is a safety net for a template that never reports.
            return Result.after(FIRST_STATUS_SAFETY)
        new_status = model_status.build_status(
            model.status,
            generation=model.metadata.generation,
            kind=world.model_type,
            runtime=world.runtime,
            image=world.image,
            plan=plan.templates,
            template_statuses=[t.status.status if t.status else None for t in owned],
            conflicts=plan.conflicts,
            timestamp=conditions.timestamp(self.settings.clock()),
            unavailable=[
                ready.message
                for t in owned
                if t.status is not None
                and t.status.status == "NotAvailable"
                and (ready := conditions.find(t.status.conditions, conditions.READY)) is not None
            ],
        )
        await self.store.write_status(model, new_status, events=MODEL_EVENTS)
        return _next(world.image, plan)

    async def observe(self, model: AnyModel) -> ModelObservation:
        """Everything the plan reads, gathered once: from the cache, and from the registry when
        the image must be inspected."""
        model_type = classify(model.spec)
        runtime = self.runtime_config(model)
        image = await self.discovery.discover(model, model_type, model.status or AIMModelStatus(), runtime)
        templates = {t.name: t for t in self._templates(model)}
        profiles = self.store.list(self.profile_kind, model.namespace, index=(PROFILE_MODEL, model.name))
        return ModelObservation(
            model=model,
            model_type=model_type,
            runtime=runtime,
            image=image,
            candidates=self.candidates(model, model_type),
            templates=templates,
            profiles={p.name: p for p in profiles},
            in_use=frozenset(name for name, t in templates.items() if self._in_use(t)),
            declared_v1alpha2=self.uses_v1alpha2(model),
            field_manager=self.store.field_manager,
        )

    def candidates(self, model: AnyModel, kind: ModelType) -> list[Candidate]:
        """Templates of the model's family it can see, each with the model that owns it: a
        namespace model sees its namespace's templates and cluster templates; a cluster model
        sees cluster templates."""
        if not isinstance(kind, FineTunedModel):
            return []
        found: list[AnyTemplate] = []
        if not self.cluster:
            found += self.store.list(AIMServiceTemplate, model.namespace, index=(AIM_ID, kind.aim_id))
        found += self.store.list(AIMClusterServiceTemplate, index=(AIM_ID, kind.aim_id))
        candidates = []
        for t in found:
            owner = find_model(self.store, t.spec.model_name, t.namespace)
            candidates.append(
                Candidate(t.KIND, t.name, t.namespace, t.labels, t.spec, model_view(owner) if owner else None)
            )
        return candidates

    def _templates(self, model: AnyModel) -> list[AnyTemplate]:
        return self.store.list(self.template_kind, model.namespace, index=(MODEL_NAME, model.name))

    def runtime_config(self, model: AnyModel) -> runtime_config.RuntimeConfigResolution:
        return find_runtime_config(self.store, model.spec.runtime_config_name, model.namespace)

    async def _deleted_behind_the_cache(self, world: ModelObservation, plan: ModelPlan) -> bool:
        """A template this model had is gone: recreate it only if the model still exists. The
        garbage collector deletes the templates of a deleted model, and their deletions can reach
        this operator before the model's own (separate watches): recreating them then would be a
        write per template in a deletion storm, for the collector to undo."""
        model = world.model
        had_templates = bool(model.status and model.status.template_count)
        missing = any(t.name not in world.templates for t in plan.templates.templates)
        if not (had_templates and missing):
            return False
        return not await self.store.exists(self.kind, model.name, model.namespace)

    def _owned(
        self,
        kind: type[Any],
        model: AnyModel,
        name: str,
        object_labels: dict[str, str],
        spec: Any,
        annotations: dict[str, str] | None = None,
    ) -> Any:
        """An object the model owns (a template or a profile), scoped like the model."""
        obj = kind.new(name, None if self.cluster else model.namespace, spec=spec)
        obj.metadata.labels = object_labels
        obj.metadata.annotations = annotations or None
        return obj

    def uses_v1alpha2(self, model: AnyModel) -> bool:
        """Whether the user declared the model in aim.eai.amd.com/v1alpha2 (see
        `catalog.api_version`: the stored object alone does not say)."""
        declared = declared_version(
            (model.metadata.model_extra or {}).get("managedFields"),
            model.annotations,
            stored=AIMModel.API_VERSION,
            operator=self.store.field_manager,
        )
        return declared == V1ALPHA2

    def _in_use(self, template: AnyTemplate) -> bool:
        used = template_key(template.KIND, template.namespace, template.name)
        return bool(self.store.list(AIMService, index=(SERVICE_TEMPLATE, used)))

    def _defer_first_status(
        self,
        key: ObjectKey,
        model: AnyModel,
        owned: list[AnyTemplate],
        plan: ModelPlan,
        image: model_status.ImageOutcome,
    ) -> bool:
        """Whether a new model's first status should wait for its templates' first reports.

        Each template's first status write requeues the model, so the wait ends by itself,
        without reading a clock. It is bounded by count (one deferral per planned template, plus
        one), so a template that never reports (its controller down) cannot hold it for ever.
        """
        # A status the API server filled in (the CRD's default, Pending) is not one of ours.
        if (model.status is not None and model.status.observed_generation is not None) or image.failure:
            self._deferrals.pop(key, None)
            return False
        waiting = any(t.status is None and not paused(t) for t in owned)
        deferred = self._deferrals.get(key, 0)
        if not waiting or deferred > len(plan.templates.templates):
            self._deferrals.pop(key, None)
            return False
        self._deferrals[key] = deferred + 1
        return True


def _next(image: model_status.ImageOutcome, plan: ModelPlan) -> Result | None:
    """When to look again by itself: after a registry failure on its retry schedule (never
    sooner than a Retry-After), while fine-tuned copies are skipped, else on the next change."""
    if image.failure is None or image.inspected_image is not None:
        return Result.after(RETRY_SKIPPED) if plan.templates.skipped else None
    if image.failure_reason == "InvalidImageReference":
        return Result.terminal("spec.image is not an image reference; only a change of it can help")
    schedule = RETRY_TRANSIENT if image.failure == "transient" else RETRY_PERMANENT
    return Result.retry(schedule, at_least=image.retry_after)


def _writers_changed(old: AnyModel | None, new: AnyModel | None) -> bool:
    """Who wrote the model (not its status), and in which API version: a re-apply of the same
    spec in another version changes nothing else, and is still news (v1alpha2 models publish
    profiles, v1alpha1 models do not)."""
    return old is None or new is None or _writers(old) != _writers(new)


def _writers(obj: KubeObject) -> set[tuple[object, object, object]]:
    entries = (obj.metadata.model_extra or {}).get("managedFields") or ()
    return {
        (e.get("manager"), e.get("operation"), e.get("apiVersion"))
        for e in entries
        if isinstance(e, dict) and not e.get("subresource")
    }
