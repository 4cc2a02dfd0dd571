"""An informer: keeps a `KindCache` equal to the API server's objects of one kind.

LIST (paged) then WATCH from the list's resourceVersion with bookmarks, so a reconnect
resumes exactly where the stream stopped and no event is lost. The watch is re-opened when
the server ends it (timeoutSeconds, jittered so informers do not reconnect in lockstep),
after errors with capped exponential backoff, and replaced by a fresh LIST when the server
answers 410 Gone (the resourceVersion was compacted away); the LIST is diffed against the
cache, so objects deleted meanwhile still produce DELETED notifications.

Each object is decoded once per event (msgspec, then the kind's pydantic model). An object
that does not parse is logged with its key and kept out of the cache; it never stops the
informer. Of metadata.managedFields only our own field manager's Apply entry is kept (what
`Store.apply` compares against); the rest would only cost memory.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any, Generic

import msgspec
from pydantic import ValidationError

from aim_engine.api.meta import ObjectKey
from aim_engine.runtime.cache import KindCache, rv_newer
from aim_engine.runtime.errors import ApiError, Gone
from aim_engine.runtime.kube_api import KubeApi, status_error
from aim_engine.runtime.metrics import RuntimeMetrics
from aim_engine.runtime.resources import collection_path
from aim_engine.runtime.store import K
from aim_engine.runtime.workqueue import ExponentialBackoff

log = logging.getLogger(__name__)

_decode_any = msgspec.json.Decoder()
_encode = msgspec.json.encode


class _ListMeta(msgspec.Struct):
    resourceVersion: str = ""
    continue_: str = msgspec.field(name="continue", default="")


class _List(msgspec.Struct):
    # null, not [], in an empty PartialObjectMetadataList
    items: list[msgspec.Raw] | None = None
    metadata: _ListMeta = msgspec.field(default_factory=_ListMeta)


class _WatchEvent(msgspec.Struct):
    type: str
    object: msgspec.Raw


_decode_list = msgspec.json.Decoder(_List)
_decode_event = msgspec.json.Decoder(_WatchEvent)


_SHARED_FIELD_SETS: dict[bytes, Any] = {}
_SHARED_FIELD_SETS_MAX = 4096


def shared_field_set(fields: Any) -> Any:
    """One object for equal field sets. The templates of one model own the same fields (their
    keys name fields, not values, and they share the owner reference), so the cache keeps one
    tree per model instead of one per template: about 3.7 KB of a template's 19.5 KB.
    The trees are never modified in place. The table is emptied when full (the trees in use
    stay where they are; only sharing with them ends)."""
    if not isinstance(fields, dict):
        return fields
    key = _encode(fields)
    found = _SHARED_FIELD_SETS.get(key)
    if found is None:
        if len(_SHARED_FIELD_SETS) >= _SHARED_FIELD_SETS_MAX:
            _SHARED_FIELD_SETS.clear()
        _SHARED_FIELD_SETS[key] = found = fields
    return found


def slim_managed_fields(data: dict[str, Any], manager: str) -> None:
    """Keep (in place) only what the operator reads of managedFields, which is about a quarter
    of a cached object's memory otherwise: `manager`'s Apply entry on the main resource, reduced
    to manager, operation and fieldsV1 (what `Store.apply` compares against); and of every other
    manager's main-resource entry, manager, operation, apiVersion and time, with
    `fieldsV1: {"f:spec": {}}` when it owns part of the spec (what `catalog.api_version` reads
    to tell which version a user declared the object in)."""
    meta = data.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return
    kept = []
    for e in meta["managedFields"] or ():
        if not isinstance(e, dict) or e.get("subresource"):
            continue
        if e.get("manager") == manager:
            if e.get("operation") == "Apply":
                fields = shared_field_set(e.get("fieldsV1"))
                kept.append({"manager": manager, "operation": "Apply", "fieldsV1": fields})
            continue
        other = {k: e[k] for k in ("manager", "operation", "apiVersion", "time") if k in e}
        fields = e.get("fieldsV1")
        if isinstance(fields, dict) and "f:spec" in fields:
            other["fieldsV1"] = {"f:spec": {}}
        kept.append(other)
    if kept:
        meta["managedFields"] = kept
    else:
        del meta["managedFields"]


# Metadata-only LIST and WATCH (kinds with METADATA_ONLY), as client-go's metadata informers ask.
PARTIAL_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
PARTIAL_OBJECT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
_PARTIAL_KEPT = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp")


def expired(exc: ApiError) -> bool:
    """The resourceVersion we continue from is gone: only a fresh LIST helps. Servers say so
    with 410 (reasons Gone or Expired), some older ones only in the message."""
    return (
        isinstance(exc, Gone)
        or exc.reason in ("Expired", "Gone")
        or "too old resource version" in exc.message
    )


def raw_key(data: dict[str, Any]) -> tuple[ObjectKey, str | None]:
    meta = data.get("metadata") or {}
    return ObjectKey(meta.get("namespace") or "", meta.get("name") or ""), meta.get("resourceVersion")


class Informer(Generic[K]):
    def __init__(
        self,
        api: KubeApi,
        cache: KindCache[K],
        *,
        field_manager: str,
        metrics: RuntimeMetrics,
        page_size: int = 500,
        watch_timeout: float = 300.0,
        backoff: ExponentialBackoff | None = None,
    ) -> None:
        self._api = api
        self.cache = cache
        self._kind = cache.kind
        self._field_manager = field_manager
        self._metrics = metrics
        self._page_size = page_size
        self._watch_timeout = watch_timeout
        self._backoff = backoff or ExponentialBackoff(initial=0.2, cap=5.0)
        self._path = collection_path(self._kind)
        metadata_only = self._kind.METADATA_ONLY
        self._list_accept = PARTIAL_LIST if metadata_only else None
        self._watch_accept = PARTIAL_OBJECT if metadata_only else None
        self._selector = {
            param: value
            for param, value in (
                ("labelSelector", self._kind.LABEL_SELECTOR),
                ("fieldSelector", self._kind.FIELD_SELECTOR),
            )
            if value
        }
        self.resource_version: str | None = None
        self.synced = asyncio.Event()

    # --- decoding ---

    def parse(self, data: dict[str, Any]) -> K | None:
        """The typed object, or None (logged) when it does not fit the kind's model."""
        slim_managed_fields(data, self._field_manager)
        if self._kind.METADATA_ONLY:
            # PartialObjectMetadata: the object's own apiVersion/kind, and nothing kept that a
            # reconcile does not read (a Secret's annotations may hold its values).
            data["apiVersion"], data["kind"] = self._kind.API_VERSION, self._kind.KIND
            meta = data.get("metadata") or {}
            data["metadata"] = {k: meta[k] for k in _PARTIAL_KEPT if k in meta}
        # Items of a LIST of built-in kinds come without apiVersion and kind.
        data.setdefault("apiVersion", self._kind.API_VERSION)
        data.setdefault("kind", self._kind.KIND)
        try:
            return self._kind.model_validate(data)
        except ValidationError as exc:
            key, _ = raw_key(data)
            self._metrics.parse_errors.labels(self.cache.label).inc()
            log.error(
                "object does not match its schema; left out of the cache: %s",
                exc.errors(include_url=False, include_input=False)[:5],
                extra={"kind": self.cache.label, "object": str(key)},
            )
            return None

    # --- main loop ---

    async def run(self) -> None:
        """List and watch until cancelled."""
        failures = 0
        while True:
            try:
                if self.resource_version is None:
                    await self._list()
                started = time.monotonic()
                await self._watch()
                # A stream the server closes at once, again and again, is a failure too.
                failures = 0 if time.monotonic() - started > 1.0 else failures + 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, ApiError) and expired(exc):
                    log.info("watch expired (%s); relisting", exc, extra={"kind": self.cache.label})
                    self.resource_version = None
                    continue
                failures += 1
                self._metrics.watch_errors.labels(self.cache.label).inc()
                log.warning(
                    "list/watch failed (%s: %s); retrying",
                    type(exc).__name__,
                    exc,
                    extra={"kind": self.cache.label, "attempt": failures},
                )
            if failures:
                await asyncio.sleep(self._backoff.delay(failures - 1))

    async def _list(self) -> None:
        objects: list[K] = []
        params = {"limit": str(self._page_size), **self._selector}
        while True:
            raw_page = await self._api.request("GET", self._path, params=params, accept=self._list_accept)
            page = _decode_list.decode(raw_page)
            for raw in page.items or ():
                obj = self.parse(_decode_any.decode(raw))
                if obj is not None:
                    objects.append(obj)
            if not page.metadata.continue_:
                break
            params = {"limit": str(self._page_size), "continue": page.metadata.continue_, **self._selector}
        version = page.metadata.resourceVersion or None
        changes = self.cache.replace_all(objects, version)
        self.resource_version = version
        self._metrics.relists.labels(self.cache.label).inc()
        self._metrics.cache_objects.labels(self.cache.label).set(len(self.cache))
        log.debug(
            "listed %d objects (%d changes) at resourceVersion %s",
            len(objects),
            changes,
            version,
            extra={"kind": self.cache.label},
        )
        self.synced.set()

    async def _watch(self) -> None:
        timeout = int(self._watch_timeout * random.uniform(0.9, 1.1))
        params = {
            "watch": "1",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout),
            "resourceVersion": self.resource_version or "",
            **self._selector,
        }
        # The read timeout only guards against a silently dead connection: bookmarks (about
        # once a minute) and the server-side timeout end healthy streams well before it.
        async with self._api.stream(
            self._path, params, read_timeout=timeout + 60.0, accept=self._watch_accept
        ) as lines:
            async for line in lines:
                if line:
                    self._handle(_decode_event.decode(line))

    def _handle(self, event: _WatchEvent) -> None:
        if event.type == "ERROR":
            raise status_error(500, bytes(event.object))
        data = _decode_any.decode(event.object)
        key, version = raw_key(data)
        if event.type == "BOOKMARK":
            self.resource_version = version or self.resource_version
            return
        cached = self.cache.get(key)
        if event.type == "DELETED":
            self.cache.remove(key, self.parse(data))
        elif cached is None or rv_newer(version, cached.metadata.resource_version):
            # Not newer: our own write, already in the cache through `Store.apply`.
            obj = self.parse(data)
            if obj is not None:
                self.cache.put(obj)
            elif cached is not None:
                self.cache.remove(key, notify=False)
        self.resource_version = version or self.resource_version
        self._metrics.cache_objects.labels(self.cache.label).set(len(self.cache))
