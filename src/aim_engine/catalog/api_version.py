"""Which API version a user declared an object in, read from what the API server stores.

Every version of a kind is served from one stored version, so `apiVersion` on a read is only
the version the reader asked for. What survives is who wrote what, in which version: the
`metadata.managedFields` entries (each records the `apiVersion` of its write) and kubectl's
`last-applied-configuration` annotation. The declared version is, in this order:

1. server-side apply: the `apiVersion` of the most recent `Apply` entry of any manager but the
   operator's own;
2. client-side `kubectl apply`: the `apiVersion` in `kubectl.kubernetes.io/last-applied-configuration`;
3. otherwise (`kubectl create`, a plain client): the `apiVersion` of the most recent write, by
   anyone but the operator, that owns part of `spec`;
4. otherwise the stored version.

So `kubectl label`, `annotate` or `edit`, which write in the server's preferred version, do
not change what a model declared; re-applying the manifest in another version does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _latest(entries: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    # Times have second precision: among equal times the later entry in the list wins.
    best: tuple[str, int] | None = None
    found = None
    for index, entry in enumerate(entries):
        rank = (str(entry.get("time") or ""), index)
        if best is None or rank >= best:
            best, found = rank, entry
    return found


def _owns_spec(entry: Mapping[str, Any]) -> bool:
    fields = entry.get("fieldsV1")
    return isinstance(fields, Mapping) and "f:spec" in fields


def declared_version(
    managed_fields: Sequence[Mapping[str, Any]] | None,
    annotations: Mapping[str, str] | None,
    *,
    stored: str,
    operator: str,
) -> str:
    """The apiVersion (`group/version`) the object was declared in; `stored` when unknown.
    `operator` is the operator's field manager, whose own writes never count."""
    entries = [
        e
        for e in managed_fields or ()
        if isinstance(e, Mapping) and e.get("manager") != operator and not e.get("subresource")
    ]
    applied = _latest([e for e in entries if e.get("operation") == "Apply"])
    if applied is not None and applied.get("apiVersion"):
        return str(applied["apiVersion"])
    last = (annotations or {}).get(LAST_APPLIED)
    if last:
        try:
            version = json.loads(last).get("apiVersion")
        except (ValueError, AttributeError):
            version = None
        if isinstance(version, str) and version:
            return version
    written = _latest([e for e in entries if _owns_spec(e)])
    if written is not None and written.get("apiVersion"):
        return str(written["apiVersion"])
    return stored
