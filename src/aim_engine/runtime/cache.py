"""The typed object cache of one kind, shared by the informers (KubeStore) and MemoryStore:
objects by key and by namespace, indexes, and change notification to subscribers; and
`CachedStore`, the Store reads both implementations answer from these caches."""

from __future__ import annotations

import builtins
import logging
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic

from aim_engine.api.meta import KubeObject, ObjectKey
from aim_engine.runtime.errors import KindNotWatched
from aim_engine.runtime.fields_sets import share_fields_sets
from aim_engine.runtime.resources import kind_label, object_key
from aim_engine.runtime.store import ChangeEvent, IndexFunc, K, Store

log = logging.getLogger(__name__)


def rv_newer(candidate: str | None, current: str | None) -> bool:
    """Whether `candidate` is a later resourceVersion than `current`.

    resourceVersions are opaque to clients, but every etcd-backed API server uses the etcd
    revision (a decimal integer); comparing them lets write-through results and watch
    events arrive in either order. Anything non-numeric counts as newer (the safe answer:
    take the update).
    """
    if candidate is None or current is None:
        return True
    if candidate.isdigit() and current.isdigit():
        return int(candidate) > int(current)
    return candidate != current


MAX_TOMBSTONES = 10_000
"""Deleted keys remembered per kind (oldest forgotten first): enough for the writes in flight."""


@dataclass
class _Index(Generic[K]):
    fn: IndexFunc[K]
    keys_by_value: dict[str, set[ObjectKey]] = field(default_factory=dict)
    values_by_key: dict[ObjectKey, tuple[str, ...]] = field(default_factory=dict)

    def put(self, key: ObjectKey, obj: K) -> None:
        self.drop(key)
        values = tuple(dict.fromkeys(self.fn(obj)))
        if values:
            self.values_by_key[key] = values
            for value in values:
                self.keys_by_value.setdefault(value, set()).add(key)

    def drop(self, key: ObjectKey) -> None:
        for value in self.values_by_key.pop(key, ()):
            keys = self.keys_by_value[value]
            keys.discard(key)
            if not keys:
                del self.keys_by_value[value]


