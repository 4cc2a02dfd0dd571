"""Leader election on a real Lease: never two leaders, takeover within 5 s of a graceful stop
and within 20 s of a SIGKILL; only the leader reconciles."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from aim_engine.api.meta import ObjectKey
from aim_engine.runtime import KubeApi, Operator, OperatorSettings, Reconciler, RuntimeMetrics, Store
from tests.support.gadgets import GadgetReconciler
from tests.support.kube import REPO, KubeCluster, free_ports
from tests.support.runtime_cluster import (
    admin_fixture,  # noqa: F401 - the `admin` fixture
    create,
    gadget_body,
    observed_size,
    operator_api,
    read_gadget,
)
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GRACEFUL_BOUND = 5.0
KILL_BOUND = 20.0


class Sampler:
    """Samples who believes it leads, every few milliseconds, in the background."""

    def __init__(self, probe: Callable[[], Sequence[bool]], interval: float = 0.02) -> None:
        self.probe = probe
        self.interval = interval
        self.samples = 0
        self.overlaps: list[Sequence[bool]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            leaders = await asyncio.to_thread(self.probe)
            self.samples += 1
            if sum(leaders) > 1:
                self.overlaps.append(leaders)
            await asyncio.sleep(self.interval)

    def __enter__(self) -> Sampler:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def wait_until(check: Callable[[], bool], within: float, what: str) -> float:
    """Seconds until `check()` holds (polled every 10 ms)."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > within:
            raise AssertionError(f"{what}: not within {within}s")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


async def test_two_managers_in_one_process_never_lead_together(
    kube: KubeCluster, namespace: str, admin: KubeApi
) -> None:
    apis: list[KubeApi] = []
    reconcilers: list[GadgetReconciler] = []

    def factory(store: Store, settings: OperatorSettings) -> Sequence[Reconciler]:
        reconciler = GadgetReconciler(store, namespace)
        reconcilers.append(reconciler)
        return [reconciler]

    operators = []
    for _ in range(2):
        api = operator_api(kube)
        apis.append(api)
        settings = OperatorSettings(
            namespace=namespace, lease_name="leader", metrics_address=None, health_address=None
        )
        operators.append(Operator(api, settings, factory, metrics=RuntimeMetrics(CollectorRegistry())))
    tasks = [asyncio.create_task(op.run()) for op in operators]
    try:
        with Sampler(lambda: [op.manager.leading for op in operators]) as sampler:
            await wait_until(lambda: any(op.manager.leading for op in operators), 30, "a leader")
            leader = next(i for i, op in enumerate(operators) if op.manager.leading)
            follower = 1 - leader
            await create(admin, gadget_body("g1", namespace))
            await eventually(
                lambda: read_gadget(admin, ObjectKey(namespace, "g1")), lambda g: observed_size(g) == 1
            )
            assert reconcilers[follower].calls == {}  # the follower's caches are warm, it does not act
            assert operators[follower].manager.ready

            stop_at = time.monotonic()
            operators[leader].stop()
            took = await wait_until(lambda: operators[follower].manager.leading, GRACEFUL_BOUND, "takeover")
            await asyncio.wait_for(tasks[leader], 10)
            await create(admin, gadget_body("g2", namespace, 2))
            await eventually(
                lambda: read_gadget(admin, ObjectKey(namespace, "g2")), lambda g: observed_size(g) == 2
            )
            assert reconcilers[follower].calls[ObjectKey(namespace, "g2")] >= 1
        print(f"\nin-process takeover after a graceful stop: {took:.2f}s ({time.monotonic() - stop_at:.2f}s)")
        assert sampler.overlaps == [], f"two leaders at once in {len(sampler.overlaps)} of {sampler.samples}"
        assert sampler.samples > 50
    finally:
        for op in operators:
            op.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        for api in apis:
            await api.close()


class Process:
    """`python -m aim_engine.cli.run run` with the Gadget test reconciler."""

    def __init__(self, kube: KubeCluster, namespace: str, logs: Path, name: str) -> None:
        (self.port,) = free_ports(1)
        self.name = name
        self.log_path = logs / f"{name}.log"
        env = {**os.environ, "AIM_TEST_GADGET_NAMESPACE": namespace, "PYTHONUNBUFFERED": "1"}
        argv = [
            sys.executable,
            "-m",
            "aim_engine.cli.run",
            "run",
            "--kubeconfig",
            str(kube.operator_kubeconfig_path),
            "--namespace",
            namespace,
            "--metrics-address",
            f"127.0.0.1:{self.port}",
            "--health-address",
            "0",
            "--reconcilers",
            "tests.support.gadgets:build",
        ]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)

    def leading(self) -> bool:
        """The process's own `aim_engine_leader` gauge (False when it does not answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=1) as r:
                text = r.read().decode()
        except OSError:
            return False
        match = re.search(r"^aim_engine_leader (\S+)$", text, re.M)
        return bool(match and float(match.group(1)) == 1.0)

    def serving(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=1):
                return True
        except OSError:
            return False

    def stop(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


@contextlib.contextmanager
def processes() -> Iterator[list[Process]]:
    running: list[Process] = []
    try:
        yield running
    finally:
        for p in running:
            p.stop(signal.SIGKILL)
            p.proc.wait(10)


async def test_operator_processes_fail_over_after_sigterm_and_sigkill(
    kube: KubeCluster, namespace: str, admin: KubeApi, tmp_path: Path
) -> None:
    with processes() as procs:
        procs += [Process(kube, namespace, tmp_path, "first"), Process(kube, namespace, tmp_path, "second")]
        with Sampler(lambda: [p.leading() for p in procs], interval=0.01) as sampler:
            await wait_until(lambda: any(p.leading() for p in procs), 60, "a leader")
            leader = next(p for p in procs if p.leading())
            survivor = next(p for p in procs if p is not leader)
            await wait_until(survivor.serving, 30, "the follower serving")
            await asyncio.sleep(1)  # let the follower observe the lease

            leader.stop(signal.SIGTERM)
            graceful = await wait_until(
                survivor.leading, GRACEFUL_BOUND, f"takeover after SIGTERM\n{survivor.log()}"
            )
            code = await asyncio.to_thread(leader.proc.wait, 10)
            assert code == 0, leader.log()

            # The new leader reconciles.
            await create(admin, gadget_body("g", namespace, 3))
            await eventually(
                lambda: read_gadget(admin, ObjectKey(namespace, "g")), lambda g: observed_size(g) == 3
            )

            third = Process(kube, namespace, tmp_path, "third")
            procs.append(third)
            await wait_until(third.serving, 30, "the third process serving")
            await asyncio.sleep(3)  # it has seen the lease renewed at least once
            assert not third.leading()

            survivor.stop(signal.SIGKILL)
            killed = await wait_until(third.leading, KILL_BOUND, f"takeover after SIGKILL\n{third.log()}")
        print(f"\nfailover: {graceful:.2f}s after SIGTERM of the leader, {killed:.2f}s after SIGKILL")
        assert sampler.overlaps == [], f"two leaders at once in {len(sampler.overlaps)} of {sampler.samples}"
        assert sampler.samples > 100
