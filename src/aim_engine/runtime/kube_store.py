"""The Store on a real API server: informer caches for reads, direct requests for writes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec

from aim_engine.api.core import Event, Secret
from aim_engine.api.meta import KubeObject, ObjectKey
from aim_engine.runtime.cache import CachedStore, KindCache
from aim_engine.runtime.errors import Conflict, NotFound
from aim_engine.runtime.events import EventRecorder
from aim_engine.runtime.fields import (
    apply_body_of,
    deep_equal,
    is_apply_noop,
    merge_patch,
    status_dump,
)
from aim_engine.runtime.informer import Informer, raw_key, slim_managed_fields
from aim_engine.runtime.kube_api import APPLY_PATCH, MERGE_PATCH, KubeApi
from aim_engine.runtime.metrics import RuntimeMetrics
from aim_engine.runtime.resources import collection_path, kind_label, object_key, object_path
from aim_engine.runtime.store import FIELD_MANAGER, EventType, K

log = logging.getLogger(__name__)

_decode = msgspec.json.Decoder()


def live_dump(obj: KubeObject) -> dict[str, Any]:
    return obj.model_dump(by_alias=True, exclude_unset=True, mode="json")


class KubeStore(CachedStore):
    """Store backed by a cluster.

    Every kind a reconciler needs is cached cluster-wide by an informer (registered through
    `watch`, `subscribe` or by the Manager); `start` launches them and `wait_synced` waits
    for their first LIST. Write results are written through to the cache at once (when
    newer than what it holds), so a reconcile that runs before the watch event arrives
    still sees its own writes.
    """

    def __init__(
        self,
        api: KubeApi,
        *,
        metrics: RuntimeMetrics | None = None,
        field_manager: str = FIELD_MANAGER,
        watch_timeout: float = 300.0,
        event_instance: str | None = None,
    ) -> None:
        super().__init__()
        self.api = api
        self.metrics = metrics or RuntimeMetrics.default()
        self.field_manager = field_manager
        self._watch_timeout = watch_timeout
        self._informers: dict[type[KubeObject], Informer[Any]] = {}
        self._tasks: dict[type[KubeObject], asyncio.Task[None]] = {}
        self._started = False
        self.events = EventRecorder(
            self._post_event, metrics=self.metrics, component=field_manager, instance=event_instance
        )

    # --- registration ---

    def watch(self, kind: type[KubeObject]) -> None:
        if kind in self._caches:
            return
        if kind is Secret:
            raise ValueError("secrets are never cached cluster-wide; use read_secret")
        cache: KindCache[Any] = KindCache(kind)
        self._caches[kind] = cache
        self._informers[kind] = Informer(
            self.api,
            cache,
            field_manager=self.field_manager,
            metrics=self.metrics,
            watch_timeout=self._watch_timeout,
        )
        if self._started:
            self._start_informer(kind)

    async def read_secret(self, namespace: str, name: str) -> Secret | None:
        try:
            raw = await self.api.request("GET", object_path(Secret, object_key(Secret, name, namespace)))
        except NotFound:
            return None
        return Secret.model_validate_json(raw)

    async def exists(self, kind: type[KubeObject], name: str, namespace: str | None = None) -> bool:
        try:
            await self.api.request("GET", object_path(kind, object_key(kind, name, namespace)))
        except NotFound:
            return False
        return True

    # --- writes ---

    async def apply(self, obj: K, *, owner: KubeObject | None = None) -> K:
        kind = type(obj)
        body = apply_body_of(obj, owner)
        key = object_key(kind, obj.name, obj.namespace)
        live = self._cached(kind, key)
        if live is not None and is_apply_noop(body, live_dump(live), self.field_manager):
            self.metrics.api_writes_skipped.labels("apply", kind.KIND).inc()
            return live
        params = {"fieldManager": self.field_manager, "force": "true"}
        self.metrics.api_writes.labels("apply", kind.KIND).inc()
        raw = await self.api.request(
            "PATCH", object_path(kind, key), params=params, body=body, content_type=APPLY_PATCH
        )
        return self._absorb(kind, raw)

    async def apply_status(self, obj: K) -> K:
        kind = type(obj)
        key = object_key(kind, obj.name, obj.namespace)
        try:
            return await self._write_status(kind, key, obj)
        except NotFound:
            raise Conflict.deleted(f"{kind.KIND} {key}") from None

    async def _write_status(self, kind: type[K], key: ObjectKey, obj: K) -> K:
        desired = status_dump(obj)
        live = self._cached(kind, key)
        if live is None:
            # Not cached (yet): read it, to diff against and to know its version.
            live = kind.model_validate_json(await self.api.request("GET", object_path(kind, key)))
        current = status_dump(live)
        if deep_equal(desired, current):
            self.metrics.api_writes_skipped.labels("status", kind.KIND).inc()
            return live
        version = obj.metadata.resource_version or live.metadata.resource_version
        # A merge patch from the cached status to the desired one replaces the status as a
        # whole; the resourceVersion precondition makes it fail with 409 if the object (and
        # so, possibly, its status) changed since it was read.
        patch = {"metadata": {"resourceVersion": version}, "status": merge_patch(current, desired)}
        self.metrics.api_writes.labels("status", kind.KIND).inc()
        raw = await self.api.request(
            "PATCH",
            object_path(kind, key, "status"),
            params={"fieldManager": self.field_manager},
            body=patch,
            content_type=MERGE_PATCH,
        )
        return self._absorb(kind, raw)

    async def delete(self, kind: type[KubeObject], name: str, namespace: str | None = None) -> bool:
        key = object_key(kind, name, namespace)
        self.metrics.api_writes.labels("delete", kind.KIND).inc()
        try:
            await self.api.request(
                "DELETE", object_path(kind, key), params={"propagationPolicy": "Background"}
            )
        except NotFound:
            return False
        return True

    def record_event(self, obj: KubeObject, type: EventType, reason: str, message: str) -> None:
        self.events.record(obj, type, reason, message)

    async def _post_event(self, namespace: str, body: dict[str, Any]) -> None:
        self.metrics.api_writes.labels("event", "Event").inc()
        await self.api.request("POST", collection_path(Event, namespace), body=body)

    def _absorb(self, kind: type[K], raw: bytes) -> K:
        """Parse a write's response and write it through to the cache. When the watch event of
        the write got here first (as often as not under load), the cache already holds this very
        version: it is returned as it is, without validating the response a second time."""
        data = _decode.decode(raw)
        cache: KindCache[K] | None = self._caches.get(kind)
        key, version = raw_key(data)
        cached = cache.get(key) if cache is not None else None
        if cached is not None and version is not None and version == cached.metadata.resource_version:
            return cached
        slim_managed_fields(data, self.field_manager)
        obj = kind.model_validate(data)
        if cache is not None:
            cache.put(obj)
        return obj

    # --- lifecycle ---

    @property
    def has_synced(self) -> bool:
        return all(cache.synced for cache in self._caches.values())

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        for kind in self._caches:
            self._start_informer(kind)
        self.events.start()

    def _start_informer(self, kind: type[KubeObject]) -> None:
        self._tasks[kind] = asyncio.create_task(
            self._informers[kind].run(), name=f"informer:{kind_label(kind)}"
        )

    async def wait_synced(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        waits = asyncio.gather(*(inf.synced.wait() for inf in self._informers.values()))
        await asyncio.wait_for(waits, timeout)

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        await self.events.stop()
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
