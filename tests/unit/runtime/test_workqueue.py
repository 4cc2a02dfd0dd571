"""The work queue contract: dedup, never twice at once, delays, backoff, shutdown."""

from __future__ import annotations

import asyncio

import pytest

from aim_engine.runtime.workqueue import ExponentialBackoff, ShutDown, WorkQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Observer:
    def __init__(self) -> None:
        self.adds = 0
        self.retries = 0
        self.depth = 0

    def added(self, item: str) -> None:
        self.adds += 1

    def retried(self, item: str) -> None:
        self.retries += 1

    def depth_changed(self, item: str, delta: int) -> None:
        self.depth += delta


def test_backoff_grows_exponentially_and_caps() -> None:
    b = ExponentialBackoff(initial=0.005, cap=300.0)
    assert [b.delay(n) for n in range(4)] == [0.005, 0.01, 0.02, 0.04]
    assert b.delay(30) == 300.0
    assert b.delay(10_000) == 300.0  # no float overflow


def test_adds_of_a_queued_item_are_deduplicated() -> None:
    obs = Observer()
    q: WorkQueue[str] = WorkQueue(observer=obs, clock=FakeClock())
    for _ in range(5):
        q.add("a")
    q.add("b")
    assert len(q) == 2
    assert obs.depth == 2
    assert q.get_nowait() == "a"
    assert q.get_nowait() == "b"
    assert q.get_nowait() is None
    assert obs.depth == 0


def test_an_item_added_while_processing_comes_back_after_done_and_not_before() -> None:
    q: WorkQueue[str] = WorkQueue(clock=FakeClock())
    q.add("a")
    assert q.get_nowait() == "a"
    q.add("a")
    q.add("a")
    assert q.get_nowait() is None  # never handed out twice at once
    q.done("a")
    assert q.get_nowait() == "a"
    q.done("a")
    assert q.get_nowait() is None
    assert q.is_idle()


def test_add_after_waits_and_the_earlier_of_two_delays_wins() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add_after("a", 10)
    q.add_after("a", 5)
    q.add_after("a", 20)
    assert q.get_nowait() is None
    assert q.next_due_in() == 5
    clock.now += 5
    assert q.get_nowait(promote_due=False) is None
    assert q.get_nowait() == "a"
    q.done("a")
    clock.now += 100
    assert q.get_nowait() is None  # the later, superseded delays do not fire again


def test_rate_limited_adds_back_off_until_forgotten() -> None:
    clock = FakeClock()
    obs = Observer()
    q: WorkQueue[str] = WorkQueue(ExponentialBackoff(initial=1, cap=8), observer=obs, clock=clock)
    assert [q.add_rate_limited("a") for _ in range(5)] == [1, 2, 4, 8, 8]
    assert q.failures("a") == 5
    assert obs.retries == 5
    q.forget("a")
    assert q.add_rate_limited("a") == 1


async def test_get_wakes_up_for_adds_and_for_due_delays() -> None:
    q: WorkQueue[str] = WorkQueue()
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add("now")
    assert await asyncio.wait_for(getter, 1) == "now"
    q.done("now")
    q.add_after("later", 0.02)
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await asyncio.wait_for(q.get(), 1) == "later"
    assert loop.time() - start >= 0.015


async def test_shutdown_releases_waiting_getters() -> None:
    q: WorkQueue[str] = WorkQueue()
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await asyncio.sleep(0)
    q.shutdown()
    for g in getters:
        with pytest.raises(ShutDown):
            await asyncio.wait_for(g, 1)
    q.add("ignored")
    assert len(q) == 0


async def test_concurrent_workers_never_share_a_key() -> None:
    q: WorkQueue[int] = WorkQueue()
    running: set[int] = set()
    overlaps = 0
    runs = 0

    async def worker() -> None:
        nonlocal overlaps, runs
        while True:
            try:
                item = await q.get()
            except ShutDown:
                return
            if item in running:
                overlaps += 1
            running.add(item)
            await asyncio.sleep(0.001)
            runs += 1
            running.discard(item)
            q.done(item)

    workers = [asyncio.create_task(worker()) for _ in range(8)]
    for i in range(200):
        q.add(i % 5)
        if i % 7 == 0:
            await asyncio.sleep(0.0005)
    for _ in range(1000):
        if q.is_idle():
            break
        await asyncio.sleep(0.005)
    q.shutdown()
    await asyncio.gather(*workers)
    assert overlaps == 0
    assert 5 <= runs < 200  # deduplicated, and every key ran at least once
