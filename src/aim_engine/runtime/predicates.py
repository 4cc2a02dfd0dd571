"""Event filters: which changes of a watched object are worth a reconcile.

A predicate is a pure function of the object before and after a change: `(None, new)` for a
create, `(old, new)` for an update, `(old, None)` for a delete. It returns True when the change
should reach the mapper (or, for a reconciler's own kind, the queue). Predicates keep no
memory: everything they judge is in the two versions they are given, so the same event always
gets the same answer, whichever reconciler or process sees it. The Manager applies a watch's
predicate before its mapper, so mappers only map.

The runtime gives the generic ones (as controller-runtime's `pkg/predicate` does); rules about
this project's kinds are predicates in `aim_engine.controllers`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aim_engine.api.meta import KubeObject

K = TypeVar("K", bound=KubeObject)
Predicate = Callable[[Any, Any], bool]
"""`(old, new) -> bool`; either side is None for a create or a delete."""


def created_or_deleted(old: KubeObject | None, new: KubeObject | None) -> bool:
    return old is None or new is None


def generation_changed(old: KubeObject | None, new: KubeObject | None) -> bool:
    """A create, a delete, or a new `metadata.generation` (the spec changed). Kinds without a
    generation (most core objects) always pass: every change of theirs may be news."""
    if old is None or new is None:
        return True
    before, after = old.metadata.generation, new.metadata.generation
    return before is None or before != after


def metadata_changed(old: KubeObject | None, new: KubeObject | None) -> bool:
    """A create, a delete, or a change of what a reconcile may read besides the spec: labels,
    annotations, owners, finalizers, the deletion mark."""
    if old is None or new is None:
        return True
    a, b = old.metadata, new.metadata
    return (
        a.labels != b.labels
        or a.annotations != b.annotations
        or a.owner_references != b.owner_references
        or a.finalizers != b.finalizers
        or a.deletion_timestamp != b.deletion_timestamp
    )


def field_changed(*paths: str) -> Predicate:
    """A create, a delete, or a change of the value at any of `paths`: dotted attribute paths
    of the typed object (`"spec.image"`, `"status.image_metadata.base_image_ref"`); a missing
    step reads as None."""
    split = [path.split(".") for path in paths]

    def changed(old: KubeObject | None, new: KubeObject | None) -> bool:
        if old is None or new is None:
            return True
        return any(_at(old, steps) != _at(new, steps) for steps in split)

    changed.__qualname__ = f"field_changed({', '.join(paths)})"
    return changed


def any_of(*predicates: Predicate) -> Predicate:
    def either(old: Any, new: Any) -> bool:
        return any(p(old, new) for p in predicates)

    return either


def all_of(*predicates: Predicate) -> Predicate:
    def both(old: Any, new: Any) -> bool:
        return all(p(old, new) for p in predicates)

    return both


def always(old: Any, new: Any) -> bool:
    return True


beyond_status = any_of(generation_changed, metadata_changed)
"""The default for a reconciler's own kind: anything but a status-only update (its own status
write, or another writer's). controller-runtime's GenerationChangedPredicate, plus the metadata
a reconcile reads."""


def _at(obj: object, steps: list[str]) -> object:
    for step in steps:
        if obj is None:
            return None
        obj = getattr(obj, step, None)
    return obj
