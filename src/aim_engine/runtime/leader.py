"""Leader election on a coordination.k8s.io/v1 Lease (the client-go algorithm).

Safety rests on three things:
- every change of the Lease is a compare-and-swap on its resourceVersion, so two candidates
  can never both write themselves in as holder;
- a follower measures the holder's lease on its *own* clock, from the moment it last saw the
  record change (not from the renewTime written by another machine's clock), and only takes
  over after `leaseDurationSeconds` of silence;
- the leader stops leading when it could not renew for `renew_deadline` seconds, counted from
  the start of its last successful renewal. As renew_deadline < lease_duration, it has
  stopped before any follower can consider the lease expired.

A graceful stop releases the lease (empty holder, leaseDurationSeconds=1, as client-go's
ReleaseOnCancel), so a follower takes over on its next poll instead of waiting for expiry.
A follower sleeps until exactly the moment the observed lease would expire rather than a
whole retry period past it, which bounds takeover after a crash to about
lease_duration + retry_period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec

from aim_engine.api.core import Lease
from aim_engine.api.meta import ObjectKey
from aim_engine.runtime.errors import Conflict, NotFound
from aim_engine.runtime.kube_api import KubeApi
from aim_engine.runtime.metrics import RuntimeMetrics
from aim_engine.runtime.resources import collection_path, object_path

log = logging.getLogger(__name__)

DEFAULT_LEASE_NAME = "aim-engine-leader"


def default_identity() -> str:
    """Pod name (or host name) plus a random suffix: unique even for two processes per host."""
    base = os.environ.get("POD_NAME") or socket.gethostname()
    return f"{base}_{uuid.uuid4().hex[:8]}"


def micro_time(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaseRecord:
    holder: str = ""
    lease_duration: int = 0
    acquire_time: str | None = None
    renew_time: str | None = None
    transitions: int = 0

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> LeaseRecord:
        return cls(
            holder=spec.get("holderIdentity") or "",
            lease_duration=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_spec(self) -> dict[str, Any]:
        return {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.lease_duration,
            "acquireTime": self.acquire_time,
            "renewTime": self.renew_time,
            "leaseTransitions": self.transitions,
        }


class LeaseLock(Protocol):
    """Where the record lives. `create`/`update` raise `Conflict` when someone else won."""

    description: str

    async def get(self) -> tuple[LeaseRecord, str] | None:
        """(record, resourceVersion), or None when the lease does not exist."""

    async def create(self, record: LeaseRecord) -> str:
        """Create the lease; returns the new resourceVersion."""

    async def update(self, record: LeaseRecord, version: str) -> str:
        """Replace the record if the lease is still at `version`; returns the new version."""


class KubeLeaseLock:
    """A Lease object on the API server; updates are PUTs conditional on resourceVersion."""

    def __init__(self, api: KubeApi, namespace: str, name: str = DEFAULT_LEASE_NAME) -> None:
        self._api = api
        self.key = ObjectKey(namespace, name)
        self.description = f"lease {namespace}/{name}"
        self._last: dict[str, Any] | None = None

    async def get(self) -> tuple[LeaseRecord, str] | None:
        try:
            raw = await self._api.request("GET", object_path(Lease, self.key))
        except NotFound:
            self._last = None
            return None
        data: dict[str, Any] = msgspec.json.decode(raw)
        self._last = data
        return LeaseRecord.from_spec(data.get("spec") or {}), data["metadata"]["resourceVersion"]

    async def create(self, record: LeaseRecord) -> str:
        body = {
            "apiVersion": Lease.API_VERSION,
            "kind": Lease.KIND,
            "metadata": {"name": self.key.name, "namespace": self.key.namespace},
            "spec": record.to_spec(),
        }
        raw = await self._api.request("POST", collection_path(Lease, self.key.namespace), body=body)
        return str(msgspec.json.decode(raw)["metadata"]["resourceVersion"])

    async def update(self, record: LeaseRecord, version: str) -> str:
        # Start from the object as last read so that fields we do not model survive the PUT.
        body = dict(self._last or {"apiVersion": Lease.API_VERSION, "kind": Lease.KIND})
        body["metadata"] = {
            **(body.get("metadata") or {}),
            "name": self.key.name,
            "namespace": self.key.namespace,
            "resourceVersion": version,
        }
        body["spec"] = {**(body.get("spec") or {}), **record.to_spec()}
        raw = await self._api.request("PUT", object_path(Lease, self.key), body=body)
        data: dict[str, Any] = msgspec.json.decode(raw)
        self._last = data
        return str(data["metadata"]["resourceVersion"])


class MemoryLeaseLock:
    """An in-process lease with the same compare-and-swap contract (tests, fake clocks)."""

    def __init__(self) -> None:
        self.description = "memory lease"
        self.record: LeaseRecord | None = None
        self.version = 0
        self.fail = False
        """When set, every call raises ConnectionError (an unreachable API server)."""

    async def get(self) -> tuple[LeaseRecord, str] | None:
        self._check()
        return None if self.record is None else (self.record, str(self.version))

    async def create(self, record: LeaseRecord) -> str:
        self._check()
        if self.record is not None:
            raise Conflict(409, "AlreadyExists", "lease exists")
        return self._set(record)

    async def update(self, record: LeaseRecord, version: str) -> str:
        self._check()
        if self.record is None or version != str(self.version):
            raise Conflict(409, "Conflict", "stale resourceVersion")
        return self._set(record)

    def _set(self, record: LeaseRecord) -> str:
        self.record = record
        self.version += 1
        return str(self.version)

    def _check(self) -> None:
        if self.fail:
            raise ConnectionError("lease store unreachable")


class LeaderElector:
    def __init__(
        self,
        lock: LeaseLock,
        identity: str | None = None,
        *,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        metrics: RuntimeMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not lease_duration > renew_deadline > retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")
        self.lock = lock
        self.identity = identity or default_identity()
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._observed: LeaseRecord | None = None
        self._observed_at = 0.0
        self._last_renew = 0.0
        self.is_leader = False
        self.acquired = asyncio.Event()
        self.lost = asyncio.Event()

    # --- one step of the state machine ---

    async def try_acquire_or_renew(self) -> bool:
        """Read the lease and take or renew it if allowed. True when we hold it afterwards."""
        now = self._clock()
        wall = micro_time(self._wall_clock())
        current = await self.lock.get()
        mine = LeaseRecord(
            holder=self.identity,
            lease_duration=math.ceil(self.lease_duration),
            acquire_time=wall,
            renew_time=wall,
        )
        if current is None:
            try:
                await self.lock.create(mine)
            except Conflict:
                return False
            self._observe(mine, now)
            return True
        record, version = current
        if record != self._observed:
            self._observe(record, now)
        if (
            record.holder
            and record.holder != self.identity
            and self._observed_at + record.lease_duration > now
        ):
            return False  # held by another candidate and not expired on our clock
        if record.holder == self.identity:
            mine = replace(mine, acquire_time=record.acquire_time, transitions=record.transitions)
        else:
            mine = replace(mine, transitions=record.transitions + 1)
        try:
            await self.lock.update(mine, version)
        except Conflict:
            return False
        self._observe(mine, now)
        return True

    def _observe(self, record: LeaseRecord, now: float) -> None:
        self._observed = record
        self._observed_at = now

    def poll_delay(self) -> float:
        """How long a follower waits before its next attempt: a retry period (jittered), or
        less when the observed lease expires sooner."""
        delay = self.retry_period * random.uniform(0.9, 1.1)
        record = self._observed
        if record is not None and record.holder and record.holder != self.identity:
            expires_in = self._observed_at + record.lease_duration - self._clock()
            delay = min(delay, max(0.0, expires_in) + 0.05)
        return delay

    # --- loops ---

    async def acquire(self) -> None:
        """Return once this candidate holds the lease."""
        while True:
            start = self._clock()
            try:
                if await self.try_acquire_or_renew():
                    break
            except Exception as exc:
                log.warning("leader election: could not read or write the %s: %s", self.lock.description, exc)
            await self._sleep(self.poll_delay())
        self._last_renew = start
        self.is_leader = True
        self.lost.clear()
        self.acquired.set()
        if self._metrics:
            self._metrics.leader.set(1)
        log.info("became leader", extra={"identity": self.identity, "lease": self.lock.description})

    async def hold(self) -> None:
        """Renew every retry period; return (with `lost` set) once the renew deadline passed
        without a successful renewal. Cancel it to stop."""
        while True:
            remaining = self._last_renew + self.renew_deadline - self._clock()
            await self._sleep(max(0.0, min(self.retry_period, remaining)))
            remaining = self._last_renew + self.renew_deadline - self._clock()
            if remaining <= 0:
                break
            start = self._clock()
            try:
                renewed = await asyncio.wait_for(self.try_acquire_or_renew(), remaining)
            except TimeoutError:
                renewed = False
            except Exception as exc:
                log.warning("leader election: renewal failed: %s", exc)
                renewed = False
            if renewed:
                self._last_renew = start
            elif self._clock() - self._last_renew >= self.renew_deadline:
                break
        self._lose()

    async def run(self) -> None:
        await self.acquire()
        await self.hold()

    def _lose(self) -> None:
        was = self.is_leader
        self.is_leader = False
        self.acquired.clear()
        self.lost.set()
        if self._metrics:
            self._metrics.leader.set(0)
        if was:
            log.error(
                "lost leadership: lease not renewed within %.1fs",
                self.renew_deadline,
                extra={"identity": self.identity},
            )

    async def release(self) -> None:
        """Give the lease up if we hold it, so a follower takes over at once (best effort)."""
        if not self.is_leader:
            return
        self.is_leader = False
        self.acquired.clear()
        if self._metrics:
            self._metrics.leader.set(0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._release(), self.retry_period)

    async def _release(self) -> None:
        current = await self.lock.get()
        if current is None or current[0].holder != self.identity:
            return
        record, version = current
        wall = micro_time(self._wall_clock())
        empty = LeaseRecord(
            holder="", lease_duration=1, acquire_time=wall, renew_time=wall, transitions=record.transitions
        )
        await self.lock.update(empty, version)
        log.info("released leadership", extra={"identity": self.identity})
