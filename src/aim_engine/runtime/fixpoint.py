"""Run reconcilers to a fixpoint, without workers or a clock: the engine of `aim-engine
render` and of fast end-to-end tests over MemoryStore.

`run_until_idle` reconciles every key, then whatever the resulting changes enqueue, until
the queue is empty. Delayed requeues (`Result.after`, `Result.retry`, error backoff) are
not waited for; they are reported. A write conflict is retried at once, as the Manager's
rate limiter would after a few milliseconds.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

from aim_engine.runtime.errors import ControllerRuntimeError
from aim_engine.runtime.manager import Manager, Outcome
from aim_engine.runtime.memory_store import MemoryStore
from aim_engine.runtime.metrics import WorkItem


class NotConverged(ControllerRuntimeError):
    """The reconcilers kept re-enqueueing each other beyond the iteration limit."""

    def __init__(self, message: str, busiest: list[tuple[WorkItem, int]]) -> None:
        super().__init__(message)
        self.busiest = busiest


@dataclass
class IdleReport:
    reconciles: int = 0
    outcomes: collections.Counter[Outcome] = field(default_factory=collections.Counter)
    pending: dict[WorkItem, float] = field(default_factory=dict)
    """Keys a reconciler asked to see again later (or that failed), and in how many seconds."""
    errors: dict[WorkItem, str] = field(default_factory=dict)
    """Keys whose last reconcile raised, with the error."""

    @property
    def converged(self) -> bool:
        return not self.errors


async def run_until_idle(
    manager: Manager, *, max_reconciles: int = 10_000, requeue_all: bool = True
) -> IdleReport:
    """Reconcile until no key is ready. Raises NotConverged after `max_reconciles`, naming
    the keys reconciled most often (the ones that keep changing)."""
    queue = manager.queue
    if requeue_all:
        manager.requeue_all()
    report = IdleReport()
    per_item: collections.Counter[WorkItem] = collections.Counter()
    while (item := queue.get_nowait(promote_due=False)) is not None:
        try:
            outcome = await manager.process(item)
        finally:
            queue.done(item)
        if outcome == "conflict":
            queue.add(item)
        report.reconciles += 1
        report.outcomes[outcome] += 1
        per_item[item] += 1
        if report.reconciles >= max_reconciles:
            busiest = per_item.most_common(10)
            listing = ", ".join(f"{name} {key} x{n}" for (name, key), n in busiest)
            message = f"no fixpoint after {report.reconciles} reconciles; busiest: {listing}"
            if isinstance(manager.store, MemoryStore):
                changed = manager.store.changes.most_common(5)
                message += "; most written: " + ", ".join(f"{kind} {key} x{n}" for (kind, key), n in changed)
            raise NotConverged(message, busiest)
    now = queue.now()
    report.pending = {item: max(0.0, when - now) for item, when in queue.waiting.items()}
    report.errors = dict(manager.last_errors)
    return report
