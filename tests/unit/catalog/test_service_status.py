"""A service's phase and conditions from what KServe reports (catalog/service_status.py)."""

from __future__ import annotations

from typing import Any

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
