"""The Store: what a reconciler reads from and writes through.

Reads are synchronous and come from an in-memory cache of typed objects (informers on a
cluster, the objects themselves in MemoryStore). Writes are async API calls. Both
implementations notify subscribers of every change, which is how the Manager learns what to
reconcile; the same Manager and reconcilers therefore run over either store.

Cached objects are shared, not copied: treat what `get`/`list` return as read-only and build
changed versions with `obj.model_copy(update=...)` (or a new object).
"""

from __future__ import annotations

import builtins
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from aim_engine.api.core import Secret
from aim_engine.api.meta import KubeObject

K = TypeVar("K", bound=KubeObject)

ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]
EventType = Literal["Normal", "Warning"]
STATUS_LOG = "aim_engine.runtime.status"
"""The logger of the status writer's warning lines (one per Warning event)."""
_log = logging.getLogger(STATUS_LOG)
IndexFunc = Callable[[K], Iterable[str]]

FIELD_MANAGER = "aim-engine"
"""Field manager of every server-side apply and the `source.component` of events."""


@dataclass(frozen=True, slots=True)
class ChangeEvent(Generic[K]):
    """One change seen by the cache. `old` is the previously cached version (None when the
    object is new to the cache); for DELETED, `obj` is the last known state."""

    type: ChangeType
    obj: K
    old: K | None = None


def applied_by(obj: KubeObject, manager: str) -> bool:
    """Whether `manager` has server-side applied `obj` (it holds an Apply entry of the main
    resource in `metadata.managedFields`): what tells the operator's own objects from look-alikes
    people made. Both stores keep that entry in their cached objects."""
    extra = obj.metadata.model_extra or {}
    entries = extra.get("managedFields") or ()
    return any(
        isinstance(e, dict)
        and e.get("manager") == manager
        and e.get("operation") == "Apply"
        and not e.get("subresource")
        for e in entries
    )


def controlled_by(obj: KubeObject, owner: KubeObject) -> bool:
    """Whether `obj` carries a controller owner reference to `owner` (by uid)."""
    return any(
        ref.controller and ref.uid == owner.metadata.uid for ref in obj.metadata.owner_references or ()
    )


EventPolicy = Callable[[Any, Any], Iterable[tuple[EventType, str, str]]]
"""`(old status, new status) -> [(type, reason, message)]`: the Events a status change is worth
(the old status is None for an object's first)."""

ChangeHandler = Callable[[ChangeEvent[Any]], None]
"""Called synchronously on the event loop for every cache change; must not block or await."""


