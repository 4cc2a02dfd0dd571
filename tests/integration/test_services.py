"""AIMServices on a real cluster: model resolution, template selection, the resource and env
merge, and the InferenceService they deploy through KServe.

No KServe controller runs here (tests/integration/test_serving.py runs the real one): the
InferenceService CRD is the project's fixture, checked against KServe's own, and tests write
the InferenceService's status themselves to stand in for KServe. Models carry
spec.imageMetadata (their images live on registries the tests do not reach) unless a test pushes
a real image to the test registry.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from aim_engine.api.v1alpha1 import AIMService
from aim_engine.runtime.kube_api import KubeApi
from tests.support.aim_api import (
    V1,
    condition,
    create,
    get,
    model_body,
    service_body,
    status_of,
    templates_of,
)
from tests.support.aim_operator import GROUP, RunningOperator
from tests.support.kserve import full_schema, pruned_paths
from tests.support.kube import KubeCluster
from tests.support.kube_plugin import unique_name
from tests.support.oci_images import ImageBuilder, ImageSpec
from tests.support.registries import Registries
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(GROUP)]

KSERVE = "/apis/serving.kserve.io/v1beta1"
SEED_EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "seed_examples.yaml"
IMAGE = "amdenterpriseai/aim-qwen-qwen3-32b:0.8.5"


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> str:
    return unique_name(request.node.name.removeprefix("test_")[:24], prefix="svc-")


def deployment(gpu: str, count: int, metric: str, precision: str) -> dict[str, Any]:
    return {"gpuModel": gpu, "gpuCount": count, "metric": metric, "precision": precision}


def metadata(*deployments: dict[str, Any], canonical: str = "Qwen/Qwen3-32B") -> dict[str, Any]:
    return {"model": {"canonicalName": canonical, "recommendedDeployments": list(deployments)}}


async def new_service(api: KubeApi, namespace: str, name: str, spec: dict[str, Any]) -> None:
    await create(api, f"{V1}/namespaces/{namespace}/aimservices", service_body(name, namespace, spec))


async def new_model(api: KubeApi, namespace: str | None, name: str, spec: dict[str, Any]) -> None:
    if namespace:
        path = f"{V1}/namespaces/{namespace}/aimmodels"
        await create(api, path, model_body("AIMModel", name, spec, namespace))
    else:
        await create(api, f"{V1}/aimclustermodels", model_body("AIMClusterModel", name, spec))


async def service_where(
    api: KubeApi, namespace: str, name: str, check: Any, what: str, within: float = 30.0
) -> dict[str, Any]:
    found: dict[str, Any] | None = await eventually(
        lambda: get(api, f"{V1}/namespaces/{namespace}/aimservices/{name}"), check, what=what, within=within
    )
    assert found is not None
    return found


async def service_in(api: KubeApi, namespace: str, name: str, *states: str) -> dict[str, Any]:
    return await service_where(
        api, namespace, name, lambda s: status_of(s) in states, f"service {name} in {'/'.join(states)}"
    )


async def inference_service(api: KubeApi, namespace: str, name: str) -> dict[str, Any]:
    found = await eventually(
        lambda: get(api, f"{KSERVE}/namespaces/{namespace}/inferenceservices/{name}"),
        lambda i: i is not None,
        what=f"InferenceService {name}",
    )
    assert found is not None
    check_kserve_schema(found)
    return found


def check_kserve_schema(isvc: dict[str, Any]) -> None:
    """What the API server kept is in KServe's full schema too. What the fixture pruned would
    show as a write on every reconcile: `quiet` checks that."""
    body = {k: v for k, v in isvc.items() if k != "status"}
    assert list(pruned_paths(body, full_schema())) == []


def container(isvc: dict[str, Any]) -> dict[str, Any]:
    containers = isvc["spec"]["predictor"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def env(isvc: dict[str, Any]) -> dict[str, Any]:
    entries = container(isvc).get("env", [])
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names)), names
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in entries}


def operator_writes(kube: KubeCluster, namespace: str, since: int) -> list[Any]:
    """Writes in `namespace` since the mark, but Kubernetes' own controllers' (the service
    account controller makes `default` in every new namespace, whenever it gets to it)."""
    return [
        w for w in kube.audit.writes(namespace=namespace, since=since) if not w.user.startswith("system:")
    ]


async def settle(kube: KubeCluster, namespace: str, within: float = 20.0) -> None:
    """Wait until one second passes with no write in `namespace` (fails after `within`)."""

    async def writes_in_a_second() -> int:
        mark = kube.audit.mark()
        await asyncio.sleep(1.0)
        return len(operator_writes(kube, namespace, mark))

    await eventually(writes_in_a_second, lambda n: n == 0, within=within, what=f"{namespace} settled")


async def resync_writes_nothing(operator: RunningOperator, kube: KubeCluster, namespace: str) -> None:
    """Every object reconciled again (a full resync), and once the operator has done them all,
    nothing in `namespace` was written."""
    mark = kube.audit.mark()
    operator.manager.requeue_all()
    await operator.idle()
    writes = operator_writes(kube, namespace, mark)
    assert writes == [], [(w.verb, w.resource, w.subresource, w.name) for w in writes]


async def _cached_services(operator: RunningOperator, namespace: str) -> list[str]:
    return [s.name for s in operator.store.list(AIMService, namespace)]


async def kserve_reports(api: KubeApi, namespace: str, name: str, ready: str, **extra: Any) -> None:
    """Write the InferenceService status as KServe's controller would."""
    conditions = [{"type": "Ready", "status": ready, "lastTransitionTime": "2026-01-01T00:00:00Z"}]
    if ready != "True":
        conditions[0].update(reason="RevisionMissing", message="Revision chat-predictor-00001 is not ready")
    body = {"status": {"conditions": conditions, **extra}}
    await api.request(
        "PATCH",
        f"{KSERVE}/namespaces/{namespace}/inferenceservices/{name}/status",
        body=body,
        content_type="application/merge-patch+json",
    )


