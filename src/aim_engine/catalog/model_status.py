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

from aim_engine.api.meta import ConditionStatus
from aim_engine.api.v1alpha1 import AIMModelStatus, ImageMetadata
from aim_engine.api.v1alpha1.common import ObjectStatus
from aim_engine.catalog import conditions
from aim_engine.catalog.conditions import READY, Cond
from aim_engine.catalog.model_kind import ModelType
from aim_engine.catalog.runtime_config import RuntimeConfigResolution
from aim_engine.catalog.templates import TemplatePlan

IMAGE_METADATA = "ImageMetadataReady"
SERVICE_TEMPLATES = "ServiceTemplatesReady"

Failure = Literal["permanent", "transient"]
MetadataSource = Literal["registry", "spec", "status", "none"]
"""Where an outcome's metadata came from: the registry just now, spec.imageMetadata, an earlier
inspection recorded in status, or nowhere (discovery off or failed, custom and fine-tuned models)."""


@dataclass(frozen=True, kw_only=True)
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
    source: MetadataSource = "none"


def metadata_found(
    metadata: ImageMetadata,
    description: str,
    source: MetadataSource,
    *,
    inspected_image: str | None = None,
    digest: str | None = None,
) -> ImageOutcome:
    """Outcome for metadata we have (inspected now, from spec, or recorded earlier)."""
    model = metadata.model
    if model is not None and model.canonical_name:
        count = len(model.recommended_deployments or [])
        message = f"{description}: {model.canonical_name}, {count} recommended deployment(s)"
        cond = Cond(IMAGE_METADATA, "True", "ImageMetadataFound", message)
        return ImageOutcome(
            condition=cond, metadata=metadata, inspected_image=inspected_image, digest=digest, source=source
        )
    message = (
        f"{description}, but the image has no com.amd.aim.model.canonicalName label; it is not an AIM "
        "model image or was built without AIM metadata"
    )
    cond = Cond(IMAGE_METADATA, "False", "ImageFound", message)
    return ImageOutcome(
        condition=cond,
        metadata=metadata,
        failure="permanent",
        failure_reason="MetadataLabelsMissing",
        inspected_image=inspected_image,
        digest=digest,
        source=source,
    )


def metadata_failed(
    message: str, reason: str, *, transient: bool, retry_after: float | None = None
) -> ImageOutcome:
    return ImageOutcome(
        condition=Cond(IMAGE_METADATA, "False", "MetadataExtractionFailed", message),
        failure="transient" if transient else "permanent",
        failure_reason=reason,
        retry_after=retry_after,
    )


def discovery_skipped(message: str) -> ImageOutcome:
    return ImageOutcome(condition=Cond(IMAGE_METADATA, "True", "DiscoveryDisabled", message))


TemplateState = Literal["Ready", "Progressing", "Degraded", "Failed", "NotAvailable"]


@dataclass(frozen=True)
class TemplatesOutcome:
    state: TemplateState
    condition: Cond


def aggregate_templates(
    statuses: Sequence[str | None],
    plan: TemplatePlan,
    image: ImageOutcome | None = None,
    unavailable: Sequence[str] = (),
) -> TemplatesOutcome:
    """Summarise the statuses of a model's templates into one component state. `unavailable`:
    why the NotAvailable ones cannot run (their own messages, which name the nodes), shown when
    none can."""
    if not statuses:
        if plan.reason in ("NoMatchingTemplates", "DeploymentImageUnresolved"):
            # A fine-tuned model without copies: nothing to deploy until its sources change.
            return _outcome("NotAvailable", "False", plan.reason, plan.message)
        if not plan.expects_templates:
            return _outcome("Ready", "True", "NoTemplatesExpected", plan.message)
        if plan.reason == "AwaitingMetadata":
            if image is not None and image.failure is not None:
                message = "No templates until the image metadata can be read (see ImageMetadataReady)"
                return _outcome("Progressing", "False", "AwaitingMetadata", message)
            return _outcome("Progressing", "False", "AwaitingMetadata", "Waiting for the image metadata")
        return _outcome("Progressing", "False", "CreatingTemplates", "Creating templates for the model")
    outcome = _aggregate(statuses, unavailable)
    if plan.fine_tuning is None and not plan.skipped:
        return outcome
    cond = outcome.condition
    message = f"{cond.message}; {plan.message}" if plan.fine_tuning else cond.message
    if plan.skipped and outcome.state == "Ready":
        return _outcome("Degraded", "False", "TemplatesSkipped", message)
    return _outcome(outcome.state, cond.status, cond.reason, message)


