"""A deduplicating, rate-limited work queue (the client-go workqueue contract, on asyncio).

- An item is queued at most once, however many times it is added before a worker takes it.
- An item being processed is never handed to a second worker: adding it meanwhile marks it
  dirty, and `done` puts it back in the queue once the current run ends.
- `add_after` delays an add (requeue-after, backoff); of two pending delays the earlier wins.
- `add_rate_limited` delays by a per-item exponential backoff that grows with each failure
  until `forget` (called after a success) resets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

T = TypeVar("T", bound=Hashable)
T_contra = TypeVar("T_contra", bound=Hashable, contravariant=True)


@dataclass(frozen=True)
class ExponentialBackoff:
    """delay(n) = initial * factor**n, capped; n = failures so far (0 for the first retry)."""

    initial: float = 0.005
    cap: float = 300.0
    factor: float = 2.0

    def delay(self, failures: int) -> float:
        if failures <= 0:
            return self.initial
        # Stop exponentiating once capped: factor**large overflows a float.
        exponent = min(failures, 64)
        return min(self.cap, self.initial * self.factor**exponent)


class QueueObserver(Protocol[T_contra]):
    """Metric hooks; the queue itself stays free of prometheus."""

    def added(self, item: T_contra) -> None: ...
    def retried(self, item: T_contra) -> None: ...
    def depth_changed(self, item: T_contra, delta: int) -> None: ...


class ShutDown(Exception):
    """The queue was shut down; workers should exit."""


class WorkQueue(Generic[T]):
    def __init__(
        self,
        backoff: ExponentialBackoff | None = None,
        *,
        observer: QueueObserver[T] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.backoff = backoff or ExponentialBackoff()
        self._observer = observer
        self._clock = clock
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        self._waiting: list[tuple[float, int, T]] = []
        self._ready_at: dict[T, float] = {}
        self._seq = itertools.count()
        self._failures: dict[T, int] = {}
        self._wakeup = asyncio.Event()
        self._shutdown = False

    def now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    # --- adding ---

    def add(self, item: T) -> None:
        if self._shutdown or item in self._dirty:
            return
        self._dirty.add(item)
        if self._observer:
            self._observer.added(item)
        if item not in self._processing:
            self._push(item)

    def add_after(self, item: T, delay: float) -> None:
        if self._shutdown:
            return
        if delay <= 0:
            self.add(item)
            return
        when = self.now() + delay
        current = self._ready_at.get(item)
        if current is not None and current <= when:
            return
        self._ready_at[item] = when
        heapq.heappush(self._waiting, (when, next(self._seq), item))
        self._wakeup.set()

    def add_rate_limited(self, item: T) -> float:
        """Add after the item's backoff delay; returns that delay."""
        failures = self._failures.get(item, 0)
        self._failures[item] = failures + 1
        if self._observer:
            self._observer.retried(item)
        delay = self.backoff.delay(failures)
        self.add_after(item, delay)
        return delay

    def forget(self, item: T) -> None:
        """Reset the item's backoff (after a successful run)."""
        self._failures.pop(item, None)

    def failures(self, item: T) -> int:
        return self._failures.get(item, 0)

    # --- taking ---

    def get_nowait(self, *, promote_due: bool = True) -> T | None:
        """The next ready item (now marked processing), or None. With `promote_due=False`,
        delayed items stay delayed even if their time has come."""
        if promote_due:
            self._promote_due()
        if not self._queue:
            return None
        item = self._queue.popleft()
        if self._observer:
            self._observer.depth_changed(item, -1)
        self._processing.add(item)
        self._dirty.discard(item)
        return item

    async def get(self) -> T:
        """Wait for the next ready item; raises ShutDown once the queue is shut down."""
        while True:
            if self._shutdown:
                raise ShutDown
            item = self.get_nowait()
            if item is not None:
                return item
            self._wakeup.clear()
            timeout = self.next_due_in()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    def done(self, item: T) -> None:
        """The worker finished `item`; re-queue it if it was added while processing."""
        self._processing.discard(item)
        if item in self._dirty and not self._shutdown:
            self._push(item)

    def shutdown(self) -> None:
        self._shutdown = True
        self._wakeup.set()

    # --- inspection ---

    def __len__(self) -> int:
        """Ready items (the queue depth)."""
        return len(self._queue)

    @property
    def processing(self) -> int:
        return len(self._processing)

    @property
    def waiting(self) -> dict[T, float]:
        """Delayed items and when (queue clock) they become ready."""
        return dict(self._ready_at)

    def next_due_in(self) -> float | None:
        """Seconds until the earliest delayed item is ready (None: nothing delayed)."""
        if not self._waiting:
            return None
        return max(0.0, self._waiting[0][0] - self.now())

    def is_idle(self) -> bool:
        """Nothing ready and nothing processing (delayed items may remain)."""
        return not self._queue and not self._processing

    # --- internals ---

    def _push(self, item: T) -> None:
        self._queue.append(item)
        if self._observer:
            self._observer.depth_changed(item, +1)
        self._wakeup.set()

    def _promote_due(self) -> None:
        if not self._waiting:
            return
        now = self.now()
        while self._waiting and self._waiting[0][0] <= now:
            when, _, item = heapq.heappop(self._waiting)
            if self._ready_at.get(item) == when:
                del self._ready_at[item]
                self.add(item)