class Store(ABC):
    """Cached reads, server-side-apply writes and change notifications for `KubeObject`s."""

    field_manager: str = FIELD_MANAGER

    # --- registration (before `start`) ---

    @abstractmethod
    def watch(self, kind: type[KubeObject]) -> None:
        """Cache `kind` (all namespaces). Idempotent. Kinds a reconciler names in `kind`,
        `owns` and `watches` are registered by the Manager; call this for kinds a reconciler
        only reads."""

    @abstractmethod
    def subscribe(self, kind: type[K], handler: Callable[[ChangeEvent[K]], None]) -> None:
        """Call `handler` for every change of a `kind` object (implies `watch(kind)`).

        Objects already in the cache are replayed to the new handler as ADDED.
        """

    @abstractmethod
    def add_index(self, kind: type[K], name: str, fn: IndexFunc[K]) -> None:
        """Maintain an index of `kind`: `fn(obj)` gives the values an object is found under
        with `list(kind, index=(name, value))`. Registering the same name twice is an error."""

    # --- cached reads ---

    @abstractmethod
    def get(self, kind: type[K], name: str, namespace: str | None = None) -> K | None:
        """The cached object, None when absent. `namespace` is ignored for cluster-scoped kinds."""

    @abstractmethod
    def list(
        self,
        kind: type[K],
        namespace: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        index: tuple[str, str] | None = None,
    ) -> builtins.list[K]:
        """Cached objects of `kind`, filtered by namespace (None = all), by equality on every
        label in `labels`, and by an index registered with `add_index`; sorted by key."""

    # --- uncached reads ---

    @abstractmethod
    async def read_secret(self, namespace: str, name: str) -> Secret | None:
        """Read a Secret directly from the API (secrets are never cached cluster-wide)."""

    @abstractmethod
    async def exists(self, kind: type[KubeObject], name: str, namespace: str | None = None) -> bool:
        """Whether the object exists on the server now: one read past the cache, for the rare
        decision a cache that lags behind another kind's must not make."""

    # --- writes ---

    @abstractmethod
    async def apply(self, obj: K, *, owner: KubeObject | None = None) -> K:
        """Server-side apply of `obj` (everything but `status`) as field manager `aim-engine`,
        forcing ownership of conflicting fields.

        Fields this manager applied before and `obj` no longer has are removed by the server.
        With `owner`, a controller owner reference (controller=true, blockOwnerDeletion=true)
        to it is added, so garbage collection deletes `obj` with its owner; the owner must
        have a uid (i.e. come from the store).

        No request is sent when the cached object already holds every desired value and the
        fields managed by `aim-engine` are exactly the desired ones: the cached object is
        returned. This is what keeps a resync of an unchanged world free of writes.
        """

    @abstractmethod
    async def apply_status(self, obj: K) -> K:
        """Write `obj.status` through the status subresource, replacing the whole status.

        Skipped when equal to the cached status. The write is conditional on
        `obj.metadata.resourceVersion` (or the cached one when unset): if the object changed
        since, `Conflict` is raised and the Manager requeues the key at once, so the next
        reconcile starts from the fresh cache. An object deleted meanwhile raises `Conflict`
        too: the next reconcile finds it gone.
        """

    async def write_status(self, obj: K, status: Any, *, events: EventPolicy | None = None) -> bool:
        """The one status writer of every reconciler: normalize `status` (a round trip through
        its JSON form, so that unset values compare equal to what the API server returns),
        compare it once with `obj`'s, write it when it differs (`apply_status`), and record the
        Events `events` derives from the change. Returns whether it wrote."""
        normalized = type(status).model_validate(status.dump())
        previous = getattr(obj, "status", None)
        if normalized == previous:
            return False
        await self.apply_status(obj.model_copy(update={"status": normalized}))
        for type_, reason, message in events(previous, normalized) if events is not None else ():
            self.record_event(obj, type_, reason, message)
            if type_ == "Warning":
                # Once per change of state, like the Event: what `kubectl logs` of the operator
                # shows for a registry failure or a blocked service (object, reason, the fix).
                _log.warning("%s %s: %s: %s", obj.KIND, obj.key, reason, message)
        return True

    @abstractmethod
    async def delete(self, kind: type[KubeObject], name: str, namespace: str | None = None) -> bool:
        """Delete an object (dependents are garbage-collected in the background).
        False when it did not exist."""

    @abstractmethod
    def record_event(self, obj: KubeObject, type: EventType, reason: str, message: str) -> None:
        """Record a core v1 Event about `obj` (source component `aim-engine`).

        Fire-and-forget: never blocks, never raises; rate-limited, and an identical event
        (same object, type, reason, message) is not repeated within a few minutes. Never put
        secret values in `message`.
        """

    # --- lifecycle ---

    @property
    @abstractmethod
    def has_synced(self) -> bool:
        """Every watched kind has been listed at least once."""

    @abstractmethod
    async def start(self) -> None:
        """Start caching (informers) and background tasks. Idempotent."""

    @abstractmethod
    async def wait_synced(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - a deadline, not a cancel scope
        """Return once `has_synced`; TimeoutError after `timeout` seconds (None: no limit)."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop informers and background tasks. Idempotent."""
