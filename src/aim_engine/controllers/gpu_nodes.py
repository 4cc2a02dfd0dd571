"""A watch predicate on Nodes: only a change of what a node says about its GPUs passes.

Node objects change all the time (heartbeats, conditions, unrelated labels); templates,
profiles and services care only about the GPU labels and the allocatable extended resources
(`amd.com/gpu`, or whatever `gpu.resourceName` a template requests), so every other node event
must not requeue them.
"""

from __future__ import annotations

from aim_engine.api.core import Node
from aim_engine.catalog.gpu import (
    DEVICE_LABELS,
    FAMILY_LABEL,
    VRAM_LABEL,
    NodeGPUs,
    node_gpus,
)
from aim_engine.runtime.store import Store


def gpu_signature(node: Node | None) -> tuple[object, ...] | None:
    """What the node says about its GPUs; None when it says nothing (or there is no node)."""
    if node is None:
        return None
    relevant = tuple(
        sorted(
            (k, v)
            for k, v in node.labels.items()
            if k in (VRAM_LABEL, FAMILY_LABEL) or any(k.startswith(d) for d in DEVICE_LABELS)
        )
    )
    allocatable = node.status.allocatable if node.status and node.status.allocatable else {}
    extended = tuple(sorted((k, str(v)) for k, v in allocatable.items() if "/" in k))
    if not relevant and not extended:
        return None
    return (relevant, extended)


def gpu_signature_changed(old: Node | None, new: Node | None) -> bool:
    """A node appeared, went or changed with GPUs in the picture before or after."""
    return gpu_signature(old) != gpu_signature(new)


def inventory(store: Store) -> list[NodeGPUs]:
    """The AMD GPUs of every cached node (nodes without GPU labels left out)."""
    found = []
    for node in store.list(Node):
        allocatable = node.status.allocatable if node.status and node.status.allocatable else {}
        gpus = node_gpus(node.name, node.labels, allocatable)
        if gpus is not None:
            found.append(gpus)
    return found
