"""The aim-engine operator, running inside the test process against the session's control plane.

It runs with the identity the Helm chart gives it: the admin client impersonates the service
account `aim-system/aim-engine`, which is bound to exactly the rules in
`deploy/chart/files/*-rules.yaml`. A permission missing from the chart therefore fails these
tests. Only the test registries on loopback may be contacted (`allowed_registries`).

All tests that use the operator run in one xdist worker (group "aim-operator"), because the
operator watches every namespace and two of them would fight over the same objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from aim_engine.controllers import ControllerSettings, build_reconcilers
from aim_engine.registry.inspector import ImageInspector
from aim_engine.registry.settings import RegistrySettings
from aim_engine.runtime.kube_store import KubeStore
from aim_engine.runtime.manager import Manager
from tests.support.api import admin_api, server_side_apply
from tests.support.kube import KubeCluster
from tests.support.registries import Registries

REPO = Path(__file__).resolve().parents[2]
CHART_FILES = REPO / "deploy" / "chart" / "files"
OPERATOR_NAMESPACE = "aim-system"
SERVICE_ACCOUNT = "aim-engine"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{SERVICE_ACCOUNT}"
GROUP = "aim-operator"
"""xdist group of every test that uses the operator."""

T = TypeVar("T")


async def grant_chart_rbac(kube: KubeCluster) -> None:
    """The chart's ClusterRole/Role and bindings, for the impersonated service account."""
    api = admin_api(kube)
    subject = [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": OPERATOR_NAMESPACE}]
    cluster_rules = yaml.safe_load((CHART_FILES / "clusterrole-rules.yaml").read_text())
    role_rules = yaml.safe_load((CHART_FILES / "role-rules.yaml").read_text())
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    objects: list[tuple[str, dict[str, Any]]] = [
        (
            f"{rbac}/clusterroles",
            {"kind": "ClusterRole", "metadata": {"name": "aim-engine-test"}, "rules": cluster_rules},
        ),
        (
            f"{rbac}/clusterrolebindings",
            {
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "aim-engine-test"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "aim-engine-test",
                },
                "subjects": subject,
            },
        ),
        (
            f"{rbac}/namespaces/{OPERATOR_NAMESPACE}/roles",
            {"kind": "Role", "metadata": {"name": "aim-engine-test"}, "rules": role_rules},
        ),
        (
            f"{rbac}/namespaces/{OPERATOR_NAMESPACE}/rolebindings",
            {
                "kind": "RoleBinding",
                "metadata": {"name": "aim-engine-test"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "aim-engine-test",
                },
                "subjects": subject,
            },
        ),
    ]
    try:
        for collection, partial in objects:
            body = {"apiVersion": "rbac.authorization.k8s.io/v1", **partial}
            await server_side_apply(api, f"{collection}/{body['metadata']['name']}", body)
    finally:
        await api.close()


@dataclass
class RunningOperator:
    store: KubeStore
    manager: Manager
    inspector: ImageInspector
    task: asyncio.Task[None]

    async def idle(self, within: float = 30.0) -> None:
        """Wait until the operator has nothing to do now: every key it was given (a requeue_all,
        the events that reached its cache) reconciled. What a check that "nothing happened"
        waits for, instead of a fixed time in which the operator may not have looked yet."""
        deadline = time.monotonic() + within
        while not self.manager.queue.is_idle():
            if time.monotonic() > deadline:
                raise AssertionError(f"the operator was still busy after {within:.0f} s")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self.manager.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, 15)
        await self.inspector.aclose()
        await self.store.api.close()


async def start_operator(
    kube: KubeCluster, registries: Registries, *, concurrency: int = 4
) -> RunningOperator:
    await grant_chart_rbac(kube)
    settings = ControllerSettings(
        operator_namespace=OPERATOR_NAMESPACE,
        # Quick retries inside one inspection: outage tests rely on the reconcile-level backoff.
        registry=RegistrySettings(ca_bundle=registries.ca_bundle, retries=1, backoff_base=0.1),
        # Any port on loopback (the test registries, scratch registries); nothing else, so no
        # test ever reaches out to Docker Hub for the document's example images.
        allowed_registries=("127.0.0.1", "localhost"),
    )
    store = KubeStore(admin_api(kube, impersonate=OPERATOR_USER))
    inspector = ImageInspector(settings.registry)
    manager = Manager(store, build_reconcilers(store, settings, inspector), concurrency=concurrency)
    task = asyncio.create_task(manager.run(), name="aim-engine-operator")
    deadline = time.monotonic() + 30
    while not manager.ready:
        if task.done():
            task.result()  # raises what stopped it
        if time.monotonic() > deadline:
            raise AssertionError("the operator's caches did not sync within 30s")
        await asyncio.sleep(0.05)
    return RunningOperator(store, manager, inspector, task)