def _outcome(state: TemplateState, status: ConditionStatus, reason: str, message: str) -> TemplatesOutcome:
    return TemplatesOutcome(state, Cond(SERVICE_TEMPLATES, status, reason, message))


def _aggregate(statuses: Sequence[str | None], unavailable: Sequence[str] = ()) -> TemplatesOutcome:
    counts = Counter(statuses)
    total = len(statuses)
    ready = counts["Ready"]
    bad = counts["Degraded"] + counts["Failed"]
    busy = counts["Progressing"] + counts["Pending"]
    if ready == total:
        return _outcome("Ready", "True", "AllTemplatesReady", f"All {total} template(s) are ready")
    if bad == total:
        return _outcome(
            "Failed", "False", "AllTemplatesFailed", f"All {total} template(s) are degraded or failed"
        )
    if counts["NotAvailable"] == total:
        reasons = list(dict.fromkeys(unavailable))
        why = "; ".join(reasons[:3]) + (f"; and {len(reasons) - 3} more" if len(reasons) > 3 else "")
        return _outcome(
            "NotAvailable",
            "False",
            "NoTemplatesAvailable",
            f"None of the {total} template(s) can run: {why or 'no node has the GPUs they need'}",
        )
    if bad:
        return _outcome(
            "Degraded",
            "False",
            "SomeTemplatesDegraded",
            f"{bad} of {total} template(s) are degraded or failed",
        )
    if busy or ready + counts["NotAvailable"] != total:
        return _outcome(
            "Progressing", "False", "TemplatesProgressing", f"{ready} of {total} template(s) are ready"
        )
    return _outcome(
        "Ready",
        "True",
        "SomeTemplatesReady",
        f"{ready} of {total} template(s) are ready; {counts['NotAvailable']} cannot run on this "
        "cluster's GPUs",
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


def image_record(
    previous: AIMModelStatus, image: ImageOutcome
) -> tuple[ImageMetadata | None, str | None, str | None]:
    """`status.imageMetadata`, `inspectedImage` and `imageDigest` after this reconcile.

    An inspection is recorded with the image it read, so the same image is not inspected again;
    metadata from spec.imageMetadata is recorded without an image, so once the user removes it
    from the spec it is dropped, never mistaken for an inspection.
    """
    if image.source == "registry":
        return image.metadata, image.inspected_image, image.digest
    if image.source == "spec":
        return image.metadata, None, None
    if image.source == "status" or previous.inspected_image is not None:
        return previous.image_metadata, previous.inspected_image, previous.image_digest
    return None, None, None


def build_status(
    previous: AIMModelStatus | None,
    *,
    generation: int | None,
    kind: ModelType,
    runtime: RuntimeConfigResolution,
    image: ImageOutcome,
    plan: TemplatePlan,
    template_statuses: Sequence[str | None],
    conflicts: Sequence[str],
    timestamp: str,
    unavailable: Sequence[str] = (),
) -> AIMModelStatus:
    """The model's whole status, from what the reconcile observed and planned."""
    status = previous or AIMModelStatus()
    templates = aggregate_templates(template_statuses, plan, image, unavailable)
    if conflicts:
        templates = with_conflicts(templates, conflicts)
    result = verdict(runtime, image, templates)
    desired = [runtime.condition, image.condition, templates.condition, result.ready]
    merged = conditions.merge(status.conditions, desired, generation=generation, timestamp=timestamp)
    metadata, inspected_image, digest = image_record(status, image)
    return status.model_copy(
        update={
            "status": result.status,
            "conditions": merged,
            "observed_generation": generation,
            "resolved_runtime_config": runtime.reference,
            "source_type": kind.source_type,
            "template_count": len(template_statuses),
            "image_metadata": metadata,
            "inspected_image": inspected_image,
            "image_digest": digest,
        }
    )


def with_conflicts(outcome: TemplatesOutcome, names: Sequence[str]) -> TemplatesOutcome:
    message = (
        f"{outcome.condition.message}; not applied because another owner (or a user) already has "
        f"an object of that name: {', '.join(names)}"
    )
    cond = Cond(outcome.condition.type, "False", "TemplateNameConflict", message)
    return TemplatesOutcome("Degraded" if outcome.state == "Ready" else outcome.state, cond)