async def events_for(api: KubeApi, namespace: str, name: str) -> list[dict[str, Any]]:
    listing = json.loads(
        await api.request(
            "GET",
            f"/api/v1/namespaces/{namespace}/events",
            params={"fieldSelector": f"involvedObject.name={name},involvedObject.kind=AIMService"},
        )
    )
    return list(listing["items"])


async def test_service_by_name_runs_through_kserve_and_a_resync_writes_nothing(
    operator: RunningOperator, api: KubeApi, kube: KubeCluster, namespace: str, gpu_nodes: Any, unique: str
) -> None:
    await gpu_nodes(gpu_model="MI300X", count=8)
    spec = {
        "image": IMAGE,
        "imageMetadata": metadata(
            deployment("MI300X", 1, "latency", "fp8"), deployment("MI300X", 1, "throughput", "fp16")
        ),
    }
    await new_model(api, namespace, unique, spec)
    await new_service(api, namespace, "chat", {"model": {"name": unique}})
    service = await service_in(api, namespace, "chat", "Starting")
    assert service["status"]["resolvedModel"]["name"] == unique
    assert service["status"]["resolvedModel"]["scope"] == "Namespace"
    assert service["status"]["resolvedImage"] == IMAGE
    chosen = service["status"]["resolvedTemplate"]["name"]
    assert "-lat-fp8-" in chosen  # latency before throughput
    isvc = await inference_service(api, namespace, "chat")
    (owner,) = isvc["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("AIMService", "chat", service["metadata"]["uid"])
    assert isvc["metadata"]["labels"] == {
        "aim.eai.amd.com/service": "chat",
        "aim.eai.amd.com/model": unique,
        "aim.eai.amd.com/template": chosen,
        "app.kubernetes.io/managed-by": "aim-engine",
    }
    assert container(isvc)["image"] == IMAGE
    assert env(isvc)["AIM_METRIC"] == "latency" and env(isvc)["AIM_PRECISION"] == "fp8"
    assert env(isvc)["AIM_MODEL_ID"] == "Qwen/Qwen3-32B"
    assert container(isvc)["resources"] == {
        "requests": {"amd.com/gpu": "1", "cpu": "4", "memory": "32Gi"},
        "limits": {"amd.com/gpu": "1", "cpu": "8", "memory": "48Gi"},
    }
    terms = isvc["spec"]["predictor"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert "74a1" in terms["nodeSelectorTerms"][0]["matchExpressions"][0]["values"]
    await settle(kube, namespace)
    await resync_writes_nothing(operator, kube, namespace)  # nothing changed, nothing written

    # KServe says ready: the service runs, with one Normal event.
    await kserve_reports(api, namespace, "chat", "True", url="http://chat.example")
    running = await service_in(api, namespace, "chat", "Running")
    assert condition(running, "InferenceServiceReady")["reason"] == "RuntimeReady"
    assert condition(running, "Ready")["status"] == "True"
    # KServe says it broke: Degraded, with a Warning event that quotes KServe.
    await kserve_reports(api, namespace, "chat", "False")
    broken = await service_in(api, namespace, "chat", "Degraded")
    assert "Revision chat-predictor-00001 is not ready" in condition(broken, "Ready")["message"]
    events = await eventually(
        lambda: events_for(api, namespace, "chat"),
        lambda evs: {e["type"] for e in evs} == {"Normal", "Warning"},
        what="a Normal and a Warning event",
    )
    assert [e["reason"] for e in events if e["type"] == "Normal"] == ["Running"]

    # (Deleting the service deletes its InferenceService by garbage collection: see the inline
    # custom model test, which waits for it.)


async def test_namespace_model_shadows_cluster_model_and_missing_model_fails(
    operator: RunningOperator, api: KubeApi, namespace: str, gpu_nodes: Any, unique: str
) -> None:
    await gpu_nodes(gpu_model="MI300X", count=8)
    meta = metadata(deployment("MI300X", 1, "latency", "fp8"))
    await new_model(api, None, unique, {"image": "registry.example/cluster/qwen:1.0", "imageMetadata": meta})
    try:
        await new_model(
            api, namespace, unique, {"image": "registry.example/team/qwen:2.0", "imageMetadata": meta}
        )
        await new_service(api, namespace, "team", {"model": {"name": unique}})
        team = await service_in(api, namespace, "team", "Starting")
        assert team["status"]["resolvedModel"]["kind"] == "AIMModel"
        template = team["status"]["resolvedTemplate"]
        assert (template["kind"], template["namespace"]) == ("AIMServiceTemplate", namespace)
        assert (
            container(await inference_service(api, namespace, "team"))["image"]
            == "registry.example/team/qwen:2.0"
        )
        await new_service(api, namespace, "missing", {"model": {"name": f"{unique}-nope"}})
        missing = await service_in(api, namespace, "missing", "Failed")
        assert condition(missing, "ModelReady")["reason"] == "ModelNotFound"
        assert f"spec.model.name '{unique}-nope'" in condition(missing, "Ready")["message"]
        assert await get(api, f"{KSERVE}/namespaces/{namespace}/inferenceservices/missing") is None
    finally:
        await api.request("DELETE", f"{V1}/aimclustermodels/{unique}")


async def test_cluster_model_by_name_from_any_namespace(
    operator: RunningOperator, api: KubeApi, namespace: str, gpu_nodes: Any, unique: str
) -> None:
    await gpu_nodes(gpu_model="MI300X", count=8)
    meta = metadata(deployment("MI300X", 1, "latency", "fp8"))
    await new_model(api, None, unique, {"image": "registry.example/cluster/qwen:1.0", "imageMetadata": meta})
    try:
        await new_service(api, namespace, "shared", {"model": {"name": unique}})
        shared = await service_in(api, namespace, "shared", "Starting")
        assert shared["status"]["resolvedModel"]["kind"] == "AIMClusterModel"
        assert shared["status"]["resolvedTemplate"]["kind"] == "AIMClusterServiceTemplate"
        # A cluster template in use is not pruned when its deployment leaves the metadata.
        await api.request(
            "PATCH",
            f"{V1}/aimclustermodels/{unique}",
            body={"spec": {"imageMetadata": metadata(deployment("MI300X", 2, "throughput", "fp16"))}},
            content_type="application/merge-patch+json",
        )
        await eventually(
            lambda: templates_of(api, unique, None),
            lambda ts: len(ts) == 2,
            what="new template beside the used one",
        )
        # The service lets go: the unused template is pruned.
        await api.request("DELETE", f"{V1}/namespaces/{namespace}/aimservices/shared")
        left = await eventually(
            lambda: templates_of(api, unique, None),
            lambda ts: len(ts) == 1,
            what="used template pruned after",
            within=60,
        )
        assert "-thr-fp16-" in left[0]["metadata"]["name"]
    finally:
        await api.request("DELETE", f"{V1}/aimclustermodels/{unique}")


async def test_image_services_reuse_or_create_auto_models_per_auto_discovery(
    operator: RunningOperator,
    api: KubeApi,
    registries: Registries,
    namespace: str,
    gpu_nodes: Any,
    unique: str,
) -> None:
    await gpu_nodes(gpu_model="MI300X", count=8)
    labels = {
        "com.amd.aim.model.canonicalName": "Qwen/Qwen3-32B",
        "com.amd.aim.model.recommendedDeployments": json.dumps([deployment("MI300X", 1, "latency", "fp8")]),
    }
    endpoint = registries.noauth
    with ImageBuilder(endpoint.url, ca_bundle=registries.ca_bundle) as builder:
        builder.push_image(f"team/{unique}", "1.0", ImageSpec(labels=labels))
        builder.push_image(f"team/{unique}", "2.0", ImageSpec(labels=labels))
    discovered = endpoint.image(f"team/{unique}", "1.0")
    silent = endpoint.image(f"team/{unique}", "2.0")
    config = {
        "apiVersion": "aim.eai.amd.com/v1alpha1",
        "kind": "AIMRuntimeConfig",
        "metadata": {"name": "no-discovery", "namespace": namespace},
        "spec": {"model": {"autoDiscovery": False}},
    }
    await create(api, f"{V1}/namespaces/{namespace}/aimruntimeconfigs", config)

    # autoDiscovery unset (true): the auto model is inspected and makes templates; a second
    # service with the same image shares it.
    await new_service(api, namespace, "first", {"model": {"image": discovered}})
    await new_service(api, namespace, "second", {"model": {"image": discovered}})
    first = await service_in(api, namespace, "first", "Starting")
    second = await service_in(api, namespace, "second", "Starting")
    auto = first["status"]["resolvedModel"]["name"]
    assert auto.startswith("auto-") and len(auto) == len("auto-") + 8
    assert second["status"]["resolvedModel"]["name"] == auto
    model = await get(api, f"{V1}/namespaces/{namespace}/aimmodels/{auto}")
    assert model is not None
    assert model["spec"] == {
        "image": discovered,
        "discovery": {"extractMetadata": True, "createServiceTemplates": True},
    }
    assert model["metadata"]["labels"]["aim.eai.amd.com/origin"] == "auto-generated"
    assert model["metadata"]["labels"]["aim.eai.amd.com/service"] in ("first", "second")
    assert "ownerReferences" not in model["metadata"]

    # autoDiscovery false: the model is created with discovery off, and has no templates.
    await new_service(
        api, namespace, "off", {"model": {"image": silent}, "runtimeConfigName": "no-discovery"}
    )
    off = await service_in(api, namespace, "off", "Failed")
    off_model = await get(
        api, f"{V1}/namespaces/{namespace}/aimmodels/{off['status']['resolvedModel']['name']}"
    )
    assert off_model is not None
    assert off_model["spec"]["discovery"] == {"extractMetadata": False, "createServiceTemplates": False}
    assert off_model["spec"]["runtimeConfigName"] == "no-discovery"
    assert condition(off, "TemplateReady")["reason"] == "NoEligibleTemplate"
    assert "spec.template.name" in condition(off, "TemplateReady")["message"]

    # An existing model with the image is used, not a new one: namespace before cluster.
    await new_model(
        api,
        namespace,
        f"{unique}-mine",
        {"image": IMAGE, "imageMetadata": metadata(deployment("MI300X", 1, "latency", "fp8"))},
    )
    await new_service(api, namespace, "reuse", {"model": {"image": IMAGE}})
    reuse = await service_in(api, namespace, "reuse", "Starting")
    assert reuse["status"]["resolvedModel"]["name"] == f"{unique}-mine"

    # The services go; the models they created stay.
    for name in ("first", "second", "off", "reuse"):
        await api.request("DELETE", f"{V1}/namespaces/{namespace}/aimservices/{name}")
    # Once the operator has seen the deletions and done what they call for, the models are there.
    await eventually(
        lambda: _cached_services(operator, namespace), lambda names: not names, what="deletions seen"
    )
    await operator.idle()
    assert await get(api, f"{V1}/namespaces/{namespace}/aimmodels/{auto}") is not None


async def test_inline_custom_models_are_shared_gated_and_outlive_services(
    operator: RunningOperator, api: KubeApi, namespace: str, gpu_nodes: Any
) -> None:
    await gpu_nodes(gpu_model="MI300X", count=8)
    custom = {
        "modelSources": [{"modelId": "Qwen/Qwen3-32B", "sourceUri": "hf://Qwen/Qwen3-32B"}],
        "hardware": {"gpu": {"requests": 1, "models": ["MI300X"]}},
    }
    await new_service(api, namespace, "gated", {"model": {"custom": custom}})
    gated = await service_in(api, namespace, "gated", "Failed")
    message = condition(gated, "TemplateReady")["message"]
    assert "UnoptimizedTemplateFiltered" in message and "allowUnoptimized: true" in message
    assert len(message) < 2000
    created = gated["status"]["resolvedModel"]["name"]
    model = await get(api, f"{V1}/namespaces/{namespace}/aimmodels/{created}")
    assert model is not None
    assert model["spec"]["image"] == "amdenterpriseai/aim-base:latest"
    assert model["metadata"]["labels"]["aim.eai.amd.com/custom-model"] == "true"
    # The gate opened: the same service deploys the unoptimized template.
    await api.request(
        "PATCH",
        f"{V1}/namespaces/{namespace}/aimservices/gated",
        body={"spec": {"template": {"allowUnoptimized": True}}},
        content_type="application/merge-patch+json",
    )
    await service_in(api, namespace, "gated", "Starting")
    isvc = await inference_service(api, namespace, "gated")
    assert container(isvc)["image"] == "amdenterpriseai/aim-base:latest"
    assert env(isvc)["AIM_MODEL_SOURCE_URI"] == "hf://Qwen/Qwen3-32B"
    # The same sources and hardware: the same model.
    await new_service(
        api, namespace, "twin", {"model": {"custom": custom}, "template": {"allowUnoptimized": True}}
    )
    twin = await service_in(api, namespace, "twin", "Starting")
    assert twin["status"]["resolvedModel"]["name"] == created
    # An explicit template name skips the gate too.
    template = twin["status"]["resolvedTemplate"]["name"]
    await new_service(api, namespace, "named", {"model": {"name": created}, "template": {"name": template}})
    named = await service_in(api, namespace, "named", "Starting")
    assert "spec.template.name names" in condition(named, "TemplateReady")["message"]
    for name in ("gated", "twin", "named"):
        await api.request("DELETE", f"{V1}/namespaces/{namespace}/aimservices/{name}")
    await eventually(
        lambda: get(api, f"{KSERVE}/namespaces/{namespace}/inferenceservices/twin"),
        lambda i: i is None,
        what="isvc gone",
        within=60,
    )
    assert await get(api, f"{V1}/namespaces/{namespace}/aimmodels/{created}") is not None


async def test_gpu_exclusion_overrides_and_ties(
    operator: RunningOperator, api: KubeApi, namespace: str, gpu_nodes: Any, unique: str
) -> None:
    await gpu_nodes(gpu_model="MI300X", count=8)
    meta = metadata(
        deployment("MI300X", 1, "latency", "fp8"),
        deployment("MI300X", 1, "throughput", "fp16"),
        deployment("MI100", 1, "latency", "fp8"),
    )
    await new_model(api, namespace, unique, {"image": IMAGE, "imageMetadata": meta})
    await new_service(api, namespace, "best", {"model": {"name": unique}})
    await new_service(
        api, namespace, "thr", {"model": {"name": unique}, "overrides": {"metric": "throughput"}}
    )
    await new_service(
        api,
        namespace,
        "mi100",
        {"model": {"name": unique}, "overrides": {"hardware": {"gpu": {"model": "MI100"}}}},
    )
    best = await service_in(api, namespace, "best", "Starting")
    assert "-lat-fp8-" in best["status"]["resolvedTemplate"]["name"]
    assert "mi300x" in best["status"]["resolvedTemplate"]["name"]
    thr = await service_in(api, namespace, "thr", "Starting")
    assert "-thr-fp16-" in thr["status"]["resolvedTemplate"]["name"]
    mi100 = await service_in(api, namespace, "mi100", "Pending")
    message = condition(mi100, "TemplateReady")["message"]
    assert "RequiredGPUNotInCluster" in message and "ServiceOverridesNotMatched" in message

    # Two templates the preference cannot tell apart: chosen by name, and the tie is said.
    tied_model = f"{unique}-tied"
    await new_model(
        api,
        namespace,
        tied_model,
        {"image": IMAGE, "discovery": {"extractMetadata": False, "createServiceTemplates": False}},
    )
    for suffix in ("b", "a"):
        body = {
            "apiVersion": "aim.eai.amd.com/v1alpha1",
            "kind": "AIMServiceTemplate",
            "metadata": {"name": f"{tied_model}-{suffix}", "namespace": namespace},
            "spec": {
                "modelName": tied_model,
                "type": "optimized",
                "metric": "latency",
                "precision": "fp8",
                "hardware": {"gpu": {"requests": 1, "model": "MI300X"}},
            },
        }
        await create(api, f"{V1}/namespaces/{namespace}/aimservicetemplates", body)
    # Both must be judged (Ready) before the service chooses: one chosen alone is kept later.
    for suffix in ("a", "b"):
        path = f"{V1}/namespaces/{namespace}/aimservicetemplates/{tied_model}-{suffix}"
        await eventually(
            lambda p=path: get(api, p),  # type: ignore[misc]
            lambda t: status_of(t) == "Ready",
            what=f"template {suffix} Ready",
        )
    await new_service(api, namespace, "tie", {"model": {"name": tied_model}})
    tie = await service_in(api, namespace, "tie", "Starting")
    assert tie["status"]["resolvedTemplate"]["name"] == f"{tied_model}-a"
    assert f"tied with {tied_model}-b, chosen by name" in condition(tie, "TemplateReady")["message"]


async def test_resources_merge_three_levels_and_fill_gpus(
    operator: RunningOperator, api: KubeApi, namespace: str, gpu_nodes: Any, unique: str
) -> None:
    await gpu_nodes(gpu_model="MI300X", count=8)
    await new_model(
        api,
        namespace,
        unique,
        {
            "image": IMAGE,
            "discovery": {"extractMetadata": False, "createServiceTemplates": False},
            "resources": {
                "requests": {"cpu": "2", "memory": "16Gi"},
                "limits": {"cpu": "4", "memory": "32Gi"},
            },
            "env": [{"name": "LEVEL", "value": "model"}, {"name": "MODEL_ONLY", "value": "1"}],
        },
    )
    template = {
        "apiVersion": "aim.eai.amd.com/v1alpha1",
        "kind": "AIMServiceTemplate",
        "metadata": {"name": f"{unique}-big", "namespace": namespace},
        "spec": {
            "modelName": unique,
            "type": "optimized",
            "metric": "throughput",
            "precision": "fp16",
            "profileId": "vllm-mi300x-fp16-tp2",
            "hardware": {"gpu": {"requests": 2, "model": "MI300X"}},
            "resources": {"requests": {"memory": "64Gi"}, "limits": {"memory": "96Gi"}},
            "env": [{"name": "LEVEL", "value": "template"}],
            "customProfile": {
                "engineArgs": {"max-model-len": 32768},
                "envVars": {"PYTORCH_TUNABLEOP_ENABLED": "1"},
            },
        },
    }
    await create(api, f"{V1}/namespaces/{namespace}/aimservicetemplates", template)
    await new_service(
        api,
        namespace,
        "merged",
        {
            "model": {"name": unique},
            "resources": {"requests": {"cpu": "8"}},
            "env": [{"name": "LEVEL", "value": "service"}],
            "replicas": 2,
        },
    )
    await service_in(api, namespace, "merged", "Starting")
    isvc = await inference_service(api, namespace, "merged")
    assert container(isvc)["resources"] == {
        "requests": {"cpu": "8", "memory": "64Gi", "amd.com/gpu": "2"},
        "limits": {"cpu": "4", "memory": "96Gi", "amd.com/gpu": "2"},
    }
    values = env(isvc)
    assert values["LEVEL"] == "service" and values["MODEL_ONLY"] == "1"
    assert values["AIM_PROFILE_ID"] == "vllm-mi300x-fp16-tp2"
    assert json.loads(values["AIM_ENGINE_ARGS"]) == {"max-model-len": 32768}
    assert values["PYTORCH_TUNABLEOP_ENABLED"] == "1"
    assert (isvc["spec"]["predictor"]["minReplicas"], isvc["spec"]["predictor"]["maxReplicas"]) == (2, 2)


async def test_fine_tuned_copy_image_and_model_image_update_flow_to_kserve(
    operator: RunningOperator, api: KubeApi, namespace: str, gpu_nodes: Any, unique: str
) -> None:
    await gpu_nodes(gpu_model="MI300X", count=8)
    aim_id = f"org/{unique}"
    base_meta = {
        "model": {
            "canonicalName": aim_id,
            "recommendedDeployments": [
                {**deployment("MI300X", 1, "latency", "fp8"), "modelId": f"{aim_id}-ft"}
            ],
        },
        "baseImageRef": "docker.io/amdenterpriseai/aim-base:0.8",
    }
    await new_model(
        api,
        namespace,
        f"{unique}-base",
        {"image": "amdenterpriseai/aim-qwen:0.8.5", "imageMetadata": base_meta},
    )
    await new_model(
        api,
        namespace,
        unique,
        {
            "aimId": aim_id,
            "custom": {"versionPolicy": "latest"},
            "modelSources": [{"modelId": f"{aim_id}-ft", "sourceUri": "s3://bucket/weights/"}],
        },
    )
    await new_service(api, namespace, "tuned", {"model": {"name": unique}})
    tuned = await service_in(api, namespace, "tuned", "Starting")
    isvc = await inference_service(api, namespace, "tuned")
    # The fine-tuned model has no image of its own: the copy's annotation (the base image its
    # official template's model was built on) is what runs.
    copy = await get(
        api, f"{V1}/namespaces/{namespace}/aimservicetemplates/{tuned['status']['resolvedTemplate']['name']}"
    )
    assert copy is not None
    assert (
        copy["metadata"]["annotations"]["aim.eai.amd.com/deployment-image-ref"]
        == "amdenterpriseai/aim-base:0.8"
    )
    assert container(isvc)["image"] == tuned["status"]["resolvedImage"] == "amdenterpriseai/aim-base:0.8"
    assert env(isvc)["AIM_MODEL_SOURCE_URI"] == "s3://bucket/weights/"
    assert env(isvc)["AIM_MODEL_ID"] == f"{aim_id}-ft"

    # A model's image update reaches its InferenceService without touching the service.
    await new_service(api, namespace, "base", {"model": {"name": f"{unique}-base"}})
    await service_in(api, namespace, "base", "Starting")
    await api.request(
        "PATCH",
        f"{V1}/namespaces/{namespace}/aimmodels/{unique}-base",
        body={"spec": {"image": "amdenterpriseai/aim-qwen:0.9.0"}},
        content_type="application/merge-patch+json",
    )
    await eventually(
        lambda: get(api, f"{KSERVE}/namespaces/{namespace}/inferenceservices/base"),
        lambda i: i is not None and container(i)["image"] == "amdenterpriseai/aim-qwen:0.9.0",
        what="the new image on the InferenceService",
    )
    # The status follows the InferenceService (written right after it, so wait for it too).
    updated = await service_where(
        api,
        namespace,
        "base",
        lambda s: (s or {}).get("status", {}).get("resolvedImage") == "amdenterpriseai/aim-qwen:0.9.0",
        "the new image in the service's status",
    )
    assert status_of(updated) == "Starting"


def seed_services() -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(SEED_EXAMPLES.read_text()) if d]
    return [d for d in docs if d["kind"] in ("AIMService", "Secret")]


async def test_document_service_examples_as_written(
    operator: RunningOperator, api: KubeApi, namespace: str, gpu_nodes: Any
) -> None:
    await gpu_nodes(gpu_model="MI300X", count=8)
    examples = seed_services()
    assert sorted(e["metadata"]["name"] for e in examples if e["kind"] == "AIMService") == [
        "my-qwen-service",
        "my-service",
        "my-service-explicit-template",
        "my-service-unoptimized",
        "qwen-custom",
    ]
    # The custom model the two `allowUnoptimized` examples name, as the document declares one.
    await new_model(
        api,
        namespace,
        "my-custom-model",
        {
            "image": "amdenterpriseai/aim-base:latest",
            "modelSources": [{"modelId": "Qwen/Qwen3-32B", "sourceUri": "s3://my-bucket/models/qwen3-32b"}],
            "custom": {"hardware": {"gpu": {"requests": 1, "models": ["MI300X"]}}},
        },
    )
    for example in examples:
        body = {**example, "metadata": {**example["metadata"], "namespace": namespace}}
        plural = "aimservices" if example["kind"] == "AIMService" else "secrets"
        prefix = V1 if plural == "aimservices" else "/api/v1"
        await create(api, f"{prefix}/namespaces/{namespace}/{plural}", body)

    # By image: a model auto-<hash> with the document's discovery block. Its image is on Docker
    # Hub, which the operator here may not contact: the model fails, and the service says why.
    by_image = await service_in(api, namespace, "my-service", "Failed")
    auto = by_image["status"]["resolvedModel"]["name"]
    model = await get(api, f"{V1}/namespaces/{namespace}/aimmodels/{auto}")
    assert model is not None
    assert model["spec"]["image"] == "amdenterpriseai/aim-qwen-qwen3-32b:0.8.5"
    assert model["spec"]["discovery"] == {"extractMetadata": True, "createServiceTemplates": True}
    assert condition(by_image, "ModelReady")["reason"] == "ModelNotReady"
    assert "allowed registries" in condition(by_image, "ModelReady")["message"]

    for name in ("my-qwen-service", "my-service-unoptimized", "qwen-custom"):
        await service_in(api, namespace, name, "Starting")
    explicit = await service_in(api, namespace, "my-service-explicit-template", "Failed")
    assert condition(explicit, "TemplateReady")["reason"] == "TemplateNotFound"
    assert "spec.template.name 'my-custom-model-custom-abc123'" in condition(explicit, "Ready")["message"]

    # The HF token reaches the container as the reference the document wrote, never its value.
    custom = await inference_service(api, namespace, "qwen-custom")
    assert env(custom)["HF_TOKEN"] == {"secretKeyRef": {"name": "hf-token", "key": "token"}}
    assert "hf_xxxxxxxxxxxxx" not in json.dumps(custom)
    # Examples of the same custom model share it; different hardware makes another one.
    inline = await get(api, f"{V1}/namespaces/{namespace}/aimservices/my-qwen-service")
    custom_service = await get(api, f"{V1}/namespaces/{namespace}/aimservices/qwen-custom")
    assert inline is not None and custom_service is not None
    assert "resolvedModel" in custom_service["status"], custom_service["status"]
    assert inline["status"]["resolvedModel"]["name"] != custom_service["status"]["resolvedModel"]["name"]


async def test_operator_detects_kserve_by_api_discovery(api: KubeApi) -> None:
    from aim_engine.cli.run import _serves_inference_services

    # The test cluster serves the InferenceService fixture CRD; a group it lacks is absent.
    assert await _serves_inference_services(api) is True
    assert await get(api, "/apis/serving.kserve.io/v1alpha9") is None
