"""What a controller declares to the Manager, and what a reconcile returns.

A reconciler is level-triggered: it is called with an object key, reads whatever it needs
from its Store, and makes the world match. It is never told what changed, and it must be
idempotent. It is also called for a key whose object no longer exists (it was deleted, or
an owned/watched object mapped to a name that does not exist): `store.get` then returns
None, and the reconciler cleans up what garbage collection does not, or simply returns.

Example::

    class ModelReconciler(Reconciler):
        kind = AIMModel
        owns = (AIMServiceTemplate,)

        def __init__(self, store: Store) -> None:
            self.store = store
            self.indexes = (Index(AIMModel, "runtimeConfig", lambda m: [m.spec.runtime_config_name]),)
            self.watches = (Watch(AIMRuntimeConfig, self.models_using),)

        def models_using(self, config: AIMRuntimeConfig) -> list[ObjectKey]:
            return [m.key for m in self.store.list(AIMModel, config.namespace,
                                                    index=("runtimeConfig", config.name))]

        async def reconcile(self, key: ObjectKey) -> Result | None:
            model = self.store.get(AIMModel, key.name, key.namespace)
            if model is None:
                return None
            ...
            return Result(requeue_after=300)  # or None: wait for the next change
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic

from aim_engine.api.meta import KubeObject, ObjectKey
from aim_engine.runtime.store import IndexFunc, K


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of a successful reconcile. `requeue_after`: reconcile this key again
    after so many seconds even if nothing changes (for polling external state, e.g. a
    registry). Return None (or `Result()`) to wait for the next change."""

    requeue_after: float | None = None


@dataclass(frozen=True, slots=True)
class Watch(Generic[K]):
    """A secondary watch: every change of a `kind` object requeues the keys `mapper` returns
    (for a modification, the keys of both the old and the new version). `mapper` runs on the
    event loop inside the cache update: keep it to cache reads, no I/O."""

    kind: type[K]
    mapper: Callable[[K], Iterable[ObjectKey]]


@dataclass(frozen=True, slots=True)
class Index(Generic[K]):
    """A cache index the reconciler (or its mappers) queries with
    `store.list(kind, index=(name, value))`; `fn` gives an object's values."""

    kind: type[K]
    name: str
    fn: IndexFunc[K]


class Reconciler(ABC):
    """Base class of a controller. Set the attributes on the class or in `__init__`.

    - `kind`: the kind reconciled; each of its changes enqueues its own key.
    - `owns`: kinds whose objects carry a controller ownerReference (controller=true) to a
      `kind` object; their changes enqueue that owner's key.
    - `watches`: mapped secondary watches (`Watch`).
    - `indexes`: cache indexes to register (`Index`).
    - `name`: the controller name in metrics and logs (default: the kind's name, lower case).
    """

    kind: type[KubeObject]
    owns: Sequence[type[KubeObject]] = ()
    watches: Sequence[Watch[Any]] = ()
    indexes: Sequence[Index[Any]] = ()

    @property
    def name(self) -> str:
        return self.kind.KIND.lower()

    @abstractmethod
    async def reconcile(self, key: ObjectKey) -> Result | None:
        """Make the world match the object at `key` (which may no longer exist)."""
