"""The operator process: KubeStore + Manager (+ leader election) + probe and metrics servers.

`aim-engine run` is a thin shell around `Operator`; tests build one directly, with their own
reconcilers and settings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aim_engine.runtime.health import HealthServer, LoopHeartbeat, parse_address
from aim_engine.runtime.kube_api import KubeApi
from aim_engine.runtime.kube_store import KubeStore
from aim_engine.runtime.leader import DEFAULT_LEASE_NAME, KubeLeaseLock, LeaderElector
from aim_engine.runtime.manager import Manager
from aim_engine.runtime.metrics import RuntimeMetrics
from aim_engine.runtime.reconciler import Reconciler
from aim_engine.runtime.store import Store

log = logging.getLogger(__name__)


@dataclass
class OperatorSettings:
    namespace: str = "aim-system"
    """The operator's namespace: where the Lease lives (and cluster models' pull secrets)."""
    concurrency: int = 4
    leader_elect: bool = True
    lease_name: str = DEFAULT_LEASE_NAME
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str | None = None
    """Leader-election identity; default: pod/host name plus a random suffix."""
    metrics_address: str | None = "0.0.0.0:8080"
    health_address: str | None = "0.0.0.0:8081"
    resync_period: float | None = None
    """Requeue every object this often (None: only on changes and requested requeues)."""
    shutdown_grace: float = 2.0
    """How long in-flight reconciles may finish on SIGTERM before they are cancelled."""


ReconcilerFactory = Callable[[Store, OperatorSettings], Sequence[Reconciler]]
"""Builds the reconcilers over a store (`aim-engine run` makes one that calls
`aim_engine.controllers.build_reconcilers` with the controllers' settings and an inspector)."""


class Operator:
    def __init__(
        self,
        api: KubeApi,
        settings: OperatorSettings,
        reconcilers: ReconcilerFactory,
        *,
        metrics: RuntimeMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or RuntimeMetrics.default()
        self.store = KubeStore(api, metrics=self.metrics)
        self.elector: LeaderElector | None = None
        if settings.leader_elect:
            self.elector = LeaderElector(
                KubeLeaseLock(api, settings.namespace, settings.lease_name),
                settings.identity,
                lease_duration=settings.lease_duration,
                renew_deadline=settings.renew_deadline,
                retry_period=settings.retry_period,
                metrics=self.metrics,
            )
        self.manager = Manager(
            self.store,
            reconcilers(self.store, settings),
            concurrency=settings.concurrency,
            metrics=self.metrics,
            elector=self.elector,
            resync_period=settings.resync_period,
            shutdown_grace=settings.shutdown_grace,
        )
        self.heartbeat = LoopHeartbeat()
        self.servers: list[HealthServer] = []

    def _build_servers(self) -> list[HealthServer]:
        metrics_at = parse_address(self.settings.metrics_address)
        health_at = parse_address(self.settings.health_address)
        ready = self._is_ready
        if metrics_at is not None and metrics_at == health_at:
            return [
                HealthServer(
                    metrics_at, heartbeat=self.heartbeat, ready=ready, registry=self.metrics.registry
                )
            ]
        servers = []
        if metrics_at is not None:
            servers.append(HealthServer(metrics_at, registry=self.metrics.registry))
        if health_at is not None:
            servers.append(HealthServer(health_at, heartbeat=self.heartbeat, ready=ready, registry=None))
        return servers

    def _is_ready(self) -> bool:
        return self.manager.ready

    async def run(self) -> None:
        """Run until `stop()`; LeadershipLost propagates (the process should then exit)."""
        self.heartbeat.start()
        self.servers = self._build_servers()
        for server in self.servers:
            server.start()
        try:
            await self.manager.run()
        finally:
            await self.heartbeat.stop()
            for server in self.servers:
                await asyncio.to_thread(server.stop)

    def stop(self) -> None:
        self.manager.stop()
