"""A watch predicate on Nodes: only a change of what a node says about its GPUs passes.

Node objects change all the time (heartbeats, conditions, unrelated labels); templates and
services care only about the GPU labels and the allocatable GPU count, so every other node
event must not requeue them.
"""

from __future__ import annotations

from aim_engine.api.core import Node
from aim_engine.api.meta import KubeObject
from aim_engine.catalog.gpu import (
    DEFAULT_RESOURCE,
    DEVICE_LABELS,
    FAMILY_LABEL,
    VRAM_LABEL,
    NodeGPUs,
    node_gpus,
)
from aim_engine.runtime.store import Store


def gpu_signature(node: Node) -> tuple[object, ...] | None:
    """What the node says about its GPUs; None when it says nothing."""
    relevant = tuple(
        sorted(
            (k, v)
            for k, v in node.labels.items()
            if k in (VRAM_LABEL, FAMILY_LABEL) or any(k.startswith(d) for d in DEVICE_LABELS)
        )
    )
    allocatable = node.status.allocatable if node.status and node.status.allocatable else {}
    gpu = allocatable.get(DEFAULT_RESOURCE)
    if not relevant and gpu is None:
        return None
    return (relevant, gpu)


class GPUNodeFilter:
    """Remembers each node's GPU signature; `changed` says whether an event altered it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._seen: dict[str, tuple[object, ...]] = {}

    def changed(self, node: KubeObject) -> bool:
        live = self.store.get(Node, node.name)
        signature = gpu_signature(live) if live is not None else None
        if self._seen.get(node.name) == signature:
            return False
        if signature is None:
            del self._seen[node.name]
        else:
            self._seen[node.name] = signature
        return True


def inventory(store: Store) -> list[NodeGPUs]:
    """The AMD GPUs of every cached node (nodes without GPU labels left out)."""
    found = []
    for node in store.list(Node):
        allocatable = node.status.allocatable if node.status and node.status.allocatable else {}
        gpus = node_gpus(node.name, node.labels, allocatable)
        if gpus is not None:
            found.append(gpus)
    return found
