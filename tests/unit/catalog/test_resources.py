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
    assert merged.limits["amd.com/gpu"] == merged.requests["amd.com/gpu"] == "4"
    assert merged.origins["limits.amd.com/gpu"] == merged.origins["requests.amd.com/gpu"] == "service"
    alone = merge_resources(None, req(requests={"amd.com/gpu": "2"}), None)
    assert alone.limits["amd.com/gpu"] == alone.requests["amd.com/gpu"] == "2"
    # Both given, and different: the higher level's value stands for both; on one level, the limit.
    higher = merge_resources(req(requests={"amd.com/gpu": "2"}), req(limits={"amd.com/gpu": "4"}), None)
    assert higher.requests["amd.com/gpu"] == higher.limits["amd.com/gpu"] == "2"
    same = merge_resources(None, req(requests={"amd.com/gpu": "2"}, limits={"amd.com/gpu": "4"}), None)
    assert same.requests["amd.com/gpu"] == same.limits["amd.com/gpu"] == "4"
    partition = merge_resources(
        req(limits={"amd.com/gpu-partition": "8"}), None, None, gpu_resource="amd.com/gpu-partition"
    )
    assert partition.requests["amd.com/gpu-partition"] == "8"
    assert merge_resources(None, None, None).requirements() is None
    assert merge_resources(None, None, None, profile_gpu_count=0).requirements() is None


def test_a_gpu_template_gets_cpu_and_memory_per_gpu_where_no_level_set_them() -> None:
    """Without them KServe's defaulting webhook gives the container 1 CPU and 2 Gi (seen on the
    serving tests' real KServe): no LLM starts in 2 Gi, and a 1-CPU limit under a 4-CPU request
    makes KServe's Deployment invalid."""
    merged = merge_resources(None, None, None, profile_gpu_count=2)
    assert merged.requests == {"amd.com/gpu": "2", "cpu": "8", "memory": "64Gi"}
    assert merged.limits == {"amd.com/gpu": "2", "cpu": "16", "memory": "96Gi"}
    assert {
        merged.origins[k] for k in ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory")
    } == {"per-GPU default"}
    # A level's own value stays; a default never exceeds a limit a level set, nor falls below
    # its request.
    given = merge_resources(req(limits={"cpu": "2", "memory": "16Gi"}), None, None, profile_gpu_count=2)
    assert given.requests == {"amd.com/gpu": "2", "cpu": "2", "memory": "16Gi"}
    assert given.limits == {"amd.com/gpu": "2", "cpu": "2", "memory": "16Gi"}
    high = merge_resources(None, req({"memory": "200Gi"}), None, profile_gpu_count=2)
    assert high.limits["memory"] == "200Gi"
    # No GPU, no defaults: a CPU template keeps what its levels say.
    assert merge_resources(req({"cpu": "2"}), None, None).requests == {"cpu": "2"}
