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

from aim_engine.api.core import Event, PredictorPod
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


# What KServe says in an Event, and nowhere else, when it cannot deploy an InferenceService.
KSERVE_FAILURES = ("InternalError", "ServerlessModeRejected")
# A container waiting for one of these is on its way, not in trouble.
_STARTING = ("ContainerCreating", "PodInitializing")
_MAX_DETAIL = 400


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def pod_trouble(pods: Sequence[PredictorPod]) -> str | None:
    """Why the predictor does not run, in the words of the scheduler or the kubelet, for the first
    pod (by name) that has a reason: a container waiting on something other than its start
    (ImagePullBackOff, CrashLoopBackOff, CreateContainerConfigError, ...), one that restarted
    after it ended (OOMKilled, Error), or a pod the scheduler could not place. None when no pod
    says anything wrong (KServe's word is then all there is)."""
    for pod in sorted(pods, key=lambda p: p.name):
        status = pod.status
        if pod.metadata.deletion_timestamp or status is None:
            continue
        for container in [*(status.init_container_statuses or ()), *(status.container_statuses or ())]:
            waiting = container.state.waiting if container.state else None
            if waiting is not None and waiting.reason and waiting.reason not in _STARTING:
                said = f": {waiting.message}" if waiting.message else ""
                return _clip(f"pod {pod.name}: container {container.name} is {waiting.reason}{said}")
            ended = container.last_state.terminated if container.last_state else None
            if ended is not None and not container.ready and ended.reason:
                code = f", exit code {ended.exit_code}" if ended.exit_code is not None else ""
                return _clip(
                    f"pod {pod.name}: container {container.name} restarted {container.restart_count or 0} "
                    f"time(s), last ended {ended.reason}{code}"
                )
        scheduled = next((c for c in status.conditions or () if c.type == "PodScheduled"), None)
        if scheduled is not None and scheduled.status == "False":
            said = f": {scheduled.message}" if scheduled.message else ""
            return _clip(f"pod {pod.name} is not scheduled ({scheduled.reason or 'Unschedulable'}){said}")
    return None


def _not_ready(previous_phase: ServiceStatus | None) -> ServiceStatus:
    """A service whose InferenceService is not ready: Degraded once it ran, else Starting."""
    return "Degraded" if previous_phase in RUNNING else "Starting"


def kserve_failure(events: Sequence[Event]) -> Event | None:
    """The latest of KServe's Warning events that say it could not deploy the InferenceService."""
    failures = [e for e in events if e.type == "Warning" and e.reason in KSERVE_FAILURES]
    return max(failures, key=lambda e: e.last_timestamp or e.first_timestamp or "", default=None)


def inference_service_condition(
    name: str,
    status: InferenceServiceStatus | None,
    previous_phase: ServiceStatus | None,
    pods: Sequence[PredictorPod] = (),
    events: Sequence[Event] = (),
) -> tuple[Cond, ServiceStatus]:
    """InferenceServiceReady from what KServe reports, and the phase it gives the service; while
    it is not ready, with what its pods say (`pod_trouble`). Before KServe has written any Ready
    condition, its Warning events (`events`, about this InferenceService) are all it says: a
    Deployment it could not make (`InternalError`), or no Knative for a serverless default
    (`ServerlessModeRejected`, which only a change of KServe's configuration fixes)."""
    ready = status.condition(READY) if status else None
    failure = kserve_failure(events) if ready is None else None
    if failure is not None and failure.reason:
        message = f"KServe cannot deploy InferenceService {name}: {_clip(failure.message or failure.reason)}"
        rejected = failure.reason == "ServerlessModeRejected"
        phase = "Failed" if rejected else _not_ready(previous_phase)
        return Cond(KSERVE, "False", failure.reason, message), phase
    trouble = pod_trouble(pods)
    also = f"; {trouble}" if trouble else ""
    if ready is None or ready.status not in ("True", "False"):
        message = f"InferenceService {name} is created; waiting for KServe to report it ready{also}"
        return Cond(KSERVE, "False", "CreatingRuntime", message), "Starting"
    if ready.status == "True":
        where = f" at {status.url}" if status and status.url else ""
        return Cond(KSERVE, "True", "RuntimeReady", f"InferenceService {name} is ready{where}"), "Running"
    transition = str((status.model_status or {}).get("transitionStatus") or "") if status else ""
    detail = ready.message or ready.reason or "not ready"
    message = f"KServe reports InferenceService {name} not ready: {detail}{also}"
    if transition in _KSERVE_FAILED:
        return Cond(KSERVE, "False", transition, message), "Failed"
    phase = _not_ready(previous_phase)
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