class KindCache(Generic[K]):
    """Objects of one kind. Every mutation goes through `put`/`remove`/`replace_all`, which
    keep the namespace buckets and indexes current and notify subscribers."""

    def __init__(self, kind: type[K]) -> None:
        self.kind = kind
        self.label = kind_label(kind)
        self._objects: dict[ObjectKey, K] = {}
        self._by_namespace: dict[str, dict[ObjectKey, K]] = {}
        self._indexes: dict[str, _Index[K]] = {}
        self._handlers: list[Callable[[ChangeEvent[K]], None]] = []
        # Recently deleted keys with the resourceVersion of their deletion. A write's response
        # can arrive after the watch has already reported the object deleted (the status write
        # of a template that is pruned meanwhile); putting it then would resurrect a ghost that
        # no event ever removes.
        self._tombstones: OrderedDict[ObjectKey, str] = OrderedDict()
        self.synced = False

    def __len__(self) -> int:
        return len(self._objects)

    # --- registration ---

    def subscribe(self, handler: Callable[[ChangeEvent[K]], None]) -> None:
        self._handlers.append(handler)
        for obj in self._sorted(self._objects.values()):
            self._call(handler, ChangeEvent("ADDED", obj))

    def add_index(self, name: str, fn: IndexFunc[K]) -> None:
        if name in self._indexes:
            raise ValueError(f"index {name!r} of {self.label} is already registered")
        index = _Index(fn)
        for key, obj in self._objects.items():
            index.put(key, obj)
        self._indexes[name] = index

    # --- reads ---

    def get(self, key: ObjectKey) -> K | None:
        return self._objects.get(key)

    def keys(self) -> list[ObjectKey]:
        return list(self._objects)

    def select(
        self,
        namespace: str | None = None,
        labels: Mapping[str, str] | None = None,
        index: tuple[str, str] | None = None,
    ) -> list[K]:
        candidates: Iterable[K]
        if index is not None:
            name, value = index
            idx = self._indexes.get(name)
            if idx is None:
                raise KeyError(f"no index {name!r} registered for {self.label}")
            candidates = (self._objects[k] for k in idx.keys_by_value.get(value, ()))
            if namespace is not None and self.kind.NAMESPACED:
                candidates = (o for o in candidates if (o.metadata.namespace or "") == namespace)
        elif namespace is not None and self.kind.NAMESPACED:
            candidates = self._by_namespace.get(namespace, {}).values()
        else:
            candidates = self._objects.values()
        if labels:
            wanted = labels.items()
            candidates = (o for o in candidates if wanted <= o.labels.items())
        return self._sorted(candidates)

    @staticmethod
    def _sorted(objs: Iterable[K]) -> list[K]:
        return sorted(objs, key=lambda o: o.key)

    # --- mutation ---

    def put(self, obj: K, *, notify: bool = True) -> ChangeEvent[K] | None:
        """Insert or replace; ignored (None) when the cached version is not older."""
        key = obj.key
        old = self._objects.get(key)
        version = obj.metadata.resource_version
        if old is not None and not rv_newer(version, old.metadata.resource_version):
            return None
        if old is None and key in self._tombstones:
            if not rv_newer(version, self._tombstones[key]):
                return None  # an older version of an object deleted since
            del self._tombstones[key]
        # Cached objects are shared and never changed in place; sharing their fields sets
        # saves about half of pydantic's overhead per object (and enforces that rule).
        share_fields_sets(obj)
        self._objects[key] = obj
        self._by_namespace.setdefault(key.namespace, {})[key] = obj
        for index in self._indexes.values():
            self._index_put(index, key, obj)
        event: ChangeEvent[K] = ChangeEvent("MODIFIED" if old is not None else "ADDED", obj, old)
        if notify:
            self._emit(event)
        return event

    def remove(self, key: ObjectKey, last: K | None = None, *, notify: bool = True) -> ChangeEvent[K] | None:
        """Drop `key`; `last` is the final state when the caller has it (a DELETED event)."""
        old = self._objects.pop(key, None)
        if old is None:
            return None
        deleted_at = (last or old).metadata.resource_version
        if deleted_at is not None:
            self._tombstones[key] = deleted_at
            self._tombstones.move_to_end(key)
            while len(self._tombstones) > MAX_TOMBSTONES:
                self._tombstones.popitem(last=False)
        bucket = self._by_namespace.get(key.namespace)
        if bucket is not None:
            bucket.pop(key, None)
            if not bucket:
                del self._by_namespace[key.namespace]
        for index in self._indexes.values():
            index.drop(key)
        event: ChangeEvent[K] = ChangeEvent("DELETED", last or old, old)
        if notify:
            self._emit(event)
        return event

    def replace_all(self, objs: Iterable[K], list_version: str | None) -> int:
        """Make the cache equal to a fresh LIST; notify only what differs. Objects cached at a
        version newer than the list (written through after the list was taken) are kept.
        Returns the number of changes."""
        fresh = {o.key: o for o in objs}
        self._tombstones.clear()  # a fresh list is the whole truth as of its version
        changes = 0
        for key in list(self._objects):
            if key not in fresh:
                current = self._objects[key]
                if list_version is None or not rv_newer(current.metadata.resource_version, list_version):
                    changes += self.remove(key) is not None
        for obj in fresh.values():
            changes += self.put(obj) is not None
        self.synced = True
        return changes

    def _index_put(self, index: _Index[K], key: ObjectKey, obj: K) -> None:
        try:
            index.put(key, obj)
        except Exception:
            # A faulty index function must not take the informer down with it.
            log.exception("index function failed", extra={"kind": self.label, "object": str(key)})
            index.drop(key)

    def _emit(self, event: ChangeEvent[K]) -> None:
        for handler in self._handlers:
            self._call(handler, event)

    def _call(self, handler: Callable[[ChangeEvent[K]], None], event: ChangeEvent[K]) -> None:
        try:
            handler(event)
        except Exception:
            log.exception(
                "change handler failed",
                extra={"kind": self.label, "object": str(event.obj.key), "change": event.type},
            )


class CachedStore(Store):
    """Registration and reads over one `KindCache` per watched kind. Subclasses create the
    caches in `watch` (and fill them: informers, or the stored objects)."""

    def __init__(self) -> None:
        self._caches: dict[type[KubeObject], KindCache[Any]] = {}

    @abstractmethod
    def watch(self, kind: type[KubeObject]) -> None: ...

    def subscribe(self, kind: type[K], handler: Callable[[ChangeEvent[K]], None]) -> None:
        self.watch(kind)
        self._caches[kind].subscribe(handler)

    def add_index(self, kind: type[K], name: str, fn: IndexFunc[K]) -> None:
        self.watch(kind)
        self._caches[kind].add_index(name, fn)

    def get(self, kind: type[K], name: str, namespace: str | None = None) -> K | None:
        return self._cache(kind).get(object_key(kind, name, namespace))

    def list(
        self,
        kind: type[K],
        namespace: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        index: tuple[str, str] | None = None,
    ) -> builtins.list[K]:
        return self._cache(kind).select(namespace, labels, index)

    def _cache(self, kind: type[K]) -> KindCache[K]:
        cache = self._caches.get(kind)
        if cache is None:
            raise KindNotWatched(
                f"{kind_label(kind)} is not watched: register it through a reconciler (kind, owns, "
                "watches) or Store.watch before the store starts"
            )
        return cache

    def _cached(self, kind: type[K], key: ObjectKey) -> K | None:
        """The cached object, None when absent or when the kind is not watched."""
        cache: KindCache[K] | None = self._caches.get(kind)
        return cache.get(key) if cache is not None else None
