"""The operator's controllers run to a fixpoint on the in-memory store, for the fast tests of
their logic (no tests here): image metadata and a GPU node to seed, a model document, the
`Catalog` that settles, and finders for objects and conditions."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from aim_engine.api import AIM_KINDS
from aim_engine.api.core import Node, Secret
from aim_engine.controllers import ControllerSettings, build_reconcilers
from aim_engine.registry.inspector import ImageInspector
from aim_engine.runtime.fixpoint import run_until_idle
from aim_engine.runtime.manager import Manager
from aim_engine.runtime.memory_store import MemoryStore
from aim_engine.runtime.metrics import RuntimeMetrics

METADATA = {
    "model": {
        "canonicalName": "Qwen/Qwen3-32B",
        "recommendedDeployments": [
            {"gpuModel": "MI300X", "gpuCount": 1, "precision": "fp8", "metric": "latency"},
            {"gpuModel": "MI325X", "gpuCount": 2, "precision": "fp16", "metric": "throughput"},
        ],
    }
}
NODE = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {"name": "gpu-1", "labels": {"amd.com/gpu.device-id": "74a1"}},
    "status": {"allocatable": {"amd.com/gpu": "8"}},
}


def model(kind: str, name: str, spec: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": kind, "metadata": meta, "spec": spec}


class Catalog:
    """The operator's controllers over a MemoryStore, run to a fixpoint on demand."""

    def __init__(self, documents: list[dict[str, Any]], settings: ControllerSettings | None = None) -> None:
        self.store = MemoryStore([*AIM_KINDS, Node, Secret])
        self.store.load(documents)
        self.inspector = ImageInspector()
        reconcilers = build_reconcilers(self.store, settings or ControllerSettings(), self.inspector)
        self.manager = Manager(self.store, reconcilers, metrics=RuntimeMetrics(CollectorRegistry()))

    async def settle(self, *, requeue_all: bool = True) -> MemoryStore:
        """Reconcile to a fixpoint; without `requeue_all`, only what the changes since the last
        settle enqueued (as on a cluster, where nothing else wakes a reconciler)."""
        report = await run_until_idle(self.manager, requeue_all=requeue_all)
        assert report.converged, report.errors
        return self.store


async def settle(documents: list[dict[str, Any]]) -> MemoryStore:
    catalog = Catalog(documents)
    try:
        return await catalog.settle()
    finally:
        await catalog.inspector.aclose()


def find(store: MemoryStore, kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        o for o in store.objects() if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == kind)
