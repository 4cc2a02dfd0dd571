"""Profiles of v1alpha2 models: the spec from the image metadata, status from the nodes, and
resolved resources (catalog/profiles.py); the namespace-first lookup (controllers/lookup.py)."""

from __future__ import annotations

from decimal import Decimal

from aim_engine.api.v1alpha1 import AIMModelSpec, ImageMetadata
from aim_engine.api.v1alpha2 import AIMProfileSpec
from aim_engine.api.v1alpha2.profile import AIMClusterProfile, AIMProfile
from aim_engine.catalog.gpu import NodeGPUs
from aim_engine.catalog.profiles import evaluate, plan_profiles, resolved_resources
from aim_engine.controllers.lookup import find_profile
from aim_engine.runtime.memory_store import MemoryStore

METADATA = ImageMetadata.model_validate(
    {
        "model": {
            "canonicalName": "qwen/qwen3-32b",
            "recommendedDeployments": [
                {
                    "gpuModel": "MI300X",
                    "gpuCount": 1,
                    "precision": "fp8",
                    "metric": "latency",
                    "modelId": "qwen/qwen3-32b-fp8",
                    "engine": "vllm",
                    "profileId": "p1",
                },
                {"gpuModel": "MI325X", "gpuCount": 2, "precision": "fp16", "metric": "throughput"},
                {"precision": "fp32", "metric": "latency"},
            ],
        }
    }
)


def test_one_profile_per_deployment_named_like_its_template() -> None:
    spec = AIMModelSpec.model_validate(
        {
            "image": "amdenterpriseai/aim-qwen:0.8.5",
            "aimId": "qwen/family",
            "imagePullSecrets": [{"name": "regcred"}],
        }
    )
    profiles = plan_profiles("qwen", spec, METADATA)
    assert [p.name.rsplit("-", 1)[0] for p in profiles] == [
        "qwen-1x-mi300x-lat-fp8",
        "qwen-2x-mi325x-thr-fp16",
        "qwen-lat-fp32",
    ]
    first, second, cpu = (p.spec for p in profiles)
    assert first.dump() == {
        "aimId": "qwen/family",
        "modelId": "qwen/qwen3-32b-fp8",
        "profileId": "p1",
        "engine": "vllm",
        "metric": "latency",
        "precision": "fp8",
        "type": "optimized",
        "primary": True,
        "acceleratorModel": "MI300X",
        "acceleratorType": "gpu",
        "acceleratorCount": 1,
        "image": "amdenterpriseai/aim-qwen:0.8.5",
        "imagePullSecrets": [{"name": "regcred"}],
    }
    assert second.primary is False and second.model_id == "qwen/qwen3-32b"
    assert (cpu.accelerator_type, cpu.accelerator_model, cpu.accelerator_count) == ("cpu", None, None)
    assert plan_profiles("qwen", spec, None) == []
    assert profiles[0].labels == {"aim.eai.amd.com/model": "qwen", "aim.eai.amd.com/origin": "auto-generated"}


def node(name: str, model: str, allocatable: int | None) -> NodeGPUs:
    return NodeGPUs(name, model, Decimal(192 * 2**30), allocatable)


def test_status_from_nodes() -> None:
    spec = AIMProfileSpec(
        accelerator_model="MI300X", accelerator_type="gpu", accelerator_count=2, image="x/qwen:0.8.5"
    )
    ready = evaluate(spec, [node("a", "MI300X", 8), node("b", "MI300X", 8), node("c", "MI325X", 8)], 3)
    assert (ready.status, ready.matching_nodes, ready.hardware_summary, ready.version) == (
        "Ready",
        2,
        "2 x MI300X",
        "0.8.5",
    )
    assert [c.reason for c in ready.conditions] == ["HardwareAvailable", "ProfileReady"]
    short = evaluate(spec, [node("a", "MI300X", 1)], 1)
    assert (short.status, short.conditions[0].reason) == ("Degraded", "InsufficientAccelerators")
    assert "the most on one node is 1" in short.conditions[0].message
    none = evaluate(spec, [node("c", "MI325X", 8)], 1)
    assert (none.status, none.matching_nodes, none.conditions[0].reason) == (
        "NotAvailable",
        0,
        "AcceleratorNotAvailable",
    )
    assert "GPUs in the cluster: MI325X" in none.conditions[0].message
    cpu = evaluate(AIMProfileSpec(accelerator_type="cpu"), [], 4)
    assert (cpu.status, cpu.matching_nodes, cpu.hardware_summary) == ("Ready", 4, "CPU")


def test_resources_default_from_the_accelerators_and_spec_wins() -> None:
    spec = AIMProfileSpec.model_validate(
        {
            "acceleratorType": "gpu",
            "acceleratorModel": "MI300X",
            "acceleratorCount": 2,
            "resources": {"requests": {"memory": "100Gi"}, "limits": {"cpu": "16"}},
        }
    )
    resolved = resolved_resources(spec)
    assert resolved is not None
    assert resolved.dump() == {
        "requests": {"cpu": "8", "memory": "100Gi", "amd.com/gpu": "2"},
        "limits": {"memory": "96Gi", "amd.com/gpu": "2", "cpu": "16"},
    }
    assert resolved_resources(AIMProfileSpec(accelerator_type="cpu")) is None


def test_namespace_profiles_shadow_cluster_profiles_of_the_same_name() -> None:
    store = MemoryStore([AIMProfile, AIMClusterProfile])
    spec = {"acceleratorModel": "MI300X"}
    store.load(
        [
            {
                "apiVersion": "aim.eai.amd.com/v1alpha2",
                "kind": "AIMClusterProfile",
                "metadata": {"name": "p"},
                "spec": spec,
            },
            {
                "apiVersion": "aim.eai.amd.com/v1alpha2",
                "kind": "AIMProfile",
                "metadata": {"name": "p", "namespace": "ml"},
                "spec": spec,
            },
        ]
    )
    mine = find_profile(store, "p", "ml")
    assert mine is not None and mine.KIND == "AIMProfile"
    other = find_profile(store, "p", "other")
    assert other is not None and other.KIND == "AIMClusterProfile"
    assert find_profile(store, "p", None) is other or find_profile(store, "p", None) == other
    assert find_profile(store, "nope", "ml") is None
