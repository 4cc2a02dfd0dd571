"""Profiles of a v1alpha2 model: one per deployment its image recommends, and their status.
Pure.

A profile carries what the image says about one way to run the model (`aimId`, `modelId`,
`profileId`, `engine`, `metric`, `precision`, `type`, the accelerator) plus the model's image
and sources. It has the name of the template generated for the same deployment. The first
deployment the image lists is `primary` (image authors list their recommendation first).

Status: `Ready` when some node has the accelerator model with enough allocatable GPUs,
`Degraded` when nodes have the model but none has enough free, `NotAvailable` when no node has
it. CPU profiles fit every node. Resources: for N GPUs, requests `cpu: 4N`, `memory: 32N Gi`,
`amd.com/gpu: N` and limits `cpu: 8N`, `memory: 48N Gi`, `amd.com/gpu: N`, with `spec.resources` winning
per resource name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from aim_engine.api.meta import ResourceRequirements
from aim_engine.api.quantity import Quantity
from aim_engine.api.v1alpha1 import AIMModelSpec, ImageMetadata
from aim_engine.api.v1alpha1.common import ObjectStatus
from aim_engine.api.v1alpha2.profile import AIMProfileSpec
from aim_engine.catalog import labels
from aim_engine.catalog.conditions import READY, Cond
from aim_engine.catalog.gpu import NodeGPUs, census, how_many_nodes, normalize_model
from aim_engine.catalog.images import image_tag
from aim_engine.catalog.resources import GPU_RESOURCE, per_gpu_defaults
from aim_engine.catalog.templates import recommended_template

HARDWARE = "HardwareAvailable"


@dataclass(frozen=True)
class DesiredProfile:
    name: str
    spec: AIMProfileSpec
    labels: dict[str, str] = field(default_factory=dict)


def plan_profiles(
    model_name: str, spec: AIMModelSpec, metadata: ImageMetadata | None
) -> list[DesiredProfile]:
    """The profiles a v1alpha2 image model publishes, given its image metadata."""
    deployments = (metadata.model.recommended_deployments if metadata and metadata.model else None) or []
    found: dict[str, DesiredProfile] = {}
    for index, deployment in enumerate(deployments):
        assert metadata is not None
        template = recommended_template(model_name, spec, metadata, deployment)
        gpu = deployment.gpu_model or None
        count = deployment.gpu_count
        profile = AIMProfileSpec(
            aim_id=template.spec.aim_id,
            model_id=template.spec.model_id,
            profile_id=deployment.profile_id,
            engine=deployment.engine,
            metric=template.spec.metric,
            precision=template.spec.precision,
            type=template.spec.type,
            primary=index == 0,
            accelerator_model=gpu,
            accelerator_type="gpu" if gpu or count else "cpu",
            accelerator_count=count,
            image=spec.image,
            model_sources=spec.model_sources,
            image_pull_secrets=spec.image_pull_secrets,
            service_account_name=spec.service_account_name,
        )
        reparsed = AIMProfileSpec.model_validate(
            profile.model_dump(by_alias=True, exclude_none=True, mode="json")
        )
        found.setdefault(
            template.name,
            DesiredProfile(
                template.name, reparsed, {labels.MODEL: model_name, labels.ORIGIN: labels.ORIGIN_AUTO}
            ),
        )
    return list(found.values())


@dataclass(frozen=True)
class ProfileVerdict:
    status: ObjectStatus
    conditions: list[Cond]
    matching_nodes: int
    hardware_summary: str
    resources: ResourceRequirements | None
    version: str | None


def default_resources(accelerator_type: str | None, count: int | None) -> dict[str, dict[str, Quantity]]:
    if accelerator_type == "cpu" or not count:
        return {"requests": {}, "limits": {}}
    requests, limits = per_gpu_defaults(count)
    return {
        "requests": {**requests, GPU_RESOURCE: str(count)},
        "limits": {**limits, GPU_RESOURCE: str(count)},
    }


def resolved_resources(spec: AIMProfileSpec) -> ResourceRequirements | None:
    merged = default_resources(spec.accelerator_type, spec.accelerator_count)
    if spec.resources is not None:
        merged["requests"].update(spec.resources.requests or {})
        merged["limits"].update(spec.resources.limits or {})
    if not merged["requests"] and not merged["limits"]:
        return None
    return ResourceRequirements(requests=merged["requests"] or None, limits=merged["limits"] or None)


def summary(spec: AIMProfileSpec) -> str:
    if spec.accelerator_type == "cpu" or not (spec.accelerator_model or spec.accelerator_count):
        return "CPU"
    model = spec.accelerator_model or "GPU"
    return f"{spec.accelerator_count} x {model}" if spec.accelerator_count else model


def evaluate(spec: AIMProfileSpec, inventory: Sequence[NodeGPUs], node_count: int) -> ProfileVerdict:
    hardware = summary(spec)
    version = image_tag(spec.image)
    resources = resolved_resources(spec)
    if hardware == "CPU":
        cond = Cond(HARDWARE, "True", "NoAcceleratorRequired", f"Runs on CPU; {node_count} node(s)")
        ready = Cond(READY, "True", "ProfileReady", "CPU profile")
        return ProfileVerdict("Ready", [cond, ready], node_count, hardware, resources, version)
    wanted = normalize_model(spec.accelerator_model) if spec.accelerator_model else None
    count = spec.accelerator_count or 0
    of_model = [n for n in inventory if wanted is None or n.model == wanted]
    fitting = [n for n in of_model if n.allocatable is None or n.allocatable >= count]
    if fitting:
        names = sorted({n.node for n in fitting})
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        cond = Cond(
            HARDWARE, "True", "HardwareAvailable", f"{len(names)} node(s) can run {hardware}: {shown}"
        )
        ready = Cond(READY, "True", "ProfileReady", f"{hardware} available")
        return ProfileVerdict("Ready", [cond, ready], len(names), hardware, resources, version)
    if of_model:
        most = max(n.allocatable or 0 for n in of_model)
        message = (
            f"{how_many_nodes(len(of_model))} with {wanted or 'GPUs'}, but none can allocate {count} "
            f"(the most on one node is {most})"
        )
        cond = Cond(HARDWARE, "False", "InsufficientAccelerators", message)
        return ProfileVerdict(
            "Degraded", [cond, Cond(READY, "False", cond.reason, message)], 0, hardware, resources, version
        )
    message = f"No node has {wanted or 'an AMD GPU'}; GPUs in the cluster: {census(inventory)}"
    cond = Cond(HARDWARE, "False", "AcceleratorNotAvailable", message)
    return ProfileVerdict(
        "NotAvailable", [cond, Cond(READY, "False", cond.reason, message)], 0, hardware, resources, version
    )
