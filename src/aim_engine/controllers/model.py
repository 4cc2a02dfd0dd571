"""AIMModel / AIMClusterModel reconciler: runtime config → discovery → templates → status.

Observe (cache reads, the registry), plan (`aim_engine.catalog`), apply (templates by
server-side apply, status when it changed). Discovery results are recorded in
`status.imageMetadata` together with the image they came from, so a model is inspected once
per `spec.image`, not on every reconcile or operator restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any, cast

from aim_engine.api.core import Secret
from aim_engine.api.meta import KubeObject, LocalObjectReference, ObjectKey, ObjectMeta
from aim_engine.api.v1alpha1 import (
    AIMClusterModel,
    AIMClusterRuntimeConfig,
    AIMClusterServiceTemplate,
    AIMModel,
    AIMModelStatus,
    AIMRuntimeConfig,
    AIMService,
    AIMServiceTemplate,
)
from aim_engine.catalog import conditions, labels
from aim_engine.catalog import model_status as ms
from aim_engine.catalog import runtime_config as rc
from aim_engine.catalog import templates as tp
from aim_engine.controllers.indexes import MODEL_NAME, RUNTIME_CONFIG
from aim_engine.controllers.settings import ControllerSettings
from aim_engine.registry.credentials import Keychain, credentials_from_pull_secret
from aim_engine.registry.errors import PullSecretError, RegistryError, RegistryUnavailableError
from aim_engine.registry.inspector import ImageInspector
from aim_engine.registry.reference import parse_reference
from aim_engine.runtime.reconciler import Reconciler, Result, Watch
from aim_engine.runtime.store import Store

log = logging.getLogger(__name__)

ModelKind = AIMModel | AIMClusterModel
BROKEN = ("Failed", "Degraded", "NotAvailable")
TemplateKind = AIMServiceTemplate | AIMClusterServiceTemplate

# Retry after transient registry failures: 2 s, 4 s, ... up to 5 minutes. Failures the user
# must fix (a missing pull secret, an image that does not exist) are retried too, because the
# fix may happen outside the model (a secret created, an image pushed): 30 s, 60 s, ... 10 min.
RETRY_TRANSIENT = (2.0, 300.0)
RETRY_PERMANENT = (30.0, 600.0)
# A new model's first status waits at most this long for its new templates to report.
FIRST_STATUS_WAIT = 5.0


class ModelReconciler(Reconciler):
    def __init__(
        self,
        store: Store,
        inspector: ImageInspector,
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
        self.owns = (self.template_kind,)
        watches: list[Watch[Any]] = [
            Watch(self.template_kind, self._model_of_template),
            Watch(AIMClusterRuntimeConfig, self._models_using_cluster_config),
        ]
        if not cluster:
            watches.append(Watch(AIMRuntimeConfig, self._models_using_namespace_config))
        self.watches = watches
        self._failures: dict[ObjectKey, int] = {}  # consecutive transient failures per model
        self._first_seen: dict[ObjectKey, float] = {}  # when a new model first waited for templates

    @property
    def name(self) -> str:
        return "clustermodel" if self.cluster else "model"

    # --- watches: which models a change concerns ---

    def _model_of_template(self, template: KubeObject) -> Iterable[ObjectKey]:
        spec = cast(TemplateKind, template).spec
        return [ObjectKey(template.namespace or "", spec.model_name)]

    def _models_using_namespace_config(self, config: KubeObject) -> Iterable[ObjectKey]:
        found = self.store.list(self.kind, config.namespace, index=(RUNTIME_CONFIG, config.name))
        return [m.key for m in found]

    def _models_using_cluster_config(self, config: KubeObject) -> Iterable[ObjectKey]:
        return [m.key for m in self.store.list(self.kind, index=(RUNTIME_CONFIG, config.name))]

    # --- reconcile ---

    async def reconcile(self, key: ObjectKey) -> Result | None:
        model = cast(ModelKind | None, self.store.get(self.kind, key.name, key.namespace or None))
        if model is None:
            self._failures.pop(key, None)
            self._first_seen.pop(key, None)
            return None  # templates go with it (owner references)
        if model.annotations.get(labels.PAUSED) == "true":
            return None
        spec = model.spec
        status = model.status or AIMModelStatus()

        runtime = self._runtime_config(model)
        image = await self._discover(model, status, runtime)
        plan = tp.plan(model.name, spec, image.metadata)
        skipped = await self._apply_templates(model, plan)
        if plan.expects_templates and (image.metadata is not None or tp.is_custom(spec)):
            await self._prune(model, {t.name for t in plan.templates})

        owned = self.store.list(self.template_kind, key.namespace or None, index=(MODEL_NAME, model.name))
        statuses = [t.status.status if t.status else None for t in owned]
        if model.status is None and None in statuses and self._defer_first_status(key):
            # Templates just created report within a second, and each report requeues this
            # model: writing "Progressing" now would only be overwritten at once.
            return Result(requeue_after=FIRST_STATUS_WAIT)
        self._first_seen.pop(key, None)
        templates = ms.aggregate_templates(statuses, plan, image)
        if skipped:
            templates = _with_skipped(templates, skipped)
        result = ms.verdict(runtime, image, templates)

        desired = [runtime.condition, image.condition, templates.condition, result.ready]
        merged = conditions.merge(status.conditions, desired, generation=model.metadata.generation)
        new_status = status.model_copy(
            update={
                "status": result.status,
                "conditions": merged,
                "observed_generation": model.metadata.generation,
                "resolved_runtime_config": runtime.reference,
                "source_type": "Custom" if tp.is_custom(spec) else "Image",
                "template_count": len(owned),
            }
        )
        if image.inspected_image is not None:
            # Recorded even when labels are missing, so the same image is not inspected again.
            update = {
                "image_metadata": image.metadata,
                "inspected_image": image.inspected_image,
                "image_digest": image.digest,
            }
            new_status = new_status.model_copy(update=update)
        elif spec.image_metadata is not None:
            new_status = new_status.model_copy(update={"image_metadata": spec.image_metadata})
        await self._write_status(model, new_status)
        return self._next(key, image)

    def _runtime_config(self, model: ModelKind) -> rc.RuntimeConfigResolution:
        name = rc.effective_name(model.spec.runtime_config_name)
        namespaced = None if self.cluster else self.store.get(AIMRuntimeConfig, name, model.namespace)
        cluster = self.store.get(AIMClusterRuntimeConfig, name)
        return rc.resolve(model.spec.runtime_config_name, namespaced, cluster)

    async def _discover(
        self, model: ModelKind, status: AIMModelStatus, runtime: rc.RuntimeConfigResolution
    ) -> ms.ImageOutcome:
        spec = model.spec
        if tp.is_custom(spec):
            return ms.discovery_skipped(
                "Custom model: weights come from spec.modelSources, so the image is not inspected"
            )
        if spec.image_metadata is not None:
            return ms.metadata_found(spec.image_metadata, "Metadata from spec.imageMetadata")
        if not tp.discovery_enabled(spec):
            return ms.discovery_skipped("spec.discovery.extractMetadata is false; the image is not inspected")
        image = spec.image or ""
        if status.image_metadata is not None and status.inspected_image == image:
            return ms.metadata_found(status.image_metadata, _inspected(image, status.image_digest))
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
        found = ms.metadata_found(inspected.metadata, _inspected(image, inspected.digest))
        return ms.ImageOutcome(
            found.condition, found.metadata, found.failure, found.failure_reason, image, inspected.digest
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

    async def _apply_templates(self, model: ModelKind, plan: tp.TemplatePlan) -> list[str]:
        """Apply the planned templates; returns names skipped because someone else owns them."""
        skipped = []
        writes = []
        for desired in plan.templates:
            existing = self.store.get(self.template_kind, desired.name, model.namespace)
            if existing is not None and not _controlled_by(existing, model):
                skipped.append(desired.name)
                continue
            meta = ObjectMeta(
                name=desired.name,
                namespace=model.namespace if not self.cluster else None,
                labels=desired.labels,
                annotations=desired.annotations or None,
            )
            template = self.template_kind(
                api_version=self.template_kind.API_VERSION,
                kind=self.template_kind.KIND,
                metadata=meta,
                spec=desired.spec,
            )
            writes.append(self.store.apply(template, owner=model))
        # Independent objects: apply them concurrently (one round trip, not one per template).
        await asyncio.gather(*writes)
        return skipped

    async def _prune(self, model: ModelKind, wanted: set[str]) -> None:
        """Delete generated templates the model no longer wants, unless a service uses one."""
        for template in self.store.list(self.template_kind, model.namespace, index=(MODEL_NAME, model.name)):
            if template.name in wanted or not _controlled_by(template, model):
                continue
            if template.labels.get(labels.ORIGIN) not in (labels.ORIGIN_AUTO, labels.ORIGIN_FINE_TUNED):
                continue
            if self._in_use(template):
                continue
            await self.store.delete(self.template_kind, template.name, template.namespace)

    def _in_use(self, template: TemplateKind) -> bool:
        namespace = None if self.cluster else template.namespace
        for service in self.store.list(AIMService, namespace):
            spec_name = service.spec.template.name if service.spec.template else None
            resolved = service.status.resolved_template if service.status else None
            if template.name in (spec_name, resolved.name if resolved else None):
                return True
        return False

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

    def _defer_first_status(self, key: ObjectKey) -> bool:
        first = self._first_seen.setdefault(key, time.monotonic())
        return time.monotonic() - first < FIRST_STATUS_WAIT

    def _next(self, key: ObjectKey, image: ms.ImageOutcome) -> Result | None:
        if image.failure is None or image.inspected_image is not None:
            self._failures.pop(key, None)
            return None
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


def _controlled_by(obj: KubeObject, owner: KubeObject) -> bool:
    return any(
        ref.controller and ref.uid == owner.metadata.uid for ref in obj.metadata.owner_references or ()
    )


def _with_skipped(outcome: ms.TemplatesOutcome, skipped: Sequence[str]) -> ms.TemplatesOutcome:
    message = (
        f"{outcome.condition.message}; not applied because another owner (or a user) already has "
        f"an object of that name: {', '.join(skipped)}"
    )
    cond = conditions.Cond(outcome.condition.type, "False", "TemplateNameConflict", message)
    return ms.TemplatesOutcome("Degraded" if outcome.state == "Ready" else outcome.state, cond)
