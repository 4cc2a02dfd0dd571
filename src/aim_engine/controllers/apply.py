"""Applying what a plan wants of an owner's objects, for any kind: one helper, so that templates,
profiles and whatever the next controller owns are written and pruned the same way."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from aim_engine.api.meta import KubeObject
from aim_engine.runtime.store import Store


async def sync_owned(
    store: Store,
    kind: type[KubeObject],
    owner: KubeObject,
    desired: Sequence[KubeObject],
    *,
    prune: Iterable[str] = (),
) -> None:
    """Apply every `desired` object as owned by `owner` (server-side apply by our field manager;
    no request where the cache already holds it), then delete the `prune` names of `kind` in
    the owner's scope. The plan decides what may be pruned: only what our field manager applied."""
    # Independent objects: applied concurrently (one round trip, not one per object).
    await asyncio.gather(*(store.apply(obj, owner=owner) for obj in desired))
    namespace = owner.namespace if kind.NAMESPACED else None
    for name in prune:
        await store.delete(kind, name, namespace)
