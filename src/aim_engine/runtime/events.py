"""Kubernetes Events, posted in the background.

`EventRecorder.record` only builds the Event and queues it; a background task posts it. A
reconciler therefore never waits for, nor fails because of, an event. Like client-go's
recorder, it is lossy on purpose: a token bucket bounds the rate, identical events (same
object, type, reason and message) within `dedupe_window` are sent once, and when the queue
is full new events are dropped (and counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aim_engine.api.meta import KubeObject
from aim_engine.runtime.metrics import RuntimeMetrics
from aim_engine.runtime.store import FIELD_MANAGER, EventType

log = logging.getLogger(__name__)

MAX_MESSAGE = 1024
EventSink = Callable[[str, dict[str, Any]], Awaitable[None]]
"""Posts one Event body into a namespace."""


def build_event(
    obj: KubeObject,
    type: EventType,
    reason: str,
    message: str,
    *,
    component: str = FIELD_MANAGER,
    instance: str | None = None,
    now: datetime | None = None,
) -> tuple[str, dict[str, Any]]:
    """(namespace, core v1 Event body) about `obj`. Events about cluster-scoped objects go
    to "default", as kubectl and client-go expect."""
    namespace = obj.metadata.namespace or "default"
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    involved = {
        "apiVersion": obj.API_VERSION,
        "kind": obj.KIND,
        "name": obj.name,
        "uid": obj.metadata.uid,
        "resourceVersion": obj.metadata.resource_version,
    }
    if obj.metadata.namespace:
        involved["namespace"] = obj.metadata.namespace
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{obj.name}.{uuid.uuid4().hex[:16]}", "namespace": namespace},
        "involvedObject": {k: v for k, v in involved.items() if v},
        "type": type,
        "reason": reason,
        "message": message,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": instance or socket.gethostname(),
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
    return namespace, body


class TokenBucket:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class EventRecorder:
    def __init__(
        self,
        sink: EventSink,
        *,
        metrics: RuntimeMetrics,
        component: str = FIELD_MANAGER,
        instance: str | None = None,
        rate: float = 5.0,
        burst: int = 25,
        dedupe_window: float = 600.0,
        max_queue: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink = sink
        self._metrics = metrics
        self._component = component
        self._instance = instance or os.environ.get("POD_NAME") or socket.gethostname()
        self._bucket = TokenBucket(rate, burst, clock)
        self._dedupe_window = dedupe_window
        self._recent: OrderedDict[tuple[str, ...], float] = OrderedDict()
        self._clock = clock
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None

    def record(self, obj: KubeObject, type: EventType, reason: str, message: str) -> None:
        try:
            self._record(obj, type, reason, message)
        except Exception:
            log.exception("could not record event", extra={"reason": reason})

    def _record(self, obj: KubeObject, type: EventType, reason: str, message: str) -> None:
        now = self._clock()
        ident = (obj.metadata.uid or str(obj.key), obj.KIND, type, reason, message)
        seen = self._recent.get(ident)
        if seen is not None and now - seen < self._dedupe_window:
            self._metrics.events_dropped.labels("duplicate").inc()
            return
        if not self._bucket.take():
            self._metrics.events_dropped.labels("rate_limited").inc()
            return
        self._recent[ident] = now
        self._recent.move_to_end(ident)
        while len(self._recent) > 4096:
            self._recent.popitem(last=False)
        event = build_event(obj, type, reason, message, component=self._component, instance=self._instance)
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self._metrics.events_dropped.labels("queue_full").inc()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name="event-recorder")

    async def stop(self, flush_timeout: float = 1.0) -> None:
        """Post what is queued (for at most `flush_timeout` s), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), flush_timeout)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _drain(self) -> None:
        while True:
            namespace, body = await self._queue.get()
            try:
                await self._sink(namespace, body)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._metrics.events_dropped.labels("api_error").inc()
                log.warning("event not posted: %s", exc, extra={"reason": body.get("reason")})
            finally:
                self._queue.task_done()
