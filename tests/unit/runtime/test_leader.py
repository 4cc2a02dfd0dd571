"""Leader election state machine on a fake clock and an in-memory lease."""

from __future__ import annotations

import asyncio

import pytest

from aim_engine.runtime.leader import LeaderElector, LeaseRecord, MemoryLeaseLock, default_identity


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def elector(lock: MemoryLeaseLock, clock: Clock, name: str) -> LeaderElector:
    return LeaderElector(
        lock,
        name,
        lease_duration=15,
        renew_deadline=10,
        retry_period=2,
        clock=clock,
        sleep=clock.sleep,
    )


async def test_first_candidate_creates_the_lease_the_second_waits_for_expiry() -> None:
    lock, clock = MemoryLeaseLock(), Clock()
    a, b = elector(lock, clock, "a"), elector(lock, clock, "b")
    assert await a.try_acquire_or_renew()
    assert lock.record is not None and lock.record.holder == "a" and lock.record.lease_duration == 15
    assert not await b.try_acquire_or_renew()
    clock.now += 2
    assert await a.try_acquire_or_renew()  # renewal
    assert lock.record.transitions == 0
    clock.now += 1
    assert not await b.try_acquire_or_renew()  # b sees the renewal now
    clock.now += 14.9
    assert not await b.try_acquire_or_renew()  # 14.9 s of silence on b's clock: not expired
    clock.now += 0.2
    assert await b.try_acquire_or_renew()
    assert lock.record.holder == "b" and lock.record.transitions == 1
    assert not await a.try_acquire_or_renew()  # a lost it


async def test_expiry_is_measured_from_when_the_follower_saw_the_record_change() -> None:
    lock, clock = MemoryLeaseLock(), Clock()
    a, b = elector(lock, clock, "a"), elector(lock, clock, "b")
    assert await a.try_acquire_or_renew()
    clock.now += 100  # b never looked before: the record is new to it now
    assert not await b.try_acquire_or_renew()
    assert b.poll_delay() <= 2.2
    clock.now += 15.01
    assert await b.try_acquire_or_renew()


async def test_a_released_lease_is_taken_at_once() -> None:
    lock, clock = MemoryLeaseLock(), Clock()
    a, b = elector(lock, clock, "a"), elector(lock, clock, "b")
    await a.acquire()
    assert not await b.try_acquire_or_renew()
    await a.release()
    assert lock.record is not None and lock.record.holder == "" and lock.record.lease_duration == 1
    assert not a.is_leader
    assert await b.try_acquire_or_renew()


async def test_concurrent_candidates_cannot_both_win_a_compare_and_swap() -> None:
    lock, clock = MemoryLeaseLock(), Clock()
    candidates = [elector(lock, clock, f"c{i}") for i in range(5)]
    results = await asyncio.gather(*(c.try_acquire_or_renew() for c in candidates))
    assert sum(results) == 1


async def test_follower_wakes_up_exactly_when_the_lease_expires() -> None:
    lock, clock = MemoryLeaseLock(), Clock()
    a, b = elector(lock, clock, "a"), elector(lock, clock, "b")
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    clock.now += 14.0
    assert 1.0 <= b.poll_delay() <= 1.1  # not a whole retry period past expiry


async def test_leader_that_cannot_renew_stops_before_anyone_else_may_take_over() -> None:
    lock, clock = MemoryLeaseLock(), Clock()
    a, b = elector(lock, clock, "a"), elector(lock, clock, "b")
    await a.acquire()
    acquired_at = clock.now
    assert not await b.try_acquire_or_renew()  # b observes the record now
    observed_by_b = clock.now
    lock.fail = True  # the API server becomes unreachable for a, renewals fail
    await asyncio.wait_for(a.hold(), 1)
    assert a.lost.is_set() and not a.is_leader
    lost_at = clock.now
    assert lost_at - acquired_at <= 10.0
    lock.fail = False
    # b may take over only after 15 s of silence on its clock: after a stopped leading.
    assert observed_by_b + 15 > lost_at
    clock.now = observed_by_b + 15.01
    assert await b.try_acquire_or_renew()


async def test_holding_keeps_renewing_while_the_lease_is_reachable() -> None:
    lock, clock = MemoryLeaseLock(), Clock()
    a = elector(lock, clock, "a")
    await a.acquire()
    hold = asyncio.create_task(a.hold())
    for _ in range(10_000):  # let the renew loop run; the fake clock advances with it
        if clock.now >= 1000 + 30:
            break
        await asyncio.sleep(0)
    assert a.is_leader and not hold.done()
    assert lock.version > 10  # one update per retry period
    hold.cancel()
    with pytest.raises(asyncio.CancelledError):
        await hold


async def test_a_leader_whose_lease_was_taken_loses_at_the_deadline() -> None:
    lock, clock = MemoryLeaseLock(), Clock()
    a = elector(lock, clock, "a")
    await a.acquire()
    assert lock.record is not None
    lock.record = LeaseRecord(holder="intruder", lease_duration=15)
    lock.version += 1
    await asyncio.wait_for(a.hold(), 1)
    assert a.lost.is_set()


def test_invalid_timings_and_identity() -> None:
    with pytest.raises(ValueError, match="lease_duration"):
        LeaderElector(MemoryLeaseLock(), "x", lease_duration=5, renew_deadline=10)
    one, two = default_identity(), default_identity()
    assert one != two and one.rsplit("_", 1)[0] == two.rsplit("_", 1)[0]
