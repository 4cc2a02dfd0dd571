"""GPU inventory from the node labels AMD's GPU operator sets, and whether hardware fits.

Labels read: `amd.com/gpu.device-id` (also `beta.amd.com/gpu.device-id` and the count-encoded
`amd.com/gpu.device-id.<id>=N` form), `amd.com/gpu.vram` (e.g. "192G") and `amd.com/gpu.family`
as a last resort. Device ids map to the marketing names users write in `gpu.models`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from aim_engine.api.quantity import to_decimal

DEVICE_LABELS = ("amd.com/gpu.device-id", "beta.amd.com/gpu.device-id")
VRAM_LABEL = "amd.com/gpu.vram"
FAMILY_LABEL = "amd.com/gpu.family"
DEFAULT_RESOURCE = "amd.com/gpu"

# PCI device id -> GPU model (AMD Instinct).
DEVICE_MODELS: dict[str, str] = {
    "738c": "MI100",
    "738e": "MI100",
    "7408": "MI250X",
    "740c": "MI250X",
    "740f": "MI210",
    "7410": "MI210",
    "74a0": "MI300A",
    "74a1": "MI300X",
    "74a9": "MI300X",
    "74b5": "MI300X",
    "74bd": "MI300X",
    "74a2": "MI308X",
    "74a8": "MI308X",
    "74b6": "MI308X",
    "74a5": "MI325X",
    "74b9": "MI325X",
    "75a0": "MI350X",
    "75b0": "MI350X",
    "75a3": "MI355X",
    "75b3": "MI355X",
}

GIB = 2**30
# VRAM per GPU when the node does not carry amd.com/gpu.vram.
MODEL_VRAM_GIB: dict[str, int] = {
    "MI100": 32,
    "MI210": 64,
    "MI250": 128,
    "MI250X": 128,
    "MI300A": 128,
    "MI300X": 192,
    "MI308X": 128,
    "MI325X": 256,
    "MI350X": 288,
    "MI355X": 288,
}


def normalize_model(name: str) -> str:
    """ "mi300x", "AMD MI300X", "Instinct-MI300X" all mean MI300X."""
    upper = name.strip().upper()
    for prefix in ("AMD ", "AMD-", "INSTINCT ", "INSTINCT-"):
        upper = upper.removeprefix(prefix)
    return upper


def model_for_device(device_id: str) -> str:
    device = device_id.lower().removeprefix("0x")
    return DEVICE_MODELS.get(device, f"AMD-{device.upper()}")


@dataclass(frozen=True)
class NodeGPUs:
    node: str
    model: str
    vram_bytes: Decimal | None
    allocatable: int | None = None
    """`amd.com/gpu` allocatable; None when the node reports no extended resource at all."""
    extended: Mapping[str, int] | None = None
    """Every extended resource (a name with a `/`) the node can allocate, by name."""

    def count(self, resource: str = DEFAULT_RESOURCE) -> int | None:
        """How many of `resource` (a template's `gpu.resourceName`) the node can allocate; None
        when it reports no extended resource at all (nothing to judge by), 0 when it reports
        others but not this one."""
        if resource == DEFAULT_RESOURCE or self.extended is None:
            return self.allocatable
        return self.extended.get(resource, 0)


def node_gpus(
    node_name: str, labels: Mapping[str, str], allocatable: Mapping[str, str | int]
) -> NodeGPUs | None:
    """The GPUs of one node, or None when the node has no AMD GPU labels."""
    model = _model_from_labels(labels)
    if model is None:
        return None
    vram = _vram(labels.get(VRAM_LABEL), model)
    extended = {name: int(to_decimal(raw)) for name, raw in allocatable.items() if "/" in name}
    count = extended.get(DEFAULT_RESOURCE)
    return NodeGPUs(node_name, model, vram, count, extended or None)


def _model_from_labels(labels: Mapping[str, str]) -> str | None:
    for key in DEVICE_LABELS:
        if labels.get(key):
            return model_for_device(labels[key])
    for key in labels:
        for prefix in DEVICE_LABELS:
            if key.startswith(prefix + "."):
                return model_for_device(key.removeprefix(prefix + "."))
    family = labels.get(FAMILY_LABEL)
    return normalize_model(family) if family else None


def _vram(label: str | None, model: str) -> Decimal | None:
    if label:
        text = label.strip()
        # The GPU operator writes "192G" meaning GiB; accept proper quantities too.
        if text[-1:] in ("G", "T") and text[:-1].replace(".", "", 1).isdigit():
            factor = GIB if text[-1] == "G" else GIB * 1024
            return Decimal(text[:-1]) * factor
        try:
            return to_decimal(text)
        except ValueError:
            pass
    known = MODEL_VRAM_GIB.get(model)
    return Decimal(known * GIB) if known else None


def how_many_nodes(n: int) -> str:
    return f"{n} node" if n == 1 else f"{n} nodes"


def census(nodes: Iterable[NodeGPUs]) -> str:
    """The GPU models of the cluster with the number of nodes of each, e.g. "MI300X on 2 nodes,
    MI325X on 1 node" ("none" without GPU nodes): what a message that no node fits shows."""
    counts = Counter(n.model for n in nodes)
    return ", ".join(f"{model} on {how_many_nodes(k)}" for model, k in sorted(counts.items())) or "none"


@dataclass(frozen=True)
class Fit:
    available: bool
    reason: str
    message: str


def fits(
    inventory: Iterable[NodeGPUs],
    *,
    count: int,
    models: Sequence[str],
    min_vram: str | int | None,
    resource: str = DEFAULT_RESOURCE,
) -> Fit:
    """Whether any node can host `count` GPUs of one of `models` with at least `min_vram` each,
    allocated as `resource` (the template's `gpu.resourceName`: what its container requests)."""
    wanted = {normalize_model(m) for m in models}
    need_vram = to_decimal(min_vram) if min_vram is not None else None
    nodes = list(inventory)
    by_model = [n for n in nodes if not wanted or n.model in wanted]
    if not by_model:
        want = ", ".join(sorted(wanted)) if wanted else "any AMD GPU"
        return Fit(False, "GPUNotAvailable", f"No node has {want}; GPUs in the cluster: {census(nodes)}")
    by_vram = [
        n for n in by_model if need_vram is None or (n.vram_bytes is not None and n.vram_bytes >= need_vram)
    ]
    if not by_vram:
        return Fit(False, "VRAMNotAvailable", f"No node has GPUs with at least {min_vram} of memory each")
    by_count = [n for n in by_vram if (free := n.count(resource)) is None or free >= count]
    if not by_count:
        best = max(n.count(resource) or 0 for n in by_vram)
        what = "GPUs" if resource == DEFAULT_RESOURCE else f"{resource}"
        message = (
            f"No node can allocate {count} {what}: {how_many_nodes(len(by_vram))} with the GPU, "
            f"the most on one node is {best}"
        )
        return Fit(False, "GPUNotAvailable", message)
    names = sorted({n.node for n in by_count})
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return Fit(True, "GPUAvailable", f"{len(names)} node(s) can run it: {shown}")
