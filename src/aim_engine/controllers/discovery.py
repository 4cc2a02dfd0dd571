"""Discovery: a model's image metadata, from where the document says it comes.

Fine-tuned and custom models are not inspected; `spec.imageMetadata` replaces inspection (for
air-gapped clusters); an inspection recorded in status for the same `spec.image` is used again
(an image is inspected once per `spec.image`, not on every reconcile or restart); otherwise the
registry is asked, with the pull secrets of the model and its runtime config, read from the
model's namespace (the operator namespace for cluster models) and nowhere else.
"""

from __future__ import annotations

from aim_engine.api.core import Secret
from aim_engine.api.image_reference import parse_reference
from aim_engine.api.meta import LocalObjectReference
from aim_engine.api.v1alpha1 import AIMModelStatus, AnyModel
from aim_engine.catalog import model_status, runtime_config
from aim_engine.catalog.model_kind import FineTunedModel, ImageModel, ModelType
from aim_engine.catalog.template_spec import discovery_enabled
from aim_engine.controllers.settings import ControllerSettings
from aim_engine.registry.credentials import Keychain, credentials_from_pull_secret
from aim_engine.registry.errors import PullSecretError, RegistryError, RegistryUnavailableError
from aim_engine.registry.inspector import Inspector
from aim_engine.runtime.store import Store


class Discovery:
    def __init__(
        self, store: Store, inspector: Inspector, settings: ControllerSettings, *, cluster: bool
    ) -> None:
        self.store = store
        self.inspector = inspector
        self.settings = settings
        self.cluster = cluster

    async def discover(
        self,
        model: AnyModel,
        kind: ModelType,
        status: AIMModelStatus,
        runtime: runtime_config.RuntimeConfigResolution,
    ) -> model_status.ImageOutcome:
        spec = model.spec
        if isinstance(kind, FineTunedModel):
            return model_status.discovery_skipped(
                "Fine-tuned model: its image is not inspected; each template copy deploys the image "
                "resolved from the model that owns the template it was copied from"
            )
        if not isinstance(kind, ImageModel):
            return model_status.discovery_skipped(
                "Custom model: weights come from spec.modelSources, so the image is not inspected"
            )
        if spec.image_metadata is not None:
            return model_status.metadata_found(
                spec.image_metadata, "Metadata from spec.imageMetadata", "spec"
            )
        if not discovery_enabled(spec):
            return model_status.discovery_skipped(
                "spec.discovery.extractMetadata is false; the image is not inspected"
            )
        image = spec.image or ""
        if status.image_metadata is not None and status.inspected_image == image:
            described = _inspected(image, status.image_digest)
            return model_status.metadata_found(status.image_metadata, described, "status")
        try:
            registry = parse_reference(image).registry
        except ValueError as exc:
            return model_status.metadata_failed(
                f"spec.image {image!r} is not a valid image reference: {exc}",
                "InvalidImageReference",
                transient=False,
            )
        if not self.settings.allows(registry):
            message = (
                f"Registry {registry} of {image} is not in the operator's allowed registries "
                f"({', '.join(self.settings.allowed_registries)}); mirror the image or set spec.imageMetadata"
            )
            return model_status.metadata_failed(message, "RegistryNotAllowed", transient=False)
        keychain = await self._pull_credentials(model, runtime)
        if isinstance(keychain, model_status.ImageOutcome):
            return keychain
        try:
            inspected = await self.inspector.inspect(image, keychain)
        except RegistryUnavailableError as exc:
            return model_status.metadata_failed(
                str(exc), exc.reason, transient=True, retry_after=exc.retry_after
            )
        except RegistryError as exc:
            return model_status.metadata_failed(str(exc), exc.reason, transient=exc.transient)
        described = _inspected(image, inspected.digest)
        return model_status.metadata_found(
            inspected.metadata, described, "registry", inspected_image=image, digest=inspected.digest
        )

    async def _pull_credentials(
        self, model: AnyModel, runtime: runtime_config.RuntimeConfigResolution
    ) -> Keychain | model_status.ImageOutcome:
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
                return model_status.metadata_failed(message, "PullSecretNotFound", transient=False)
            try:
                chains.append(_keychain(secret, namespace))
            except PullSecretError as exc:
                return model_status.metadata_failed(str(exc), exc.reason, transient=False)
        return Keychain.merged(chains)


def _inspected(image: str, digest: str | None) -> str:
    # The same words whether the registry was asked now or earlier, so the message (and with
    # it the status) does not change between reconciles.
    return f"Inspected {image} ({digest})" if digest else f"Inspected {image}"


def _keychain(secret: Secret, namespace: str) -> Keychain:
    return credentials_from_pull_secret(f"{namespace}/{secret.name}", secret.type, secret.data)
