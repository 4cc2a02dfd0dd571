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
            self.watches = (
                Watch(AIMRuntimeConfig, self.models_using, predicate=generation_changed),
            )

        def models_using(self, config: AIMRuntimeConfig) -> list[ObjectKey]:
            return [m.key for m in self.store.list(AIMModel, config.namespace,
                                                    index=("spec.runtimeConfigName", config.name))]

        async def reconcile(self, key: ObjectKey) -> Result | None:
            model = self.store.get(AIMModel, key.name, key.namespace)
            if model is None:
                return None
            ...
            return Result.after(300)  # or None: wait for the next change

Indexes the mappers query are registered on the store before the Manager starts
(`aim_engine.controllers.indexes.register`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic

from aim_engine.api.meta import KubeObject, ObjectKey
from aim_engine.runtime.predicates import Predicate, always
from aim_engine.runtime.store import K


@dataclass(frozen=True, slots=True)
class Backoff:
    """An exponential retry schedule: `base`, twice that, four times, ... at most `cap` seconds."""

    base: float
    cap: float

    def delay(self, attempt: int) -> float:
        """The wait before retry number `attempt` (1 for the first)."""
        return float(min(self.cap, self.base * 2 ** (max(attempt, 1) - 1)))


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of a reconcile that did not raise. Build it with the class methods:

    - `Result.after(s)`: reconcile this key again after `s` seconds even if nothing changes
      (polling external state);
    - `Result.retry(backoff, at_least=s)`: something outside failed (a registry); retry on the
      `backoff` schedule, counting consecutive retries of this key (the Manager keeps the count,
      and forgets it on any other outcome), and never sooner than `at_least` (a Retry-After);
    - `Result.terminal(reason)`: nothing but a change of the object can help; wait for one.

    None (or `Result()`) waits for the next change too."""

    requeue_after: float | None = None
    backoff: Backoff | None = None
    at_least: float = 0.0
    terminal_reason: str | None = None

    @classmethod
    def after(cls, seconds: float) -> Result:
        return cls(requeue_after=seconds)

    @classmethod
    def retry(cls, backoff: Backoff, *, at_least: float | None = None) -> Result:
        return cls(backoff=backoff, at_least=at_least or 0.0)

    @classmethod
    def terminal(cls, reason: str) -> Result:
        return cls(terminal_reason=reason)


@dataclass(frozen=True, slots=True)
class Watch(Generic[K]):
    """A secondary watch: a change of a `kind` object that passes `predicate` requeues the keys
    `mapper` returns (for a modification, the keys of both the old and the new version).
    `mapper` runs on the event loop inside the cache update: keep it to cache reads, no I/O,
    and no memory of earlier objects (that is the predicate's job, from the two versions)."""

    kind: type[K]
    mapper: Callable[[K], Iterable[ObjectKey]]
    predicate: Predicate = always


@dataclass(frozen=True, slots=True)
class Owns(Generic[K]):
    """Owned objects (a controller ownerReference to a reconciled object) whose changes that
    pass `predicate` requeue their owner."""

    kind: type[K]
    predicate: Predicate = always


class Reconciler(ABC):
    """Base class of a controller. Set the attributes on the class or in `__init__`.

    - `kind`: the kind reconciled; each of its changes that passes `predicate` (default:
      `predicates.beyond_status`, anything but a status-only update) enqueues its own key.
    - `owns`: kinds (or `Owns` with a predicate) whose objects carry a controller
      ownerReference (controller=true) to a `kind` object; their changes enqueue that owner's key.
    - `watches`: mapped secondary watches (`Watch`).
    - `name`: the controller name in metrics and logs (default: the kind's name, lower case).

    The Manager skips a key whose object carries the pause annotation
    (`aim.eai.amd.com/reconciliation-paused: "true"`), and keeps the retry count of
    `Result.retry` per key.
    """

    kind: type[KubeObject]
    predicate: Predicate | None = None
    """Set in `__init__` (a function set on the class would become a method); None: `beyond_status`."""
    owns: Sequence[type[KubeObject] | Owns[Any]] = ()
    watches: Sequence[Watch[Any]] = ()

    @property
    def name(self) -> str:
        return self.kind.KIND.lower()

    @abstractmethod
    async def reconcile(self, key: ObjectKey) -> Result | None:
        """Make the world match the object at `key` (which may no longer exist)."""
