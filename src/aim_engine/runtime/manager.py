"""The Manager: turns store changes into work-queue keys and runs reconcilers over them.

Life of a Manager (`run`):
1. start the store's caches and wait until every watched kind is listed (events already
   fill the queue meanwhile: dedup keeps it at one entry per key);
2. with leader election, wait to become leader (a follower keeps its caches warm);
3. enqueue every primary key once, then run `concurrency` workers;
4. on `stop`: workers finish their current reconcile (bounded by `shutdown_grace`), the
   lease is released, the caches stop. On a lost lease: workers are cancelled at once and
   `run` raises `LeadershipLost` (the process should exit, as controller-runtime does).

Events: a change of a reconciler's own kind enqueues its key when it passes the reconciler's
`predicate`; a change of an owned kind enqueues the owner's key, and a watched kind the keys
its mapper returns, each when it passes the watch's predicate (applied before the mapper).

Reconcile outcomes: a key whose object carries the pause annotation is not reconciled
("paused"); `Result.after(s)` requeues the key after s seconds; `Result.retry(backoff)`
requeues it on that schedule, counting this key's consecutive retries (any other outcome resets
the count); `Result.terminal(reason)` and None wait for the next change; an exception
requeues with the queue's per-key exponential backoff (reset by the next success); `Conflict`
(a stale write) requeues at once through the same rate limiter, without logging an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from aim_engine.api.meta import PAUSED_ANNOTATION, KubeObject, ObjectKey
from aim_engine.runtime.errors import Conflict, LeadershipLost
from aim_engine.runtime.leader import LeaderElector
from aim_engine.runtime.logs import reconcile_context
from aim_engine.runtime.metrics import RuntimeMetrics, WorkItem
from aim_engine.runtime.predicates import Predicate, always, beyond_status
from aim_engine.runtime.reconciler import Owns, Reconciler, Result, Watch
from aim_engine.runtime.resources import group_of
from aim_engine.runtime.store import ChangeEvent, Store
from aim_engine.runtime.workqueue import ExponentialBackoff, ShutDown, WorkQueue

log = logging.getLogger(__name__)

Outcome = Literal["success", "requeue", "retry", "terminal", "paused", "error", "conflict"]


def owner_keys(owner_kind: type[KubeObject], obj: KubeObject) -> list[ObjectKey]:
    """Keys of `obj`'s controller owners of `owner_kind` (matched by kind and API group, so a
    reference written with another served version still matches)."""
    group = group_of(owner_kind.API_VERSION)
    namespace = (obj.metadata.namespace or "") if owner_kind.NAMESPACED else ""
    return [
        ObjectKey(namespace, ref.name)
        for ref in obj.metadata.owner_references or ()
        if ref.controller and ref.kind == owner_kind.KIND and group_of(ref.api_version) == group
    ]


def paused(obj: KubeObject | None) -> bool:
    """Whether a person asked the operator to leave `obj` alone."""
    return obj is not None and (obj.metadata.annotations or {}).get(PAUSED_ANNOTATION) == "true"


def _versions(event: ChangeEvent[Any]) -> tuple[Any, Any]:
    """(old, new) as predicates see a change: (None, new) created, (old, None) deleted."""
    if event.type == "DELETED":
        return event.obj, None
    return event.old, event.obj


class Manager:
    def __init__(
        self,
        store: Store,
        reconcilers: Sequence[Reconciler],
        *,
        concurrency: int = 4,
        metrics: RuntimeMetrics | None = None,
        elector: LeaderElector | None = None,
        backoff: ExponentialBackoff | None = None,
        resync_period: float | None = None,
        shutdown_grace: float = 5.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.store = store
        self.metrics = metrics or RuntimeMetrics.default()
        self.elector = elector
        self.concurrency = concurrency
        self.resync_period = resync_period
        self.shutdown_grace = shutdown_grace
        self.queue: WorkQueue[WorkItem] = WorkQueue(backoff, observer=self.metrics)
        self.reconcilers: dict[str, Reconciler] = {}
        for reconciler in reconcilers:
            if reconciler.name in self.reconcilers:
                raise ValueError(f"two reconcilers are named {reconciler.name!r}")
            self.reconcilers[reconciler.name] = reconciler
        for reconciler in reconcilers:
            self._subscribe(reconciler)
        self._stop = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._resync_task: asyncio.Task[None] | None = None
        self.leading = False
        self.last_errors: dict[WorkItem, str] = {}
        """The last exception of each item whose latest reconcile failed."""
        self.retries: dict[WorkItem, int] = {}
        """Consecutive `Result.retry` outcomes of each item (forgotten on any other outcome)."""

    # --- wiring ---

    def _subscribe(self, r: Reconciler) -> None:
        name = r.name
        passes = r.predicate or beyond_status

        def primary(event: ChangeEvent[Any]) -> None:
            if passes(*_versions(event)):
                self.queue.add((name, event.obj.key))

        def owned(predicate: Predicate) -> Any:
            def handler(event: ChangeEvent[Any]) -> None:
                if not predicate(*_versions(event)):
                    return
                keys = owner_keys(r.kind, event.obj)
                if event.old is not None:
                    keys += owner_keys(r.kind, event.old)
                self._add_all(name, keys)

            return handler

        def mapped(watch: Watch[Any]) -> Any:
            def handler(event: ChangeEvent[Any]) -> None:
                if not watch.predicate(*_versions(event)):
                    return
                keys = list(watch.mapper(event.obj))
                if event.old is not None and event.type == "MODIFIED":
                    keys += watch.mapper(event.old)
                self._add_all(name, keys)

            return handler

        self.store.subscribe(r.kind, primary)
        for entry in r.owns:
            kind, predicate = (entry.kind, entry.predicate) if isinstance(entry, Owns) else (entry, always)
            self.store.subscribe(kind, owned(predicate))
        for watch in r.watches:
            self.store.subscribe(watch.kind, mapped(watch))

    def _add_all(self, name: str, keys: Iterable[ObjectKey]) -> None:
        for key in keys:
            self.queue.add((name, key))

    def enqueue(self, controller: str, key: ObjectKey) -> None:
        if controller not in self.reconcilers:
            raise KeyError(f"no reconciler named {controller!r}")
        self.queue.add((controller, key))

    def requeue_all(self) -> None:
        """Enqueue every cached object of every reconciler's kind (a full resync)."""
        for name, reconciler in self.reconcilers.items():
            self._add_all(name, (obj.key for obj in self.store.list(reconciler.kind)))

    # --- one reconcile ---

    async def process(self, item: WorkItem) -> Outcome:
        """Run the reconciler for one queue item and requeue it as its outcome demands.
        The caller got `item` from the queue and calls `queue.done(item)` afterwards."""
        name, key = item
        reconciler = self.reconcilers[name]
        outcome: Outcome
        started = time.perf_counter()
        with reconcile_context(name, key, uuid.uuid4().hex[:12]):
            # The one place the pause annotation is read: a paused object is not reconciled.
            skip = paused(self.store.get(reconciler.kind, key.name, key.namespace or None))
            try:
                result = None if skip else await reconciler.reconcile(key)
            except Conflict as exc:
                outcome = "conflict"
                delay = self.queue.add_rate_limited(item)
                log.info("write conflict, requeued in %.3fs: %s", delay, exc.message)
            except Exception as exc:
                outcome = "error"
                self.last_errors[item] = f"{type(exc).__name__}: {exc}"
                self.metrics.reconcile_errors.labels(name).inc()
                delay = self.queue.add_rate_limited(item)
                log.exception("reconcile failed; retrying in %.3fs", delay)
            else:
                self.queue.forget(item)
                self.last_errors.pop(item, None)
                outcome = "paused" if skip else self._follow(item, result)
            finally:
                self.metrics.reconcile_duration.labels(name).observe(time.perf_counter() - started)
        self.metrics.reconciles.labels(name, outcome).inc()
        return outcome

    def _follow(self, item: WorkItem, result: Result | None) -> Outcome:
        """Requeue `item` as a successful reconcile's result asks."""
        if result is None:
            self.retries.pop(item, None)
            return "success"
        if result.backoff is not None:
            attempt = self.retries.get(item, 0) + 1
            self.retries[item] = attempt
            self.queue.add_after(item, max(result.backoff.delay(attempt), result.at_least))
            return "retry"
        self.retries.pop(item, None)
        if result.requeue_after is not None:
            self.queue.add_after(item, result.requeue_after)
            return "requeue"
        return "terminal" if result.terminal_reason is not None else "success"

    # --- running ---

    @property
    def ready(self) -> bool:
        """Caches synced (a follower is ready too: it can take over at once)."""
        return self.store.has_synced

    async def run(self) -> None:
        """Run until `stop()`; raises LeadershipLost if the lease could not be renewed."""
        elect: asyncio.Task[None] | None = None
        try:
            await self.store.start()
            if not await self._until_stopped(self.store.wait_synced()):
                return
            log.info("caches synced", extra={"controllers": sorted(self.reconcilers)})
            if self.elector is not None:
                elect = asyncio.create_task(self.elector.run(), name="leader-election")
                if not await self._until_stopped(self.elector.acquired.wait()):
                    return
            self.leading = True
            self.requeue_all()
            self._workers = [
                asyncio.create_task(self._worker(), name=f"worker-{i}") for i in range(self.concurrency)
            ]
            if self.resync_period:
                self._resync_task = asyncio.create_task(self._resync(self.resync_period), name="resync")
            lost = self.elector.lost.wait() if self.elector is not None else asyncio.Event().wait()
            if not await self._until_stopped(lost):
                await self._drain_workers()
                return
            await self._cancel_workers()
            raise LeadershipLost("leader lease lost: stopped reconciling")
        finally:
            self.leading = False
            await self._cancel_workers()
            if elect is not None:
                elect.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await elect
            if self.elector is not None:
                await self.elector.release()
            await self.store.stop()

    def stop(self) -> None:
        """Ask `run` to finish gracefully."""
        self._stop.set()

    async def _until_stopped(self, aw: Any) -> bool:
        """Await `aw` unless `stop()` comes first; True if `aw` finished."""
        task = asyncio.ensure_future(aw)
        stopper = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not task.done():
                task.cancel()
        if task.done() and not task.cancelled():
            task.result()  # re-raise its error, if any
            return True
        return False

    async def _worker(self) -> None:
        while True:
            try:
                item = await self.queue.get()
            except ShutDown:
                return
            try:
                await self.process(item)
            finally:
                self.queue.done(item)

    async def _resync(self, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            self.requeue_all()

    async def _drain_workers(self) -> None:
        """Let in-flight reconciles finish (at most `shutdown_grace` s), start no new ones."""
        self.queue.shutdown()
        if self._workers:
            await asyncio.wait(self._workers, timeout=self.shutdown_grace)

    async def _cancel_workers(self) -> None:
        self.queue.shutdown()
        if self._resync_task is not None:
            self._workers.append(self._resync_task)
            self._resync_task = None
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []
