"""A Store that is its own API server, in memory: for `aim-engine render` and fast tests.

It behaves like the API server for our kinds, in the ways reconcilers can observe:
- metadata: uid, resourceVersion (one counter for all objects, as etcd's revision),
  generation (1 on create, bumped when anything but metadata and status changes),
  creationTimestamp;
- server-side apply: the applied fields are owned by the field manager (recorded in
  metadata.managedFields in the API server's fieldsV1 encoding), fields it applied before
  and no longer applies are removed, and an apply that changes nothing does not bump the
  resourceVersion. Lists are atomic except metadata.ownerReferences (merged by uid) and
  metadata.finalizers (a set), see `fields.ASSOCIATIVE_LISTS`;
- the status subresource: `apply` never touches status, `apply_status` touches only it and
  fails with Conflict on a stale resourceVersion;
- deletion: finalizers hold an object (deletionTimestamp set) until they are removed;
  dependents whose every owner is gone are deleted (background garbage collection);
- versions: one stored object per group+kind, readable through every registered class of
  that group+kind (conversion strategy None: only apiVersion differs).

Objects are loaded with `load` (dicts or YAML text, as `kubectl create` would) and read back
in wire form with `objects()`. One deliberate difference: `create`/`load` keep a `status`
given in the document (the API server drops it), so tests can seed observed state such as
a Node's capacity.
"""

from __future__ import annotations

import builtins
import collections
import itertools
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec
import yaml
from pydantic import ValidationError

from aim_engine.api.core import Secret
from aim_engine.api.meta import KubeObject, ObjectKey, field_path
from aim_engine.runtime.cache import CachedStore, KindCache
from aim_engine.runtime.errors import Conflict, NotFound
from aim_engine.runtime.events import build_event
from aim_engine.runtime.fields import (
    ASSOCIATIVE_LISTS,
    SERVER_METADATA,
    SET_LISTS,
    FieldsV1,
    apply_body_of,
    build_fields_v1,
    canonical_json,
    deep_equal,
    field_set_view,
    is_apply_noop,
    managed_fields,
    prune_none,
    status_dump,
)
from aim_engine.runtime.metrics import RuntimeMetrics
from aim_engine.runtime.resources import group_of, kind_label, object_key
from aim_engine.runtime.store import FIELD_MANAGER, EventType, K

log = logging.getLogger(__name__)

KindId = tuple[str, str]
"""(API group, kind): the identity of stored objects, whatever version they are read in."""


def kind_id(kind: type[KubeObject]) -> KindId:
    return group_of(kind.API_VERSION), kind.KIND


def _copy(value: Any) -> Any:
    # A JSON round trip is several times faster than copy.deepcopy for these plain trees.
    return msgspec.json.decode(msgspec.json.encode(value))


def _strip_managed(raw: Mapping[str, Any]) -> dict[str, Any]:
    meta = {
        k: v for k, v in (raw.get("metadata") or {}).items() if k not in ("managedFields", "resourceVersion")
    }
    return {**raw, "metadata": meta}


def _spec_part(raw: Mapping[str, Any]) -> dict[str, Any]:
    """What generation tracks: everything but metadata and status."""
    return {k: v for k, v in raw.items() if k not in ("metadata", "status", "apiVersion", "kind")}


CREATOR = "kubectl-create"
"""The field manager `create` and `load` record, as `kubectl create` would."""


