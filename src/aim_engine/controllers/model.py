"""AIMModel / AIMClusterModel reconciler: observe → plan → apply.

Observe: the runtime config, the image metadata (from the registry, spec.imageMetadata or an
earlier inspection recorded in status) and, for fine-tuned models, the candidate official
templates with their owning models, all from the cache except the one registry call. Plan: the
kind of model (`catalog.model_kind`) decides once how `catalog.templates.plan` builds the
desired templates; `catalog.model_status.build_status` builds the status. Apply: templates by
server-side apply, pruning of what this operator applied and no longer plans, and the status
when it changed. A model is inspected once per `spec.image`, not on every reconcile or restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any, TypeVar, cast

from aim_engine.api.core import Secret, SecretMetadata
from aim_engine.api.meta import KubeObject, LocalObjectReference, ObjectKey
from aim_engine.api.v1alpha1 import (
    AIMClusterModel,
    AIMClusterRuntimeConfig,
    AIMClusterServiceTemplate,
    AIMModel,
    AIMModelStatus,
    AIMRuntimeConfig,
    AIMService,
    AIMServiceTemplate,
    ImageMetadata,
)
from aim_engine.api.v1alpha2 import AIMClusterProfile, AIMProfile
from aim_engine.catalog import conditions, labels
from aim_engine.catalog import model_status as ms
from aim_engine.catalog import runtime_config as rc
from aim_engine.catalog import templates as tp
from aim_engine.catalog.api_version import declared_version
from aim_engine.catalog.fine_tuning import Candidate, Owner
from aim_engine.catalog.model_kind import FineTunedModel, ImageModel, ModelType, classify
from aim_engine.catalog.profiles import DesiredProfile, plan_profiles
from aim_engine.catalog.template_spec import discovery_enabled
from aim_engine.controllers.indexes import (
    AIM_ID,
    FINE_TUNED_AIM_ID,
    MODEL_NAME,
    PROFILE_MODEL,
    RUNTIME_CONFIG,
    SERVICE_TEMPLATE,
    service_templates,
)
from aim_engine.controllers.lookup import find_model, find_runtime_config
from aim_engine.controllers.settings import ControllerSettings
from aim_engine.registry.credentials import Keychain, credentials_from_pull_secret
from aim_engine.registry.errors import PullSecretError, RegistryError, RegistryUnavailableError
from aim_engine.registry.inspector import Inspector
from aim_engine.registry.reference import parse_reference
from aim_engine.runtime.reconciler import Reconciler, Result, Watch
from aim_engine.runtime.store import Store, applied_by, controlled_by

log = logging.getLogger(__name__)

ModelKind = AIMModel | AIMClusterModel
BROKEN = ("Failed", "Degraded", "NotAvailable")
TemplateKind = AIMServiceTemplate | AIMClusterServiceTemplate
ProfileKind = AIMProfile | AIMClusterProfile
Owned = TypeVar("Owned", bound=KubeObject)
V1ALPHA2 = AIMProfile.API_VERSION

# Retry after transient registry failures: 2 s, 4 s, ... up to 5 minutes. Failures the user
# must fix (a missing pull secret, an image that does not exist) are retried too, because the
# fix may happen outside the model (a secret created, an image pushed): 30 s, 60 s, ... 10 min.
RETRY_TRANSIENT = (2.0, 300.0)
RETRY_PERMANENT = (30.0, 600.0)
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
        self.inspector = inspector
        self.settings = settings
        self.cluster = cluster
        self.kind = AIMClusterModel if cluster else AIMModel
        self.template_kind: type[TemplateKind] = AIMClusterServiceTemplate if cluster else AIMServiceTemplate
        self.profile_kind: type[ProfileKind] = AIMClusterProfile if cluster else AIMProfile
        self.owns = (self.template_kind, self.profile_kind)
        watches: list[Watch[Any]] = [
            Watch(self.template_kind, self._models_of_template),
            Watch(AIMClusterRuntimeConfig, self._models_using_cluster_config),
            Watch(AIMService, self._models_of_service_templates),
            # Fine-tuned models follow their sources: any template of the family, in any scope
            # they can see, and the models that own those templates.
            Watch(AIMClusterModel, self._fine_tuned_of_owner),
            # A pull secret created or fixed is used at once, not after the failure's backoff.
            Watch(SecretMetadata, self._models_using_secret),
        ]
        if not cluster:
            watches += [
                Watch(AIMRuntimeConfig, self._models_using_namespace_config),
                Watch(AIMClusterServiceTemplate, self._fine_tuned_of_template),
                Watch(AIMModel, self._fine_tuned_of_owner),
            ]
        self.watches = watches
        self._failures: dict[ObjectKey, int] = {}  # consecutive transient failures per model
        self._deferrals: dict[ObjectKey, int] = {}  # first-status deferrals per new model

    @property
    def name(self) -> str:
        return "clustermodel" if self.cluster else "model"

    # --- watches: which models a change concerns ---

    def _models_of_template(self, template: KubeObject) -> Iterable[ObjectKey]:
        """A template of this scope: the model it names, and fine-tuned models of its family."""
        spec = cast(TemplateKind, template).spec
        return [ObjectKey(template.namespace or "", spec.model_name), *self._fine_tuned_of_template(template)]

    def _fine_tuned_of_template(self, template: KubeObject) -> Iterable[ObjectKey]:
        aim_id = cast(TemplateKind, template).spec.aim_id
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
        """A service that names or resolved a template keeps it from being pruned; when it lets
        go (changed or deleted), the template's model must look again."""
        namespace = None if self.cluster else service.namespace
        keys = []
        for name in service_templates(cast(AIMService, service)):
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
        models = cast(list[ModelKind], self.store.list(self.kind, None if self.cluster else namespace))
        return [m.key for m in models if secret.name in self._pull_secret_names(m)]

    def _pull_secret_names(self, model: ModelKind) -> set[str]:
        names = {r.name for r in model.spec.image_pull_secrets or ()}
        runtime = self.runtime_config(model)
        if runtime.spec is not None:
            names |= {r.name for r in runtime.spec.image_pull_secrets or ()}
        return names

    # --- reconcile ---

    async def reconcile(self, key: ObjectKey) -> Result | None:
        model = cast(ModelKind | None, self.store.get(self.kind, key.name, key.namespace or None))
        if model is None:
            self._failures.pop(key, None)
            self._deferrals.pop(key, None)
            return None  # templates go with it (owner references)
        if model.annotations.get(labels.PAUSED) == "true":
            return None
        spec = model.spec
        kind = classify(spec)

        # Observe.
        runtime = self.runtime_config(model)
        image = await self._discover(model, kind, model.status or AIMModelStatus(), runtime)
        candidates = self.candidates(model, kind) if isinstance(kind, FineTunedModel) else []

        # Plan and apply the templates.
        plan = tp.plan(model.name, spec, image.metadata, candidates, kind=kind)
        if await self._deleted_behind_the_cache(model, plan):
            return None
        conflicts = await self._apply_templates(model, plan)
        if plan.prune:
            await self._prune(model, {t.name for t in plan.templates})
        await self._sync_profiles(model, kind, image)

        # Status, from the templates as they stand now.
        owned = self.store.list(self.template_kind, key.namespace or None, index=(MODEL_NAME, model.name))
        if self._defer_first_status(key, model, owned, plan, image):
            # Templates just created report within moments, and each report requeues this
            # model: writing "Progressing" now would only be overwritten at once. The requeue
            # is a safety net for a template that never reports.
            return Result(requeue_after=FIRST_STATUS_SAFETY)
        new_status = ms.build_status(
            model.status,
            generation=model.metadata.generation,
            kind=kind,
            runtime=runtime,
            image=image,
            plan=plan,
            template_statuses=[t.status.status if t.status else None for t in owned],
            conflicts=conflicts,
            timestamp=conditions.timestamp(self.settings.clock()),
        )
        await self._write_status(model, new_status)
        return self._next(key, image, plan)

    def candidates(self, model: ModelKind, kind: FineTunedModel) -> list[Candidate]:
        """Templates of the model's family it can see, each with the model that owns it: a
        namespace model sees its namespace's templates and cluster templates; a cluster model
        sees cluster templates."""
        found: list[TemplateKind] = []
        if not self.cluster:
            found += self.store.list(AIMServiceTemplate, model.namespace, index=(AIM_ID, kind.aim_id))
        found += self.store.list(AIMClusterServiceTemplate, index=(AIM_ID, kind.aim_id))
        candidates = []
        for t in found:
            owner = find_model(self.store, t.spec.model_name, t.namespace)
            candidates.append(
                Candidate(t.KIND, t.name, t.namespace, t.labels, t.spec, _owner(owner) if owner else None)
            )
        return candidates

    def runtime_config(self, model: ModelKind) -> rc.RuntimeConfigResolution:
        return find_runtime_config(self.store, model.spec.runtime_config_name, model.namespace)

    async def _discover(
        self,
        model: ModelKind,
        kind: ModelType,
        status: AIMModelStatus,
        runtime: rc.RuntimeConfigResolution,
    ) -> ms.ImageOutcome:
        spec = model.spec
        if isinstance(kind, FineTunedModel):
            return ms.discovery_skipped(
                "Fine-tuned model: its image is not inspected; each template copy deploys the image "
                "resolved from the model that owns the template it was copied from"
            )
        if not isinstance(kind, ImageModel):
            return ms.discovery_skipped(
                "Custom model: weights come from spec.modelSources, so the image is not inspected"
            )
        if spec.image_metadata is not None:
            return ms.metadata_found(spec.image_metadata, "Metadata from spec.imageMetadata", "spec")
        if not discovery_enabled(spec):
            return ms.discovery_skipped("spec.discovery.extractMetadata is false; the image is not inspected")
        image = spec.image or ""
        if status.image_metadata is not None and status.inspected_image == image:
            described = _inspected(image, status.image_digest)
            return ms.metadata_found(status.image_metadata, described, "status")
        try:
            registry = parse_reference(image).registry
        except ValueError as exc:
            return ms.metadata_failed(
                f"spec.image {image!r} is not a valid image reference: {exc}",
                "InvalidImageReference",
                transient=False,
            )
        if not self.settings.allows(registry):
            message = (
                f"Registry {registry} of {image} is not in the operator's allowed registries "
                f"({', '.join(self.settings.allowed_registries)}); mirror the image or set spec.imageMetadata"
            )
            return ms.metadata_failed(message, "RegistryNotAllowed", transient=False)
        keychain = await self._pull_credentials(model, runtime)
        if isinstance(keychain, ms.ImageOutcome):
            return keychain
        try:
            inspected = await self.inspector.inspect(image, keychain)
        except RegistryUnavailableError as exc:
            return ms.metadata_failed(str(exc), exc.reason, transient=True, retry_after=exc.retry_after)
        except RegistryError as exc:
            return ms.metadata_failed(str(exc), exc.reason, transient=exc.transient)
        described = _inspected(image, inspected.digest)
        return ms.metadata_found(
            inspected.metadata, described, "registry", inspected_image=image, digest=inspected.digest
        )

    async def _pull_credentials(
        self, model: ModelKind, runtime: rc.RuntimeConfigResolution
    ) -> Keychain | ms.ImageOutcome:
        """Pull secrets of the model and its runtime config, read from the model's namespace
        (the operator namespace for cluster models) and nowhere else."""
        namespace = self.settings.operator_namespace if self.cluster else (model.namespace or "")
        refs: list[tuple[str, LocalObjectReference]] = [
            ("spec.imagePullSecrets", r) for r in model.spec.image_pull_secrets or ()
        ]
        if runtime.spec is not None:
            refs += [(f"runtime config {runtime.name!r}", r) for r in runtime.spec.image_pull_secrets or ()]
        chains: list[Keychain] = []
        for origin, ref in refs:
            secret = await self.store.read_secret(namespace, ref.name)
            if secret is None:
                message = (
                    f"Image pull secret {ref.name!r} (from {origin}) does not exist in namespace "
                    f"{namespace!r}; create it there or remove the reference"
                )
                return ms.metadata_failed(message, "PullSecretNotFound", transient=False)
            try:
                chains.append(_keychain(secret, namespace))
            except PullSecretError as exc:
                return ms.metadata_failed(str(exc), exc.reason, transient=False)
        return Keychain.merged(chains)

    async def _deleted_behind_the_cache(self, model: ModelKind, plan: tp.TemplatePlan) -> bool:
        """A template this model had is gone: recreate it only if the model still exists. The
        garbage collector deletes the templates of a deleted model, and their deletions can reach
        this operator before the model's own (separate watches): recreating them then would be a
        write per template in a deletion storm, for the collector to undo."""
        had_templates = bool(model.status and model.status.template_count)
        missing = any(
            self.store.get(self.template_kind, t.name, model.namespace) is None for t in plan.templates
        )
        if not (had_templates and missing):
            return False
        return not await self.store.exists(self.kind, model.name, model.namespace)

    async def _apply_templates(self, model: ModelKind, plan: tp.TemplatePlan) -> list[str]:
        """Apply the planned templates; returns names skipped because someone else owns them."""
        skipped = []
        writes = []
        for desired in plan.templates:
            existing = self.store.get(self.template_kind, desired.name, model.namespace)
            if existing is not None and not controlled_by(existing, model):
                skipped.append(desired.name)
                continue
            template = self._owned(
                self.template_kind, model, desired.name, desired.labels, desired.spec, desired.annotations
            )
            writes.append(self.store.apply(template, owner=model))
        # Independent objects: apply them concurrently (one round trip, not one per template).
        await asyncio.gather(*writes)
        return skipped

    async def _prune(self, model: ModelKind, wanted: set[str]) -> None:
        """Delete templates this operator applied for the model and no longer plans, unless a
        service uses one. Objects people made are never pruned, even when they carry the
        operator's labels and owner reference (an administrator's clone for another GPU, say):
        only what our field manager applied counts as ours."""
        for template in self.store.list(self.template_kind, model.namespace, index=(MODEL_NAME, model.name)):
            if template.name in wanted or not controlled_by(template, model):
                continue
            if template.labels.get(labels.ORIGIN) not in (labels.ORIGIN_AUTO, labels.ORIGIN_FINE_TUNED):
                continue
            if not applied_by(template, self.store.field_manager) or self._in_use(template):
                continue
            await self.store.delete(self.template_kind, template.name, template.namespace)

    def _owned(
        self,
        kind: type[Owned],
        model: ModelKind,
        name: str,
        object_labels: dict[str, str],
        spec: Any,
        annotations: dict[str, str] | None = None,
    ) -> Owned:
        """An object the model owns (a template or a profile), scoped like the model."""
        obj = kind.new(name, None if self.cluster else model.namespace, spec=spec)
        obj.metadata.labels = object_labels
        obj.metadata.annotations = annotations or None
        return obj

    def uses_v1alpha2(self, model: ModelKind) -> bool:
        """Whether the user declared the model in aim.eai.amd.com/v1alpha2 (see
        `catalog.api_version`: the stored object alone does not say)."""
        declared = declared_version(
            (model.metadata.model_extra or {}).get("managedFields"),
            model.annotations,
            stored=AIMModel.API_VERSION,
            operator=self.store.field_manager,
        )
        return declared == V1ALPHA2

    def planned_profiles(
        self, model: ModelKind, kind: ModelType, metadata: ImageMetadata | None
    ) -> list[DesiredProfile] | None:
        """The profiles the model should have; None while that cannot be known (a v1alpha2 image
        model whose metadata is not read yet keeps the profiles it has)."""
        if not self.uses_v1alpha2(model) or not isinstance(kind, ImageModel):
            return []
        if metadata is None:
            return [] if not discovery_enabled(model.spec) and model.spec.image_metadata is None else None
        return plan_profiles(model.name, model.spec, metadata)

    async def _sync_profiles(self, model: ModelKind, kind: ModelType, image: ms.ImageOutcome) -> None:
        """v1alpha2 models publish one profile per recommended deployment, scoped like the model
        and owned by it; v1alpha1 models have none (a model re-declared as v1alpha1 loses the
        ones it had). Profiles people made are never touched."""
        desired = self.planned_profiles(model, kind, image.metadata)
        existing = self.store.list(self.profile_kind, model.namespace, index=(PROFILE_MODEL, model.name))
        if desired is None or (not desired and not existing):
            return
        writes = []
        for profile in desired:
            live = self.store.get(self.profile_kind, profile.name, model.namespace)
            if live is not None and not controlled_by(live, model):
                continue
            obj = self._owned(self.profile_kind, model, profile.name, profile.labels, profile.spec)
            writes.append(self.store.apply(obj, owner=model))
        await asyncio.gather(*writes)
        wanted = {p.name for p in desired}
        for live in existing:
            if live.name in wanted or not controlled_by(live, model):
                continue
            if applied_by(live, self.store.field_manager):
                await self.store.delete(self.profile_kind, live.name, live.namespace)

    def _in_use(self, template: TemplateKind) -> bool:
        namespace = None if self.cluster else template.namespace
        return bool(self.store.list(AIMService, namespace, index=(SERVICE_TEMPLATE, template.name)))

    async def _write_status(self, model: ModelKind, status: AIMModelStatus) -> None:
        # Round-trip so that unset values compare equal to what the API server returns.
        status = AIMModelStatus.model_validate(status.dump())
        if status == model.status:
            return
        await self.store.apply_status(model.model_copy(update={"status": status}))
        previous = model.status.conditions if model.status else None
        for change in conditions.transitions(previous, status.conditions or []):
            # Events for what a user acts on: becoming ready, and breaking (not progressing).
            if change.type == conditions.READY and (change.status == "True" or status.status in BROKEN):
                self.store.record_event(model, change.event_type, change.reason, change.message)

    def _defer_first_status(
        self,
        key: ObjectKey,
        model: ModelKind,
        owned: list[TemplateKind],
        plan: tp.TemplatePlan,
        image: ms.ImageOutcome,
    ) -> bool:
        """Whether a new model's first status should wait for its templates' first reports.

        Each template's first status write requeues the model, so the wait ends by itself,
        without reading a clock. It is bounded by count (one deferral per planned template, plus
        one), so a template that never reports (its controller down) cannot hold it for ever.
        """
        if model.status is not None or image.failure is not None:
            self._deferrals.pop(key, None)
            return False
        waiting = any(t.status is None and t.annotations.get(labels.PAUSED) != "true" for t in owned)
        deferred = self._deferrals.get(key, 0)
        if not waiting or deferred > len(plan.templates):
            self._deferrals.pop(key, None)
            return False
        self._deferrals[key] = deferred + 1
        return True

    def _next(
        self, key: ObjectKey, image: ms.ImageOutcome, plan: tp.TemplatePlan | None = None
    ) -> Result | None:
        if image.failure is None or image.inspected_image is not None:
            self._failures.pop(key, None)
            return Result(requeue_after=RETRY_SKIPPED) if plan is not None and plan.skipped else None
        attempts = self._failures.get(key, 0) + 1
        self._failures[key] = attempts
        base, cap = RETRY_TRANSIENT if image.failure == "transient" else RETRY_PERMANENT
        delay = min(cap, base * 2 ** (attempts - 1))
        # A registry that says when to come back (429/503 Retry-After) is not asked sooner.
        return Result(requeue_after=max(delay, image.retry_after or 0.0))


def _inspected(image: str, digest: str | None) -> str:
    # The same words whether the registry was asked now or earlier, so the message (and with
    # it the status) does not change between reconciles.
    return f"Inspected {image} ({digest})" if digest else f"Inspected {image}"


def _keychain(secret: Secret, namespace: str) -> Keychain:
    return credentials_from_pull_secret(f"{namespace}/{secret.name}", secret.type, secret.data)


def _owner(model: ModelKind) -> Owner:
    metadata = model.status.image_metadata if model.status else None
    return Owner(model.KIND, model.name, model.namespace, model.spec, metadata)
