"""Small caches for the inspector: a bounded LRU map and a shared-in-flight-task helper."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """A size-bounded map; `get` refreshes recency, the least recently used entry goes first."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    def pop(self, key: K) -> None:
        self._data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)


class Expiring(Generic[V]):
    """A value with a deadline on the monotonic clock."""

    __slots__ = ("expires_at", "value")

    def __init__(self, value: V, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.value = value
        self.expires_at = clock() + ttl

    def fresh(self, clock: Callable[[], float] = time.monotonic) -> bool:
        return clock() < self.expires_at


class SingleFlight(Generic[K, V]):
    """Concurrent calls for the same key share one task (one set of registry requests).

    The task is shielded: a caller that is cancelled (e.g. its reconcile timed out) does not
    cancel the work other callers wait for. Results are not kept once the task is done; caching
    them is the caller's business.
    """

    def __init__(self) -> None:
        self._tasks: dict[K, asyncio.Task[V]] = {}

    async def run(self, key: K, work: Callable[[], Coroutine[Any, Any, V]]) -> V:
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.create_task(work())
            self._tasks[key] = task
            task.add_done_callback(functools.partial(self._forget, key))
        return await asyncio.shield(task)

    def _forget(self, key: K, task: asyncio.Task[V]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled():
            # Mark the exception retrieved: if every waiter was cancelled nobody else reads it.
            task.exception()

    def __len__(self) -> int:
        return len(self._tasks)
