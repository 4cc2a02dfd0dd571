"""Condition bookkeeping with Kubernetes semantics.

`lastTransitionTime` changes only when a condition's status changes, so a reconcile that
recomputes the same conditions produces an identical status and therefore no API write.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from aim_engine.api.meta import Condition, ConditionStatus

READY = "Ready"


@dataclass(frozen=True)
class Cond:
    """A condition as a reconciler computes it, before timestamps are attached."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "True"


def find(conditions: Sequence[Condition] | None, type_: str) -> Condition | None:
    """The condition of that type in a status, if any."""
    return next((c for c in conditions or () if c.type == type_), None)


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC, to the second, as Kubernetes writes condition times."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def merge(
    previous: Sequence[Condition] | None,
    desired: Iterable[Cond],
    *,
    generation: int | None,
    timestamp: str,
) -> list[Condition]:
    """The new condition list: desired conditions in order, keeping the transition time of any
    condition whose status did not change. Conditions we no longer compute are dropped.
    `timestamp` is the transition time of changed conditions: the caller's clock, not ours."""
    old = {c.type: c for c in previous or ()}
    stamp = timestamp
    merged = []
    for cond in desired:
        before = old.get(cond.type)
        unchanged = before is not None and before.status == cond.status
        merged.append(
            Condition(
                type=cond.type,
                status=cond.status,
                reason=cond.reason,
                message=cond.message,
                last_transition_time=before.last_transition_time if unchanged and before else stamp,
                observed_generation=generation,
            )
        )
    return merged


@dataclass(frozen=True)
class Transition:
    type: str
    status: ConditionStatus
    reason: str
    message: str

    @property
    def event_type(self) -> Literal["Normal", "Warning"]:
        return "Normal" if self.status == "True" else "Warning"


def transitions(previous: Sequence[Condition] | None, current: Sequence[Condition]) -> list[Transition]:
    """Conditions whose status or reason changed: each becomes one Kubernetes Event."""
    old = {c.type: (c.status, c.reason) for c in previous or ()}
    return [
        Transition(c.type, c.status, c.reason, c.message)
        for c in current
        if old.get(c.type) != (c.status, c.reason)
    ]


EventSpec = tuple[Literal["Normal", "Warning"], str, str]


def ready_events(*, on_ready: bool, trouble: Container[str] | None) -> Callable[[Any, Any], list[EventSpec]]:
    """A status writer's event policy: a change of the `Ready` condition becomes an Event when
    it turns True (with `on_ready`), or when it does not and the object's phase is one of
    `trouble` (None: every phase). Progress is never an event; what a user acts on is."""

    def policy(previous: Any, status: Any) -> list[EventSpec]:
        before = previous.conditions if previous is not None else None
        wanted = []
        for change in transitions(before, status.conditions or []):
            if change.type != READY:
                continue
            broken = trouble is None or status.status in trouble
            if on_ready if change.status == "True" else broken:
                wanted.append((change.event_type, change.reason, change.message))
        return wanted

    return policy