class MemoryStore(CachedStore):
    def __init__(
        self,
        kinds: Iterable[type[KubeObject]] = (),
        *,
        field_manager: str = FIELD_MANAGER,
        metrics: RuntimeMetrics | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__()
        self.field_manager = field_manager
        self.metrics = metrics
        self._clock = clock
        self._stored: dict[KindId, dict[ObjectKey, dict[str, Any]]] = {}
        self._views: dict[KindId, list[KindCache[Any]]] = {}
        self._uids: dict[str, tuple[KindId, ObjectKey]] = {}
        self._revision = itertools.count(1)
        self._uid_seq = itertools.count(1)
        self.writes: collections.Counter[tuple[str, str]] = collections.Counter()
        """API-equivalent write requests by (verb, kind): what KubeStore would have sent."""
        self.changes: collections.Counter[tuple[str, ObjectKey]] = collections.Counter()
        """Stored changes (resourceVersion bumps) by (kind, key)."""
        self.events: list[dict[str, Any]] = []
        """Recorded core v1 Event bodies, in order."""
        for kind in kinds:
            self.watch(kind)

    # --- registration ---

    def watch(self, kind: type[KubeObject]) -> None:
        if kind in self._caches:
            return
        cache: KindCache[Any] = KindCache(kind)
        self._caches[kind] = cache
        kid = kind_id(kind)
        self._views.setdefault(kid, []).append(cache)
        for raw in self._stored.get(kid, {}).values():
            obj = self._view(kind, raw)
            if obj is not None:
                cache.put(obj, notify=False)
        cache.synced = True

    def _class_for(self, api_version: str, kind: str) -> type[KubeObject] | None:
        exact = next((c for c in self._caches if api_version == c.API_VERSION and kind == c.KIND), None)
        return exact or next((c for c in self._caches if kind_id(c) == (group_of(api_version), kind)), None)

    # --- reads ---

    async def read_secret(self, namespace: str, name: str) -> Secret | None:
        raw = self._stored.get(kind_id(Secret), {}).get(ObjectKey(namespace, name))
        return None if raw is None else Secret.model_validate(raw)

    async def exists(self, kind: type[KubeObject], name: str, namespace: str | None = None) -> bool:
        return self.get(kind, name, namespace) is not None

    def objects(self, *, managed_fields: bool = False) -> builtins.list[dict[str, Any]]:
        """Every stored object in wire form (copies), ordered by kind, namespace, name."""
        out = []
        for kid in sorted(self._stored):
            for key in sorted(self._stored[kid]):
                raw = _copy(self._stored[kid][key])
                if not managed_fields:
                    raw["metadata"].pop("managedFields", None)
                out.append(raw)
        return out

    # --- loading (kubectl create) ---

    def load(
        self,
        documents: Iterable[Mapping[str, Any]] | str,
        *,
        ignore_unknown: bool = False,
        keep_identity: bool = False,
    ) -> int:
        """Create objects from dicts or a multi-document YAML string; returns how many.

        Each document is validated with its registered class (ValueError naming the object
        otherwise); kinds with no registered class raise unless `ignore_unknown`. With
        `keep_identity`, objects keep the uid, generation and creation time they carry (a
        snapshot of a cluster, whose owner references must still point at their owners).
        """
        docs = [d for d in yaml.safe_load_all(documents) if d] if isinstance(documents, str) else documents
        count = 0
        for doc in docs:
            cls = self._class_for(str(doc.get("apiVersion", "")), str(doc.get("kind", "")))
            name = (doc.get("metadata") or {}).get("name")
            if cls is None:
                if ignore_unknown:
                    continue
                known = ", ".join(sorted(f"{c.API_VERSION}/{c.KIND}" for c in self._caches))
                raise ValueError(
                    f"unknown kind {doc.get('apiVersion')}/{doc.get('kind')} ({name}); known: {known}"
                )
            try:
                obj = cls.model_validate(doc)
            except ValidationError as exc:
                problems = "; ".join(f"{field_path(e['loc'])}: {e['msg']}" for e in exc.errors())
                raise ValueError(f"{cls.KIND} {name} is invalid: {problems}") from exc
            self.create(obj, identity=(doc.get("metadata") or {}) if keep_identity else None)
            count += 1
        return count

    def create(self, obj: KubeObject, *, identity: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Create `obj` as a plain client would (no field ownership); Conflict if it exists.
        `identity`: metadata whose uid, generation and creationTimestamp the object keeps."""
        kind = type(obj)
        key = self._key_of(kind, obj)
        if key in self._stored.get(kind_id(kind), {}):
            raise Conflict(409, "AlreadyExists", f"{kind.KIND} {key} already exists")
        raw = prune_none(obj.dump())
        raw["apiVersion"], raw["kind"] = kind.API_VERSION, kind.KIND
        raw["metadata"] = {k: v for k, v in raw.get("metadata", {}).items() if k not in SERVER_METADATA}
        self._count("create", kind)
        fields = build_fields_v1(field_set_view({k: v for k, v in raw.items() if k != "status"}))
        raw = self._initialise(raw, key)
        # As the API server records a create: an Update entry of the creating client, in the
        # version it wrote (what tells a v1alpha2 model from a v1alpha1 one).
        raw["metadata"]["managedFields"] = [
            {
                "manager": CREATOR,
                "operation": "Update",
                "apiVersion": kind.API_VERSION,
                "time": self._now(),
                "fieldsType": "FieldsV1",
                "fieldsV1": fields,
            }
        ]
        for field in ("uid", "generation", "creationTimestamp", "managedFields"):
            if identity and identity.get(field) is not None:
                raw["metadata"][field] = identity[field]
        return self._put(kind_id(kind), key, raw)

    def update(self, obj: KubeObject) -> dict[str, Any]:
        """Replace the object but its status, as a PUT by another client would (stale
        resourceVersion: Conflict). For tests that change objects behind a reconciler."""
        kind = type(obj)
        kid, key = kind_id(kind), self._key_of(kind, obj)
        live = self._stored.get(kid, {}).get(key)
        if live is None:
            raise NotFound(404, "NotFound", f"{kind.KIND} {key} not found")
        version = obj.metadata.resource_version
        if version and version != live["metadata"]["resourceVersion"]:
            raise Conflict(409, "Conflict", f"{kind.KIND} {key}: object was modified")
        raw = prune_none(obj.dump())
        raw["apiVersion"], raw["kind"] = kind.API_VERSION, kind.KIND
        new_meta = {k: v for k, v in raw.get("metadata", {}).items() if k not in SERVER_METADATA}
        raw["metadata"] = {**{k: v for k, v in live["metadata"].items() if k in SERVER_METADATA}, **new_meta}
        if "status" in live:
            raw["status"] = live["status"]
        else:
            raw.pop("status", None)
        self._count("update", kind)
        return self._commit(kid, key, live, raw)

    # --- writes ---

    async def apply(self, obj: K, *, owner: KubeObject | None = None) -> K:
        kind = type(obj)
        kid, key = kind_id(kind), self._key_of(kind, obj)
        body = apply_body_of(obj, owner)
        live = self._stored.get(kid, {}).get(key)
        if live is not None and is_apply_noop(body, live, self.field_manager):
            self._count("apply", kind, skipped=True)
            return self._require_view(kind, live)
        self._count("apply", kind)
        view = field_set_view(body)
        owned = build_fields_v1(view)
        if live is None:
            raw = self._initialise(_copy(body), key)
        else:
            raw = _copy(live)
            previous = managed_fields(live, self.field_manager) or {}
            _remove_unowned(raw, previous, owned, ())
            _merge(raw, view, ())
        entries = [
            e
            for e in raw["metadata"].get("managedFields") or ()
            if not (
                e.get("manager") == self.field_manager
                and e.get("operation") == "Apply"
                and not e.get("subresource")
            )
        ]
        entries.append(
            {
                "manager": self.field_manager,
                "operation": "Apply",
                "apiVersion": kind.API_VERSION,
                "time": self._now(),
                "fieldsType": "FieldsV1",
                "fieldsV1": owned,
            }
        )
        raw["metadata"]["managedFields"] = entries
        if live is None:
            return self._require_view(kind, self._put(kid, key, raw))
        return self._require_view(kind, self._commit(kid, key, live, raw))

    async def apply_status(self, obj: K) -> K:
        kind = type(obj)
        kid, key = kind_id(kind), self._key_of(kind, obj)
        live = self._stored.get(kid, {}).get(key)
        if live is None:
            raise Conflict.deleted(f"{kind.KIND} {key}")
        desired = status_dump(obj)
        if deep_equal(desired, status_dump(self._require_view(kind, live))):
            self._count("status", kind, skipped=True)
            return self._require_view(kind, live)
        self._count("status", kind)
        version = obj.metadata.resource_version
        if version and version != live["metadata"]["resourceVersion"]:
            raise Conflict(
                409,
                "Conflict",
                f"Operation cannot be fulfilled on {kind.PLURAL} {key.name!r}: object was modified",
            )
        raw = {**live, "metadata": dict(live["metadata"]), "status": _copy(desired)}
        if not desired:
            del raw["status"]
        return self._require_view(kind, self._commit(kid, key, live, raw))

    async def delete(self, kind: type[KubeObject], name: str, namespace: str | None = None) -> bool:
        self._count("delete", kind)
        return self._delete(kind_id(kind), object_key(kind, name, namespace))

    def record_event(self, obj: KubeObject, type: EventType, reason: str, message: str) -> None:
        try:
            self.events.append(
                build_event(obj, type, reason, message, instance="memory", now=self._clock())[1]
            )
        except Exception:  # never raise into a reconciler
            log.exception("could not record event")

    # --- lifecycle: nothing runs in the background ---

    @property
    def has_synced(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def wait_synced(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        return None

    async def stop(self) -> None:
        return None

    # --- internals ---

    def _key_of(self, kind: type[KubeObject], obj: KubeObject) -> ObjectKey:
        if not obj.name:
            raise ValueError(f"{kind.KIND} without metadata.name")
        if kind.NAMESPACED and not obj.namespace:
            raise ValueError(f"{kind.KIND} {obj.name!r} is namespaced and has no metadata.namespace")
        return object_key(kind, obj.name, obj.namespace)

    def _count(self, verb: str, kind: type[KubeObject], *, skipped: bool = False) -> None:
        if not skipped:
            self.writes[verb, kind.KIND] += 1
        if self.metrics is not None:
            counter = self.metrics.api_writes_skipped if skipped else self.metrics.api_writes
            counter.labels(verb, kind.KIND).inc()

    def _now(self) -> str:
        return self._clock().strftime("%Y-%m-%dT%H:%M:%SZ")

    def _initialise(self, raw: dict[str, Any], key: ObjectKey) -> dict[str, Any]:
        meta = raw.setdefault("metadata", {})
        meta["name"] = key.name
        if key.namespace:
            meta["namespace"] = key.namespace
        meta["uid"] = f"00000000-0000-4000-8000-{next(self._uid_seq):012d}"
        if "/" in str(raw.get("apiVersion", "")):
            # Like the API server: custom resources (and grouped kinds) track a generation;
            # core kinds (Node, Secret, ConfigMap) have none.
            meta["generation"] = 1
        meta["creationTimestamp"] = self._now()
        return raw

    def _commit(
        self, kid: KindId, key: ObjectKey, live: dict[str, Any], raw: dict[str, Any]
    ) -> dict[str, Any]:
        """Store a new version of `live`, unless nothing but managedFields timestamps differ:
        like the API server, a write that changes nothing stores nothing."""
        if deep_equal(_strip_managed(raw), _strip_managed(live)) and _same_fields(raw, live):
            return live
        if not deep_equal(_spec_part(raw), _spec_part(live)) and "generation" in live["metadata"]:
            raw["metadata"]["generation"] = int(live["metadata"]["generation"]) + 1
        meta = raw["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._put(kid, key, raw)
            self._delete(kid, key)
            return raw
        return self._put(kid, key, raw)

    def _put(self, kid: KindId, key: ObjectKey, raw: dict[str, Any]) -> dict[str, Any]:
        raw["metadata"]["resourceVersion"] = str(next(self._revision))
        self._stored.setdefault(kid, {})[key] = raw
        self._uids[raw["metadata"]["uid"]] = (kid, key)
        self.changes[kid[1], key] += 1
        for cache in self._views.get(kid, ()):
            obj = self._view(cache.kind, raw)
            if obj is not None:
                cache.put(obj)
        return raw

    def _delete(self, kid: KindId, key: ObjectKey) -> bool:
        live = self._stored.get(kid, {}).get(key)
        if live is None:
            return False
        if live["metadata"].get("finalizers"):
            if not live["metadata"].get("deletionTimestamp"):
                raw = _copy(live)
                raw["metadata"]["deletionTimestamp"] = self._now()
                self._put(kid, key, raw)
            return True
        del self._stored[kid][key]
        uid = live["metadata"]["uid"]
        self._uids.pop(uid, None)
        self.changes[kid[1], key] += 1
        for cache in self._views.get(kid, ()):
            cache.remove(key, self._view(cache.kind, live))
        self._collect_garbage(uid)
        return True

    def _collect_garbage(self, gone_uid: str) -> None:
        """Delete dependents of `gone_uid` that have no remaining owner (background policy)."""
        doomed = [
            (kid, key)
            for kid, objects in self._stored.items()
            for key, raw in objects.items()
            if any(r.get("uid") == gone_uid for r in raw["metadata"].get("ownerReferences") or ())
            and not any(r.get("uid") in self._uids for r in raw["metadata"]["ownerReferences"])
        ]
        for kid, key in doomed:
            self._delete(kid, key)

    def _view(self, kind: type[K], raw: Mapping[str, Any]) -> K | None:
        try:
            return kind.model_validate({**raw, "apiVersion": kind.API_VERSION})
        except ValidationError as exc:
            log.error(
                "stored object does not parse as %s: %s",
                kind_label(kind),
                exc.errors(include_url=False, include_input=False)[:5],
                extra={"object": str(raw.get("metadata", {}).get("name"))},
            )
            return None

    def _require_view(self, kind: type[K], raw: Mapping[str, Any]) -> K:
        """`raw` as a `kind` object: the cached one when it is current, else parsed."""
        cache: KindCache[K] | None = self._caches.get(kind)
        meta = raw["metadata"]
        cached = (
            cache.get(ObjectKey(meta.get("namespace") or "", meta["name"])) if cache is not None else None
        )
        if cached is not None and cached.metadata.resource_version == meta.get("resourceVersion"):
            return cached
        obj = self._view(kind, raw)
        if obj is None:
            raise ValueError(f"{kind.KIND} {raw['metadata'].get('name')} does not parse after the write")
        return obj


def _same_fields(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Same managed field sets (ignoring the entries' timestamps)."""

    def sets(raw: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return [
            (
                e.get("manager"),
                e.get("operation"),
                e.get("subresource"),
                msgspec.json.encode(e.get("fieldsV1")),
            )
            for e in raw["metadata"].get("managedFields") or ()
        ]

    return sets(a) == sets(b)


def _remove_unowned(raw: dict[str, Any], old: FieldsV1, new: FieldsV1, path: tuple[str, ...]) -> None:
    """Remove from `raw` what field set `old` has and `new` does not (fields no longer applied).

    Only owned leaves go: a map we stop applying keeps the keys others set, and is dropped
    once empty (never `metadata` itself)."""
    for name, old_child in old.items():
        if not name.startswith("f:") or name[2:] not in raw:
            continue
        field, value = name[2:], raw[name[2:]]
        new_child = new.get(name)
        here = (*path, field)
        if isinstance(value, dict) and any(k != "." for k in old_child):
            _remove_unowned(value, old_child, new_child or {}, here)
            if not value and new_child is None and here != ("metadata",):
                del raw[field]
        elif new_child is None:
            del raw[field]
        elif isinstance(value, list) and here in ASSOCIATIVE_LISTS:
            for k in old_child:
                if k.startswith("k:") and k not in new_child:
                    ident = msgspec.json.decode(k[2:])
                    value[:] = [i for i in value if not all(i.get(f) == v for f, v in ident.items())]
        elif isinstance(value, list) and here in SET_LISTS:
            gone = {k for k in old_child if k.startswith("v:") and k not in new_child}
            value[:] = [i for i in value if "v:" + canonical_json(i) not in gone]


def _merge(raw: dict[str, Any], applied: Mapping[str, Any], path: tuple[str, ...]) -> None:
    """Merge an applied configuration into the stored object."""
    for field, value in applied.items():
        here = (*path, field)
        current = raw.get(field)
        if isinstance(value, dict) and isinstance(current, dict):
            _merge(current, value, here)
        elif isinstance(value, list) and isinstance(current, list) and here in ASSOCIATIVE_LISTS:
            keys = ASSOCIATIVE_LISTS[here]
            merged = [dict(i) for i in current]
            for item in value:
                index = next(
                    (i for i, m in enumerate(merged) if all(m.get(k) == item.get(k) for k in keys)), None
                )
                if index is None:
                    merged.append(_copy(item))
                else:
                    merged[index] = _copy(item)  # items are atomic: replaced whole
            raw[field] = merged
        elif isinstance(value, list) and isinstance(current, list) and here in SET_LISTS:
            raw[field] = current + [v for v in value if v not in current]
        else:
            raw[field] = _copy(value)
