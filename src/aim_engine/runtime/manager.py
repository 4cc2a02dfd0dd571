"""The Manager: turns store changes into work-queue keys and runs reconcilers over them.

Life of a Manager (`run`):
1. start the store's caches and wait until every watched kind is listed (events already
   fill the queue meanwhile: dedup keeps it at one entry per key);
2. with leader election, wait to become leader (a follower keeps its caches warm);
3. enqueue every primary key once, then run `concurrency` workers;
4. on `stop`: workers finish their current reconcile (bounded by `shutdown_grace`), the
   lease is released, the caches stop. On a lost lease: workers are cancelled at once and
   `run` raises `LeadershipLost` (the process should exit, as controller-runtime does).

Reconcile outcomes: a `Result(requeue_after=s)` requeues the key after s seconds; None
waits for the next change; an exception requeues with per-key exponential backoff (reset
by the next success); `Conflict` (a stale write) requeues at once through the same rate
limiter, without logging an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from aim_engine.api.meta import KubeObject, ObjectKey
from aim_engine.runtime.errors import Conflict, LeadershipLost
from aim_engine.runtime.leader import LeaderElector
from aim_engine.runtime.logs import reconcile_context
from aim_engine.runtime.metrics import RuntimeMetrics, WorkItem
from aim_engine.runtime.reconciler import Reconciler, Result, Watch
from aim_engine.runtime.resources import group_of
from aim_engine.runtime.store import ChangeEvent, Store
from aim_engine.runtime.workqueue import ExponentialBackoff, ShutDown, WorkQueue

log = logging.getLogger(__name__)

Outcome = Literal["success", "requeue", "error", "conflict"]


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


def status_only(old: KubeObject, new: KubeObject) -> bool:
    """Whether only the status (and bookkeeping: resourceVersion, managedFields) differs, as
    controller-runtime's GenerationChangedPredicate judges it: same generation, and the same
    labels, annotations, owners, finalizers, deletion mark and writers (manager and version).
    Kinds without a generation (core objects) never count as status-only."""
    a, b = old.metadata, new.metadata
    if a.generation is None or a.generation != b.generation:
        return False
    return (
        a.labels == b.labels
        and a.annotations == b.annotations
        and a.owner_references == b.owner_references
        and a.finalizers == b.finalizers
        and a.deletion_timestamp == b.deletion_timestamp
        and _writers(old) == _writers(new)
    )


def _writers(obj: KubeObject) -> set[tuple[object, object, object]]:
    """Who wrote the object (not its status), and in which API version: a re-apply of the same
    spec in another version changes nothing else, and is still news (v1alpha2 models)."""
    entries = (obj.metadata.model_extra or {}).get("managedFields") or ()
    return {
        (e.get("manager"), e.get("operation"), e.get("apiVersion"))
        for e in entries
        if isinstance(e, dict) and not e.get("subresource")
    }


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
        # Indexes first: mappers (of any reconciler) may query them while subscriptions
        # replay objects already cached.
        for reconciler in reconcilers:
            for index in reconciler.indexes:
                store.add_index(index.kind, index.name, index.fn)
        for reconciler in reconcilers:
            self._subscribe(reconciler)
        self._stop = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._resync_task: asyncio.Task[None] | None = None
        self.leading = False
        self.last_errors: dict[WorkItem, str] = {}
        """The last exception of each item whose latest reconcile failed."""

    # --- wiring ---

    def _subscribe(self, r: Reconciler) -> None:
        name = r.name

        def primary(event: ChangeEvent[Any]) -> None:
            if event.type == "MODIFIED" and event.old is not None and status_only(event.old, event.obj):
                return  # our own status write (or someone's): nothing a reconcile reads changed
            self.queue.add((name, event.obj.key))

        def owned(event: ChangeEvent[Any]) -> None:
            keys = owner_keys(r.kind, event.obj)
            if event.old is not None:
                keys += owner_keys(r.kind, event.old)
            self._add_all(name, keys)

        def mapped(watch: Watch[Any]) -> Any:
            def handler(event: ChangeEvent[Any]) -> None:
                keys = list(watch.mapper(event.obj))
                if event.old is not None and event.type == "MODIFIED":
                    keys += watch.mapper(event.old)
                self._add_all(name, keys)

            return handler

        self.store.subscribe(r.kind, primary)
        for kind in r.owns:
            self.store.subscribe(kind, owned)
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
            try:
                result = await reconciler.reconcile(key)
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
                if isinstance(result, Result) and result.requeue_after is not None:
                    outcome = "requeue"
                    self.queue.add_after(item, result.requeue_after)
                else:
                    outcome = "success"
            finally:
                self.metrics.reconcile_duration.labels(name).observe(time.perf_counter() - started)
        self.metrics.reconciles.labels(name, outcome).inc()
        return outcome

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
