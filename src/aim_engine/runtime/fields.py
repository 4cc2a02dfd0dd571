"""Field-level comparison for server-side apply: decide, from the cache alone, whether an apply
would change nothing, so that a resync costs no API request.

An apply is a no-op when both hold:

1. every field in the desired object is already present in the live object with the same
   value (the live object may carry more: server defaults, other managers' fields);
2. the set of fields our field manager owns (metadata.managedFields, operation Apply, the
   `fieldsV1` tree) is exactly the desired field set. Checking the ownership too is what makes
   "remove a label from the desired object" still send an apply: the value comparison alone
   cannot see a field that is no longer desired.

`fieldsV1` is the API server's encoding of a field set: a tree whose keys are `f:<name>` for
map fields, `k:<json>` for items of an associative list (by their merge keys), `v:<json>` for
items of a set list, and `.` for "the element itself". An atomic list or map is a leaf. The
comparison walks the desired object and that tree together, so it needs no schema: the tree
says how each list is merged.

Everything here is pure and works on wire-form dicts (camelCase, as `ApiModel.dump()` gives).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from aim_engine.api.meta import KubeObject

FieldsV1 = dict[str, Any]

# Metadata the API server owns. It is never part of an apply body nor of a managed field set;
# sending resourceVersion would even turn the apply into a compare-and-swap.
SERVER_METADATA = frozenset(
    {
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
        "generateName",
    }
)

# How MemoryStore merges lists that Kubernetes merges by key (everything else is atomic).
# Only metadata lists matter here: our own kinds declare no associative lists outside status.
# Their items are atomic structs (an ownerReference is replaced whole, and the API server
# records it as `k:{"uid":...}: {}`).
ASSOCIATIVE_LISTS: Mapping[tuple[str, ...], tuple[str, ...]] = {("metadata", "ownerReferences"): ("uid",)}
SET_LISTS: frozenset[tuple[str, ...]] = frozenset({("metadata", "finalizers")})


def prune_none(value: Any) -> Any:
    """Drop None values from maps, recursively. A None in an apply body would mean "unset" to
    us but "null" to the server; dropping it makes both mean "not managed"."""
    if isinstance(value, dict):
        return {k: prune_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune_none(v) for v in value]
    return value


def apply_body(dumped: Mapping[str, Any]) -> dict[str, Any]:
    """The body to send as a server-side apply: no status (written through the status
    subresource), no server-owned metadata, no None values."""
    body: dict[str, Any] = prune_none({k: v for k, v in dumped.items() if k != "status"})
    meta = body.get("metadata") or {}
    body["metadata"] = {k: v for k, v in meta.items() if k not in SERVER_METADATA}
    return body


def apply_body_of(obj: KubeObject, owner: KubeObject | None = None) -> dict[str, Any]:
    """The apply body for `Store.apply(obj, owner=owner)`, in both stores: `apply_body` of
    the object, its kind's apiVersion and kind, and a controller owner reference to `owner`
    (replacing any reference with the owner's uid)."""
    kind = type(obj)
    body = apply_body(obj.dump())
    body["apiVersion"], body["kind"] = kind.API_VERSION, kind.KIND
    if owner is not None:
        if not owner.metadata.uid:
            raise ValueError(
                f"owner {owner.KIND} {owner.key} has no uid: pass the object read from the store"
            )
        ref = owner.owner_reference(controller=True).dump()
        meta = body["metadata"]
        refs = [r for r in meta.get("ownerReferences") or () if r.get("uid") != ref["uid"]]
        meta["ownerReferences"] = [*refs, ref]
    return body


def status_dump(obj: KubeObject) -> dict[str, Any]:
    """`obj.status` in wire form for comparing and writing, {} when there is none.

    Unlike `dump()`, fields left at their model default are included (and None ones left
    out), on the desired and on the cached side alike: a default the API server fills in
    (CRD defaulting) or a default the reconciler did not spell out then compares equal
    instead of causing a write on every reconcile."""
    status = getattr(obj, "status", None)
    if isinstance(status, BaseModel):
        dumped: dict[str, Any] = status.model_dump(by_alias=True, mode="json", exclude_none=True)
        return dumped
    return prune_none(status) if isinstance(status, dict) else {}


def field_set_view(body: Mapping[str, Any]) -> dict[str, Any]:
    """The part of an apply body that becomes managed fields: without apiVersion, kind and the
    object's name and namespace, which identify the object rather than being fields of it."""
    view = {k: v for k, v in body.items() if k not in ("apiVersion", "kind", "metadata")}
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k not in ("name", "namespace")}
    if meta:
        view["metadata"] = meta
    return view


def managed_fields(live: Mapping[str, Any], manager: str, subresource: str = "") -> FieldsV1 | None:
    """The Apply field set of `manager` on the live object, None when it owns nothing.

    More than one Apply entry for the same manager (possible across API versions) is reported
    as None too: the caller then simply sends the apply.
    """
    entries = [
        e
        for e in (live.get("metadata") or {}).get("managedFields") or ()
        if e.get("manager") == manager
        and e.get("operation") == "Apply"
        and (e.get("subresource") or "") == subresource
    ]
    if len(entries) != 1:
        return None
    fields = entries[0].get("fieldsV1")
    return fields if isinstance(fields, dict) else None


def is_apply_noop(body: Mapping[str, Any], live: Mapping[str, Any], manager: str) -> bool:
    """True when applying `body` as `manager` would change neither values nor ownership."""
    owned = managed_fields(live, manager)
    if owned is None:
        return False
    return _map_matches(field_set_view(body), live, _without_identity(owned))


