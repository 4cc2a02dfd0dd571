"""A service's phase and conditions from what KServe reports (catalog/service_status.py)."""

from __future__ import annotations

from typing import Any

from aim_engine.api.core import Event, PredictorPod
from aim_engine.api.kserve import InferenceServiceStatus
from aim_engine.catalog import service_status as ss
from aim_engine.catalog.conditions import Cond


def kserve(ready: str | None, **extra: Any) -> InferenceServiceStatus:
    conditions = (
        [{"type": "Ready", "status": ready, "reason": "PredictorNotReady", "message": "pods pending"}]
        if ready
        else []
    )
    return InferenceServiceStatus.model_validate({"conditions": conditions, **extra})


def test_kserve_ready_follows_its_ready_condition() -> None:
    cond, phase = ss.inference_service_condition("chat", None, None)
    assert (cond.reason, phase) == ("CreatingRuntime", "Starting")
    cond, phase = ss.inference_service_condition("chat", kserve("Unknown"), None)
    assert (cond.reason, phase) == ("CreatingRuntime", "Starting")
    cond, phase = ss.inference_service_condition("chat", kserve("True", url="http://chat.ml"), "Starting")
    assert (cond.status, cond.reason, phase) == ("True", "RuntimeReady", "Running")
    assert "http://chat.ml" in cond.message
    cond, phase = ss.inference_service_condition("chat", kserve("False"), "Starting")
    assert (cond.reason, phase) == ("PredictorNotReady", "Starting")
    assert "pods pending" in cond.message
    _, phase = ss.inference_service_condition("chat", kserve("False"), "Running")
    assert phase == "Degraded"
    cond, phase = ss.inference_service_condition(
        "chat", kserve("False", modelStatus={"transitionStatus": "BlockedByFailedLoad"}), "Starting"
    )
    assert (cond.reason, phase) == ("BlockedByFailedLoad", "Failed")


def test_ready_names_the_first_blocking_step() -> None:
    steps = [
        Cond("RuntimeConfigReady", "True", "ConfigFound"),
        Cond("ModelReady", "False", "ModelNotFound", "no model"),
    ]
    ready = ss.ready_condition(steps, "Failed")
    assert (ready.status, ready.reason, ready.message) == ("False", "ModelNotFound", "no model")
    assert ss.ready_condition(steps, "Running").status == "True"


def test_status_is_stable_across_reconciles() -> None:
    steps = [Cond("ModelReady", "True", "ModelResolved", "ok"), ss.waiting("TemplateReady", "Template")]
    first = ss.build_status(
        None,
        generation=1,
        steps=steps,
        phase="Pending",
        resolved_model=None,
        resolved_template=None,
        resolved_image=None,
        timestamp="2026-01-01T00:00:00Z",
    )
    again = ss.build_status(
        first,
        generation=1,
        steps=steps,
        phase="Pending",
        resolved_model=None,
        resolved_template=None,
        resolved_image=None,
        timestamp="2026-01-02T00:00:00Z",
    )
    assert again == first
    assert [c.type for c in first.conditions or []] == ["ModelReady", "TemplateReady", "Ready"]


def pod(name: str, status: dict[str, Any], **meta: object) -> PredictorPod:
    return PredictorPod.model_validate(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **meta}, "status": status}
    )


UNSCHEDULED: dict[str, Any] = {
    "phase": "Pending",
    "conditions": [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/2 nodes are available: 1 node(s) were unschedulable, 1 node(s) didn't match "
            "Pod's node affinity/selector.",
        }
    ],
}


def test_pod_trouble_says_what_the_scheduler_or_the_kubelet_says() -> None:
    assert ss.pod_trouble([pod("chat-1", UNSCHEDULED)]) == (
        "pod chat-1 is not scheduled (Unschedulable): 0/2 nodes are available: 1 node(s) were "
        "unschedulable, 1 node(s) didn't match Pod's node affinity/selector."
    )
    pulling = {
        "phase": "Pending",
        "containerStatuses": [
            {
                "name": "kserve-container",
                "ready": False,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}},
            }
        ],
    }
    assert ss.pod_trouble([pod("chat-2", pulling)]) == (
        "pod chat-2: container kserve-container is ImagePullBackOff: Back-off pulling image"
    )
    killed = {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "kserve-container",
                "ready": False,
                "restartCount": 3,
                "state": {"running": {}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
            }
        ],
    }
    assert ss.pod_trouble([pod("chat-3", killed)]) == (
        "pod chat-3: container kserve-container restarted 3 time(s), last ended OOMKilled, exit code 137"
    )
    # Starting, running, or on its way out: nothing to say.
    creating = {"containerStatuses": [{"name": "c", "state": {"waiting": {"reason": "ContainerCreating"}}}]}
    running = {
        "phase": "Running",
        "containerStatuses": [{"name": "c", "ready": True, "state": {"running": {}}}],
    }
    going = pod("chat-4", UNSCHEDULED, deletionTimestamp="2026-12-04T00:00:00Z")
    assert ss.pod_trouble([pod("a", creating), pod("b", running), going]) is None
    # The first pod by name that has something to say; long messages are cut.
    long = {**UNSCHEDULED, "conditions": [{**UNSCHEDULED["conditions"][0], "message": "x" * 1000}]}
    found = ss.pod_trouble([pod("z", UNSCHEDULED), pod("m", long)])
    assert found is not None and found.startswith("pod m ") and len(found) == 400


def test_kserve_not_ready_carries_what_the_pods_say() -> None:
    status = InferenceServiceStatus.model_validate(
        {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "MinimumReplicasUnavailable",
                    "message": "Deployment does not have minimum availability.",
                }
            ]
        }
    )
    cond, phase = ss.inference_service_condition("chat", status, "Running", [pod("chat-1", UNSCHEDULED)])
    assert phase == "Degraded" and cond.reason == "MinimumReplicasUnavailable"
    assert cond.message.startswith(
        "KServe reports InferenceService chat not ready: Deployment does not have minimum availability.; "
        "pod chat-1 is not scheduled (Unschedulable): 0/2 nodes"
    )
    ready = InferenceServiceStatus.model_validate({"conditions": [{"type": "Ready", "status": "True"}]})
    assert ss.inference_service_condition("chat", ready, None, [pod("chat-1", UNSCHEDULED)])[0].message == (
        "InferenceService chat is ready"
    )


def event(reason: str, message: str, *, type_: str = "Warning", at: str = "2026-12-04T10:00:00Z") -> Event:
    return Event.model_validate(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"chat.{reason}.{at}"},
            "involvedObject": {"kind": "InferenceService", "name": "chat"},
            "reason": reason,
            "message": message,
            "type": type_,
            "lastTimestamp": at,
        }
    )


def test_before_kserve_writes_a_condition_its_warning_events_speak() -> None:
    invalid = event("InternalError", "Deployment.apps is invalid: memory request must be less than limit")
    older = event("InternalError", "an older failure", at="2026-12-04T09:00:00Z")
    normal = event("InferenceServiceReady", "ready", type_="Normal")
    cond, phase = ss.inference_service_condition("chat", None, None, events=[older, invalid, normal])
    assert (cond.reason, phase) == ("InternalError", "Starting")
    assert cond.message == (
        "KServe cannot deploy InferenceService chat: Deployment.apps is invalid: memory request must be "
        "less than limit"
    )
    assert ss.inference_service_condition("chat", None, "Running", events=[invalid])[1] == "Degraded"
    # No Knative for a serverless default: only KServe's configuration fixes it.
    rejected = event("ServerlessModeRejected", "It is not possible to use Serverless deployment mode")
    assert ss.inference_service_condition("chat", None, None, events=[rejected])[1] == "Failed"
    # Once KServe writes its Ready condition, that is what counts; Normal events never speak.
    assert ss.inference_service_condition("chat", kserve("True"), None, events=[invalid])[1] == "Running"
    assert ss.inference_service_condition("chat", None, None, events=[normal])[0].reason == "CreatingRuntime"
