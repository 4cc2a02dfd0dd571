"""Resource merge for a service's container: service > template > model, per resource, for
requests and limits separately, then the GPU fill from the template profile."""

from __future__ import annotations

from aim_engine.api.meta import ResourceRequirements
from aim_engine.catalog.resources import merge_resources


def req(requests: dict[str, str] | None = None, limits: dict[str, str] | None = None) -> ResourceRequirements:
    return ResourceRequirements(requests=requests, limits=limits)


def test_three_levels_per_resource_and_part() -> None:
    merged = merge_resources(
        req({"cpu": "8"}, {"memory": "96Gi"}),
        req({"cpu": "6", "memory": "48Gi"}, {"cpu": "12"}),
        req({"cpu": "4", "memory": "32Gi"}, {"cpu": "8", "memory": "64Gi"}),
        profile_gpu_count=2,
    )
    assert merged.requests == {"cpu": "8", "memory": "48Gi", "amd.com/gpu": "2"}
    assert merged.limits == {"cpu": "12", "memory": "96Gi", "amd.com/gpu": "2"}
    assert merged.origins == {
        "requests.cpu": "service",
        "requests.memory": "template",
        "limits.cpu": "template",
        "limits.memory": "service",
        "requests.amd.com/gpu": "template profile",
        "limits.amd.com/gpu": "template profile",
    }


def test_a_gpu_request_is_its_limit_whichever_was_given() -> None:
    """Kubernetes rejects an extended resource whose request differs from its limit: a limit
    alone stands for the request too (it was filled from the profile instead: 2 against 4)."""
    merged = merge_resources(req(limits={"amd.com/gpu": "4"}), None, None, profile_gpu_count=2)
    assert merged.limits == merged.requests == {"amd.com/gpu": "4"}
    assert merged.origins["limits.amd.com/gpu"] == merged.origins["requests.amd.com/gpu"] == "service"
    alone = merge_resources(None, req(requests={"amd.com/gpu": "2"}), None)
    assert alone.limits == alone.requests == {"amd.com/gpu": "2"}
    # Both given, and different: the higher level's value stands for both; on one level, the limit.
    higher = merge_resources(req(requests={"amd.com/gpu": "2"}), req(limits={"amd.com/gpu": "4"}), None)
    assert higher.requests == higher.limits == {"amd.com/gpu": "2"}
    same = merge_resources(None, req(requests={"amd.com/gpu": "2"}, limits={"amd.com/gpu": "4"}), None)
    assert same.requests == same.limits == {"amd.com/gpu": "4"}
    partition = merge_resources(
        req(limits={"amd.com/gpu-partition": "8"}), None, None, gpu_resource="amd.com/gpu-partition"
    )
    assert partition.requests == {"amd.com/gpu-partition": "8"}
    assert merge_resources(None, None, None).requirements() is None
    assert merge_resources(None, None, None, profile_gpu_count=0).requirements() is None