def _without_identity(owned: FieldsV1) -> FieldsV1:
    # Tolerate servers that list identity fields in the field set: we never compare them.
    top = {k: v for k, v in owned.items() if k not in ("f:apiVersion", "f:kind")}
    meta = top.get("f:metadata")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in ("f:name", "f:namespace")}
        if _children(meta):
            top["f:metadata"] = meta
        else:
            del top["f:metadata"]
    return top


def _children(node: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k != "."}


def _map_matches(want: Mapping[str, Any], have: Any, node: Mapping[str, Any]) -> bool:
    if not isinstance(have, dict):
        return False
    children = _children(node)
    # Equal sizes plus every desired key found as "f:<key>" means the two sets are equal.
    if len(children) != len(want):
        return False
    for key, value in want.items():
        child = children.get("f:" + key)
        if child is None or key not in have or not _value_matches(value, have[key], child):
            return False
    return True


def _value_matches(want: Any, have: Any, node: Mapping[str, Any]) -> bool:
    children = _children(node)
    if isinstance(want, dict):
        # A leaf for a map means it is owned as a whole (atomic map, or an empty map).
        return _map_matches(want, have, node) if children else is_subset(want, have)
    if isinstance(want, list):
        if not isinstance(have, list):
            return False
        if not children:  # atomic list
            return len(want) == len(have) and all(is_subset(w, h) for w, h in zip(want, have, strict=True))
        prefixes = {k[:2] for k in children}
        if prefixes == {"k:"}:
            return _associative_matches(want, have, children)
        if prefixes == {"v:"}:
            return _set_matches(want, have, children)
        return False
    return not children and scalar_equal(want, have)


def _associative_matches(want: list[Any], have: list[Any], children: Mapping[str, Any]) -> bool:
    if len(children) != len(want):
        return False
    entries = [(json.loads(k[2:]), node) for k, node in children.items()]
    used: set[int] = set()
    for item in want:
        if not isinstance(item, dict):
            return False
        # A merge key missing from the desired item was defaulted by the server: it matches.
        match = next(
            (
                i
                for i, (keys, _) in enumerate(entries)
                if i not in used and all(scalar_equal(item.get(f, v), v) for f, v in keys.items())
            ),
            None,
        )
        if match is None:
            return False
        used.add(match)
        keys, node = entries[match]
        live_item = next(
            (
                h
                for h in have
                if isinstance(h, dict) and all(scalar_equal(h.get(f), v) for f, v in keys.items())
            ),
            None,
        )
        if live_item is None:
            return False
        # An item owned as a whole (`k:{...}: {}`, e.g. an atomic struct such as an
        # ownerReference) is compared by value; otherwise field by field.
        matches = _map_matches(item, live_item, node) if _children(node) else is_subset(item, live_item)
        if not matches:
            return False
    return True


def _set_matches(want: list[Any], have: list[Any], children: Mapping[str, Any]) -> bool:
    owned = {canonical_json(json.loads(k[2:])) for k in children}
    desired = {canonical_json(w) for w in want}
    present = {canonical_json(h) for h in have}
    return owned == desired and desired <= present


def canonical_json(value: Any) -> str:
    """Key-sorted compact JSON: the form of `k:`/`v:` keys in fieldsV1."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def scalar_equal(a: Any, b: Any) -> bool:
    """Equality that does not confuse True with 1 (Python does); 1 and 1.0 stay equal."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def is_subset(want: Any, have: Any) -> bool:
    """Every field of `want` is in `have` with the same value; lists match item by item."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and is_subset(v, have[k]) for k, v in want.items())
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(want) == len(have)
            and all(is_subset(w, h) for w, h in zip(want, have, strict=True))
        )
    return scalar_equal(want, have)


def deep_equal(a: Any, b: Any) -> bool:
    """Structural equality with `scalar_equal` at the leaves."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(deep_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(deep_equal(x, y) for x, y in zip(a, b, strict=True))
        )
    return scalar_equal(a, b)


def merge_patch(old: Any, new: Any) -> Any:
    """The JSON merge patch (RFC 7386) that turns `old` into `new`: removed keys become null,
    lists are replaced whole. `{}` when nothing changes."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {k: None for k in old if k not in new}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif isinstance(value, dict) and isinstance(old[key], dict):
            sub = merge_patch(old[key], value)
            if sub:
                patch[key] = sub
        elif not deep_equal(old[key], value):
            patch[key] = value
    return patch


def build_fields_v1(view: Mapping[str, Any], path: tuple[str, ...] = ()) -> FieldsV1:
    """The field set of an apply body (as `field_set_view` gives it), encoded the way the API
    server encodes it. MemoryStore uses it to produce managedFields like a real server;
    list semantics come from ASSOCIATIVE_LISTS / SET_LISTS, any other list is atomic."""
    node: FieldsV1 = {}
    for key, value in view.items():
        node["f:" + key] = _value_fields(value, (*path, key))
    return node


def _value_fields(value: Any, path: tuple[str, ...]) -> FieldsV1:
    if isinstance(value, dict):
        return {".": {}, **build_fields_v1(value, path)} if value else {}
    if isinstance(value, list) and value:
        keys = ASSOCIATIVE_LISTS.get(path)
        if keys is not None:
            return {".": {}, **{"k:" + canonical_json({k: item.get(k) for k in keys}): {} for item in value}}
        if path in SET_LISTS:
            return {".": {}, **{"v:" + canonical_json(item): {} for item in value}}
    return {}
