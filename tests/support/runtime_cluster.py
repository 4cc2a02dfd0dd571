"""Helpers for the runtime's integration tests (no tests here): the Gadget CRDs, RBAC for the
operator user, API clients for both users, and polling."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from aim_engine.api.meta import KubeObject, ObjectKey
from aim_engine.runtime import KubeApi, KubeStore, Manager, NotFound, RuntimeMetrics
from aim_engine.runtime.resources import collection_path, object_path
from tests.support.api import admin_api, server_side_apply
from tests.support.gadgets import (
    GADGET_CRDS,
    GROUP,
    ClusterGadget,
    ConfigMap,
    Gadget,
    GadgetReconciler,
    GadgetStatus,
)
from tests.support.kube import KubeCluster, apply_crds

T = TypeVar("T")

ROLE = "aim-engine-runtime-tests"
_prepared: set[str] = set()


def operator_api(kube: KubeCluster) -> KubeApi:
    """The operator's identity (user `aim-engine`), allowed what `prepare` grants."""
    return KubeApi.from_config(kube.kubeconfig("operator"), timeout=30.0)


async def prepare(kube: KubeCluster) -> None:
    """Install the Gadget CRDs and grant the operator user what the test reconciler needs
    (once per process)."""
    if kube.server in _prepared:
        return
    await asyncio.to_thread(apply_crds, kube.info, GADGET_CRDS)
    rules = [
        {"apiGroups": [GROUP], "resources": ["*"], "verbs": ["*"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["*"]},
    ]
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": ROLE}}
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": ROLE},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROLE},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": kube.operator_user}],
    }
    api = admin_api(kube)
    try:
        objects = [
            (f"{rbac}/clusterroles/{ROLE}", {**role, "rules": rules}),
            (f"{rbac}/clusterrolebindings/{ROLE}", binding),
        ]
        for path, body in objects:
            await server_side_apply(api, path, body)
    finally:
        await api.close()
    _prepared.add(kube.server)


def gadget_body(name: str, namespace: str, size: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": Gadget.API_VERSION,
        "kind": "Gadget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"size": size, **spec},
    }


KINDS: dict[str, type[KubeObject]] = {
    "Gadget": Gadget,
    "ClusterGadget": ClusterGadget,
    "ConfigMap": ConfigMap,
}


async def create(api: KubeApi, body: dict[str, Any]) -> dict[str, Any]:
    """POST `body` (a Gadget, ClusterGadget or ConfigMap) as the given user."""
    kind = KINDS[body["kind"]]
    raw = await api.request("POST", collection_path(kind, body["metadata"].get("namespace")), body=body)
    result: dict[str, Any] = msgspec.json.decode(raw)
    return result


async def read_gadget(api: KubeApi, key: ObjectKey) -> Gadget | None:
    try:
        return Gadget.model_validate_json(await api.request("GET", object_path(Gadget, key)))
    except NotFound:
        return None


def status_of(gadget: Gadget | None) -> GadgetStatus | None:
    return gadget.status if gadget is not None else None


def observed_size(gadget: Gadget | None) -> int | None:
    status = status_of(gadget)
    return status.observed_size if status is not None else None


@dataclass
class Running:
    store: KubeStore
    manager: Manager
    reconciler: GadgetReconciler
    task: asyncio.Task[None]

    async def idle(self, quiet: float = 0.5) -> None:
        """Wait until nothing was reconciled for `quiet` seconds and the queue is empty."""
        last = -1
        while True:
            total = sum(self.reconciler.calls.values())
            if total == last and self.manager.queue.is_idle():
                return
            last = total
            await asyncio.sleep(quiet)


@contextlib.asynccontextmanager
async def operator(
    kube: KubeCluster, reconciler_type: type[GadgetReconciler], namespace: str, *, concurrency: int = 4
) -> AsyncIterator[Running]:
    """A Manager with one `reconciler_type` (limited to `namespace`), as the operator user."""
    api = operator_api(kube)
    store = KubeStore(api, metrics=RuntimeMetrics(CollectorRegistry()))
    reconciler = reconciler_type(store, namespace)
    manager = Manager(store, [reconciler], metrics=store.metrics, concurrency=concurrency)
    task = asyncio.create_task(manager.run())
    try:
        await store.wait_synced(timeout=30)
        yield Running(store, manager, reconciler, task)
    finally:
        manager.stop()
        await asyncio.wait_for(task, 15)
        await api.close()


@pytest.fixture(name="admin")
async def admin_fixture(kube: KubeCluster) -> AsyncIterator[KubeApi]:
    """An admin API client, after `prepare`."""
    await prepare(kube)
    api = admin_api(kube)
    yield api
    await api.close()
