"""The resources a service's container gets, and where each value came from. Pure.

The document's order: the service's `spec.resources` wins over the template's, which wins over
the model's (the baseline), per resource name and separately for requests and limits. When only
one of the GPU resource's request and limit is set, it stands for both (Kubernetes accepts an
extended resource only with the two equal). If the GPU resource is still unset afterwards, the
template's discovered GPU count
(`status.profile.metadata.gpu_count`) fills both its request and its limit; a CPU request or
limit still unset comes from the template's resolved hardware (`hardware.cpu`, which custom
models declare). Last, what is still unset of a GPU template's CPU and memory gets the per-GPU
defaults: for N GPUs a request of 4N CPUs and 32N Gi of memory and a memory limit of 48N Gi (what
the published Go engine gives), and a CPU limit of 8N (the document's examples pair 4 with 8),
each kept within a limit or above a request a level did set. KServe's defaulting webhook fills
every one still missing with its own (1 CPU, 2 Gi): no LLM starts in 2 Gi, and a 1-CPU limit
under a 4-CPU request makes the Deployment invalid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from aim_engine.api.meta import ResourceRequirements
from aim_engine.api.quantity import Quantity, to_decimal
from aim_engine.api.v1alpha1.common import CPURequirements
from aim_engine.catalog.gpu import DEFAULT_RESOURCE

Level = Literal["service", "template", "model", "template profile", "template hardware", "per-GPU default"]
GPU_RESOURCE = DEFAULT_RESOURCE


@dataclass(frozen=True)
class MergedResources:
    requests: dict[str, Quantity] = field(default_factory=dict)
    limits: dict[str, Quantity] = field(default_factory=dict)
    origins: dict[str, Level] = field(default_factory=dict)
    """`requests.<name>` / `limits.<name>` → the level the value came from (for explain)."""

    def requirements(self) -> ResourceRequirements | None:
        if not self.requests and not self.limits:
            return None
        return ResourceRequirements(requests=self.requests or None, limits=self.limits or None)


_PRECEDENCE: dict[Level, int] = {
    "service": 0,
    "template": 1,
    "model": 2,
    "template profile": 3,
    "template hardware": 4,
    "per-GPU default": 5,
}


def per_gpu_defaults(gpus: int) -> tuple[dict[str, Quantity], dict[str, Quantity]]:
    """The CPU and memory requests and limits of a container with `gpus` GPUs, where nothing
    sets them (predictors, and v1alpha2 profiles' resources)."""
    requests: dict[str, Quantity] = {"cpu": str(4 * gpus), "memory": f"{32 * gpus}Gi"}
    limits: dict[str, Quantity] = {"cpu": str(8 * gpus), "memory": f"{48 * gpus}Gi"}
    return requests, limits


def _request_is_limit(merged: MergedResources, resource: str) -> None:
    """Kubernetes accepts an extended resource (a GPU) only with its request equal to its limit:
    whichever was given stands for both. Where both were given and differ, the value of the
    higher level wins (service over template over model), and on one level the limit."""
    request, limit = merged.requests.get(resource), merged.limits.get(resource)
    if request == limit:  # both unset, or equal already
        return

    def rank(part: str) -> int:
        origin = merged.origins.get(f"{part}.{resource}")
        return _PRECEDENCE[origin] if origin is not None else len(_PRECEDENCE)

    source, target = "requests", "limits"
    if request is None or (limit is not None and rank("limits") <= rank("requests")):
        source, target = target, source
    parts = {"requests": merged.requests, "limits": merged.limits}
    parts[target][resource] = parts[source][resource]
    merged.origins[f"{target}.{resource}"] = merged.origins[f"{source}.{resource}"]


def merge_resources(
    service: ResourceRequirements | None,
    template: ResourceRequirements | None,
    model: ResourceRequirements | None,
    *,
    profile_gpu_count: int | None = None,
    gpu_resource: str = GPU_RESOURCE,
    hardware_cpu: CPURequirements | None = None,
) -> MergedResources:
    merged = MergedResources()
    # Lowest precedence first: each level overwrites what the one below set.
    levels: list[tuple[Level, ResourceRequirements | None]] = [
        ("model", model),
        ("template", template),
        ("service", service),
    ]
    for level, source in levels:
        if source is None:
            continue
        for part, values in (("requests", source.requests), ("limits", source.limits)):
            target = merged.requests if part == "requests" else merged.limits
            for name, quantity in (values or {}).items():
                target[name] = quantity
                merged.origins[f"{part}.{name}"] = level
    _request_is_limit(merged, gpu_resource)
    if profile_gpu_count:
        for part, target in (("requests", merged.requests), ("limits", merged.limits)):
            if gpu_resource not in target:
                target[gpu_resource] = str(profile_gpu_count)
                merged.origins[f"{part}.{gpu_resource}"] = "template profile"
    if hardware_cpu is not None:
        for part, target, value in (
            ("requests", merged.requests, hardware_cpu.requests),
            ("limits", merged.limits, hardware_cpu.limits),
        ):
            if value is not None and "cpu" not in target:
                target["cpu"] = value
                merged.origins[f"{part}.cpu"] = "template hardware"
    _per_gpu_defaults(merged, gpu_resource)
    return merged


def _per_gpu_defaults(merged: MergedResources, gpu_resource: str) -> None:
    count = merged.limits.get(gpu_resource, merged.requests.get(gpu_resource))
    gpus = int(to_decimal(count)) if count is not None else 0
    if gpus <= 0:
        return
    requests, limits = per_gpu_defaults(gpus)
    # A defaulted request never exceeds the limit a level set, nor a defaulted limit falls
    # below its request.
    for part, defaults, target, other, keep in (
        ("requests", requests, merged.requests, merged.limits, min),
        ("limits", limits, merged.limits, merged.requests, max),
    ):
        for name, value in defaults.items():
            if name in target:
                continue
            given = other.get(name)
            target[name] = value if given is None else keep(value, given, key=to_decimal)
            merged.origins[f"{part}.{name}"] = "per-GPU default"
