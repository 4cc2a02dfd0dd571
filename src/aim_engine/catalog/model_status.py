"""A model's status and conditions, derived from what its reconcile observed.

Conditions: RuntimeConfigReady, ImageMetadataReady, ServiceTemplatesReady and Ready.
Status: Failed when something the user must fix is wrong (named config missing, image or pull
secret missing, credentials refused, labels missing or malformed, every template failed);
Degraded when a transient problem (registry unreachable) or some templates are unhealthy;
NotAvailable when no template fits the cluster's GPUs; Progressing while templates settle;
Ready otherwise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from aim_engine.api.v1alpha1 import ImageMetadata
from aim_engine.api.v1alpha1.common import ObjectStatus
from aim_engine.catalog.conditions import READY, Cond
from aim_engine.catalog.runtime_config import RuntimeConfigResolution
from aim_engine.catalog.templates import TemplatePlan

IMAGE_METADATA = "ImageMetadataReady"
SERVICE_TEMPLATES = "ServiceTemplatesReady"

Failure = Literal["permanent", "transient"]


@dataclass(frozen=True)
class ImageOutcome:
    """What discovery produced: the metadata to record (if any) and its condition."""

    condition: Cond
    metadata: ImageMetadata | None = None
    failure: Failure | None = None
    failure_reason: str = ""
    """Specific cause for the Ready condition (RegistryAuthFailed, ImageNotFound, ...)."""
    inspected_image: str | None = None
    """Set when the registry was asked just now: the image reference that was inspected..."""
    digest: str | None = None
    """...and the digest of the manifest that was read."""
    retry_after: float | None = None
    """Seconds the registry asked us to wait before trying again (HTTP Retry-After)."""


def metadata_found(metadata: ImageMetadata, source: str) -> ImageOutcome:
    """Outcome for metadata we have (inspected, from spec, or recorded earlier)."""
    model = metadata.model
    if model is not None and model.canonical_name:
        count = len(model.recommended_deployments or [])
        message = f"{source}: {model.canonical_name}, {count} recommended deployment(s)"
        return ImageOutcome(Cond(IMAGE_METADATA, "True", "ImageMetadataFound", message), metadata)
    message = (
        f"{source}, but the image has no com.amd.aim.model.canonicalName label; it is not an AIM "
        "model image or was built without AIM metadata"
    )
    return ImageOutcome(
        Cond(IMAGE_METADATA, "False", "ImageFound", message), metadata, "permanent", "MetadataLabelsMissing"
    )


def metadata_failed(
    message: str, reason: str, *, transient: bool, retry_after: float | None = None
) -> ImageOutcome:
    return ImageOutcome(
        Cond(IMAGE_METADATA, "False", "MetadataExtractionFailed", message),
        None,
        "transient" if transient else "permanent",
        reason,
        retry_after=retry_after,
    )


def discovery_skipped(message: str) -> ImageOutcome:
    return ImageOutcome(Cond(IMAGE_METADATA, "True", "DiscoveryDisabled", message))


TemplateState = Literal["Ready", "Progressing", "Degraded", "Failed", "NotAvailable"]


@dataclass(frozen=True)
class TemplatesOutcome:
    state: TemplateState
    condition: Cond


def aggregate_templates(
    statuses: Sequence[str | None], plan: TemplatePlan, image: ImageOutcome | None = None
) -> TemplatesOutcome:
    """Summarise the statuses of a model's templates into one component state."""

    def out(
        state: TemplateState, status: Literal["True", "False"], reason: str, message: str
    ) -> TemplatesOutcome:
        return TemplatesOutcome(state, Cond(SERVICE_TEMPLATES, status, reason, message))

    if not statuses:
        if not plan.expects_templates:
            return out("Ready", "True", "NoTemplatesExpected", plan.message)
        if plan.reason == "AwaitingMetadata":
            if image is not None and image.failure is not None:
                message = "No templates until the image metadata can be read (see ImageMetadataReady)"
                return out("Progressing", "False", "AwaitingMetadata", message)
            return out("Progressing", "False", "AwaitingMetadata", "Waiting for the image metadata")
        return out("Progressing", "False", "CreatingTemplates", "Creating templates for the model")
    counts = Counter(statuses)
    total = len(statuses)
    ready = counts["Ready"]
    bad = counts["Degraded"] + counts["Failed"]
    busy = counts["Progressing"] + counts["Pending"]
    unavailable = counts["NotAvailable"]
    if ready == total:
        return out("Ready", "True", "AllTemplatesReady", f"All {total} template(s) are ready")
    if bad == total:
        return out("Failed", "False", "AllTemplatesFailed", f"All {total} template(s) are degraded or failed")
    if unavailable == total:
        return out(
            "NotAvailable",
            "False",
            "NoTemplatesAvailable",
            f"None of the {total} template(s) can run: no node has the GPUs they need",
        )
    if bad:
        return out(
            "Degraded",
            "False",
            "SomeTemplatesDegraded",
            f"{bad} of {total} template(s) are degraded or failed",
        )
    if busy or ready + unavailable != total:
        return out(
            "Progressing", "False", "TemplatesProgressing", f"{ready} of {total} template(s) are ready"
        )
    return out(
        "Ready",
        "True",
        "SomeTemplatesReady",
        f"{ready} of {total} template(s) are ready; {unavailable} cannot run on this cluster's GPUs",
    )


@dataclass(frozen=True)
class ModelVerdict:
    status: ObjectStatus
    ready: Cond


def verdict(
    runtime: RuntimeConfigResolution, image: ImageOutcome, templates: TemplatesOutcome
) -> ModelVerdict:
    if runtime.fatal:
        return ModelVerdict(
            "Failed", Cond(READY, "False", runtime.condition.reason, runtime.condition.message)
        )
    if image.failure == "permanent":
        return ModelVerdict("Failed", Cond(READY, "False", image.failure_reason, image.condition.message))
    if image.failure == "transient":
        message = f"{image.condition.message}; retrying with backoff"
        return ModelVerdict("Degraded", Cond(READY, "False", image.failure_reason, message))
    tc = templates.condition
    if templates.state == "Ready":
        return ModelVerdict("Ready", Cond(READY, "True", "AllComponentsReady", tc.message))
    status: ObjectStatus = templates.state
    return ModelVerdict(status, Cond(READY, "False", tc.reason, tc.message))
