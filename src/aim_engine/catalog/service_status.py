"""An AIMService's status: its conditions, its phase and what it resolved. Pure.

Conditions, in the order a service goes through them: `RuntimeConfigReady`, `ModelReady`,
`TemplateReady`, `InferenceServiceReady` (following KServe's own `Ready` condition) and
`Ready`. A step that cannot be judged yet, because an earlier one is not done, is `Unknown`
with a reason that names what it waits for.

Phases (`status.status`): `Pending` while something it needs is not there yet, `Starting` once
the InferenceService exists and KServe has not reported it ready, `Running` when it has,
`Degraded` when it was running and is not any more (or a step broke while an InferenceService
keeps serving), `Failed` when the user must change something.
"""

from __future__ import annotations

from collections.abc import Sequence

from aim_engine.api.kserve import InferenceServiceStatus
from aim_engine.api.v1alpha1 import AIMServiceStatus, ResolvedReference
from aim_engine.api.v1alpha1.service import ServiceStatus
from aim_engine.catalog import conditions
from aim_engine.catalog.conditions import READY, Cond

KSERVE = "InferenceServiceReady"
RUNNING = ("Running", "Degraded")
# KServe's modelStatus.transitionStatus values that no amount of waiting fixes.
_KSERVE_FAILED = ("BlockedByFailedLoad", "InvalidSpec")


def waiting(type_: str, on: str) -> Cond:
    return Cond(type_, "Unknown", f"Awaiting{on}", f"Waits for the {on.lower()} to be resolved")


def inference_service_condition(
    name: str, status: InferenceServiceStatus | None, previous_phase: ServiceStatus | None
) -> tuple[Cond, ServiceStatus]:
    """InferenceServiceReady from what KServe reports, and the phase it gives the service."""
    ready = status.condition(READY) if status else None
    if ready is None or ready.status not in ("True", "False"):
        message = f"InferenceService {name} is created; waiting for KServe to report it ready"
        return Cond(KSERVE, "False", "CreatingRuntime", message), "Starting"
    if ready.status == "True":
        where = f" at {status.url}" if status and status.url else ""
        return Cond(KSERVE, "True", "RuntimeReady", f"InferenceService {name} is ready{where}"), "Running"
    transition = str((status.model_status or {}).get("transitionStatus") or "") if status else ""
    detail = ready.message or ready.reason or "not ready"
    message = f"KServe reports InferenceService {name} not ready: {detail}"
    if transition in _KSERVE_FAILED:
        return Cond(KSERVE, "False", transition, message), "Failed"
    phase: ServiceStatus = "Degraded" if previous_phase in RUNNING else "Starting"
    return Cond(KSERVE, "False", ready.reason or "RuntimeNotReady", message), phase


def ready_condition(steps: Sequence[Cond], phase: ServiceStatus) -> Cond:
    if phase == "Running":
        return Cond(READY, "True", "Running", "The service is running")
    blocker = next((c for c in steps if c.status != "True"), None)
    if blocker is None:
        return Cond(READY, "False", phase, f"The service is {phase}")
    return Cond(READY, "False", blocker.reason, blocker.message)


def build_status(
    previous: AIMServiceStatus | None,
    *,
    generation: int | None,
    steps: Sequence[Cond],
    phase: ServiceStatus,
    resolved_model: ResolvedReference | None,
    resolved_template: ResolvedReference | None,
    resolved_image: str | None,
    timestamp: str,
) -> AIMServiceStatus:
    ready = ready_condition(steps, phase)
    merged = conditions.merge(
        previous.conditions if previous else None, [*steps, ready], generation=generation, timestamp=timestamp
    )
    status = AIMServiceStatus(
        observed_generation=generation,
        status=phase,
        conditions=merged,
        resolved_model=resolved_model,
        resolved_template=resolved_template,
        resolved_image=resolved_image,
    )
    # Round-trip so that unset values compare equal to what the API server returns.
    return AIMServiceStatus.model_validate(status.dump())
