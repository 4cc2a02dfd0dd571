"""Image-based models on a real cluster: discovery, generated templates, status, GC."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from aim_engine.api.core import SecretMetadata
from aim_engine.runtime.kube_api import KubeApi
from tests.support.aim_api import V1, condition, create, get, model_body, status_of, templates_of
from tests.support.aim_operator import GROUP, RunningOperator
from tests.support.catalog_steps import DEPLOYMENTS, aim_labels, docker_config_secret, push, wait_model
from tests.support.kube_plugin import unique_name
from tests.support.registries import Registries, RegistryEndpoint
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(GROUP)]


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> str:
    return unique_name(request.node.name.removeprefix("test_")[:30], prefix="m-")


async def test_cluster_model_discovers_and_generates_templates(
    operator: RunningOperator, api: KubeApi, registries: Registries, gpu_nodes: Any, unique: str
) -> None:
    image = push(registries.noauth, registries, f"amdenterpriseai/{unique}", "0.8.5", aim_labels())
    await gpu_nodes(gpu_model="MI300X", count=8)
    await create(api, f"{V1}/aimclustermodels", model_body("AIMClusterModel", unique, {"image": image}))
    path = f"{V1}/aimclustermodels/{unique}"
    model = await eventually(lambda: get(api, path), lambda m: status_of(m) == "Ready", what="model Ready")
    assert model is not None
    status = model["status"]
    assert status["sourceType"] == "Image"
    assert status["templateCount"] == 2
    assert status["imageMetadata"]["model"]["canonicalName"] == "Qwen/Qwen3-32B"
    assert status["imageMetadata"]["baseImageRef"] == "docker.io/amdenterpriseai/aim-base:0.11"
    assert status["inspectedImage"] == image
    assert status["imageDigest"].startswith("sha256:")
    assert condition(model, "ImageMetadataReady")["reason"] == "ImageMetadataFound"
    assert condition(model, "RuntimeConfigReady")["reason"] == "DefaultConfigNotFound"
    assert condition(model, "ServiceTemplatesReady")["reason"] == "AllTemplatesReady"
    assert condition(model, "Ready")["status"] == "True"
    templates = await templates_of(api, unique, None)
    assert len(templates) == 2
    for template in templates:
        assert template["metadata"]["labels"]["aim.eai.amd.com/origin"] == "auto-generated"
        (owner,) = template["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["controller"]) == ("AIMClusterModel", unique, True)
        assert template["status"]["status"] == "Ready"
        assert template["status"]["profile"]["metadata"]["type"] == "optimized"
        assert template["status"]["version"] == "0.8.5"

    # Deleting the model garbage-collects its templates.
    await api.request("DELETE", path)
    await eventually(
        lambda: templates_of(api, unique, None), lambda ts: ts == [], within=60, what="templates collected"
    )


async def test_namespace_model_reads_pull_secret_from_its_runtime_config(
    operator: RunningOperator,
    api: KubeApi,
    registries: Registries,
    namespace: str,
    gpu_nodes: Any,
    unique: str,
) -> None:
    endpoint = registries.basic
    image = push(endpoint, registries, f"private/{unique}", "1.0.0", aim_labels())
    await gpu_nodes(gpu_model="MI300X", count=8)
    await create(
        api, f"/api/v1/namespaces/{namespace}/secrets", docker_config_secret("private-registry", endpoint)
    )
    config = {
        "apiVersion": "aim.eai.amd.com/v1alpha1",
        "kind": "AIMRuntimeConfig",
        "metadata": {"name": "default"},
        "spec": {"imagePullSecrets": [{"name": "private-registry"}]},
    }
    await create(api, f"{V1}/namespaces/{namespace}/aimruntimeconfigs", config)
    await create(
        api, f"{V1}/namespaces/{namespace}/aimmodels", model_body("AIMModel", unique, {"image": image})
    )
    model = await wait_model(
        api, f"{V1}/namespaces/{namespace}/aimmodels/{unique}", lambda m: status_of(m) == "Ready"
    )
    resolved = model["status"]["resolvedRuntimeConfig"]
    assert (resolved["name"], resolved["namespace"], resolved["scope"]) == ("default", namespace, "Namespace")
    assert resolved["uid"]
    assert condition(model, "RuntimeConfigReady")["reason"] == "ConfigFound"
    templates = await templates_of(api, unique, namespace)
    assert {t["metadata"]["namespace"] for t in templates} == {namespace}
    assert len(templates) == 2


async def test_missing_pull_secret_fails_naming_it_and_recovers(
    operator: RunningOperator, api: KubeApi, registries: Registries, namespace: str, unique: str
) -> None:
    endpoint = registries.basic
    image = push(endpoint, registries, f"private/{unique}", "1.0.0", aim_labels(deployments=[]))
    spec = {"image": image, "imagePullSecrets": [{"name": "not-there"}]}
    await create(api, f"{V1}/namespaces/{namespace}/aimmodels", model_body("AIMModel", unique, spec))
    path = f"{V1}/namespaces/{namespace}/aimmodels/{unique}"
    model = await wait_model(api, path, lambda m: status_of(m) == "Failed")
    ready = condition(model, "Ready")
    assert ready["reason"] == "PullSecretNotFound"
    assert "'not-there'" in ready["message"]
    assert namespace in ready["message"]
    assert condition(model, "ImageMetadataReady")["reason"] == "MetadataExtractionFailed"
    # Fixing it by editing the model is picked up at once.
    await create(api, f"/api/v1/namespaces/{namespace}/secrets", docker_config_secret("good", endpoint))
    patch = {"spec": {"imagePullSecrets": [{"name": "good"}]}}
    await api.request("PATCH", path, body=patch, content_type="application/merge-patch+json")
    model = await wait_model(api, path, lambda m: status_of(m) == "Ready")
    assert condition(model, "ServiceTemplatesReady")["reason"] == "NoTemplatesExpected"


async def test_pull_secret_created_then_fixed_is_used_within_seconds(
    operator: RunningOperator, api: KubeApi, registries: Registries, namespace: str, unique: str
) -> None:
    """No waiting out the failure's backoff: the operator watches secrets' metadata (never their
    values: its cache of secrets holds names and versions only, whatever a secret carries)."""
    endpoint = registries.basic
    image = push(endpoint, registries, f"private/{unique}", "1.0.0", aim_labels(deployments=[]))
    spec = {"image": image, "imagePullSecrets": [{"name": "late"}]}
    await create(api, f"{V1}/namespaces/{namespace}/aimmodels", model_body("AIMModel", unique, spec))
    path = f"{V1}/namespaces/{namespace}/aimmodels/{unique}"
    await wait_model(api, path, lambda m: condition(m, "Ready").get("reason") == "PullSecretNotFound")
    secrets = f"/api/v1/namespaces/{namespace}/secrets"
    wrong = docker_config_secret("late", endpoint, "Zq9-wrong-password")
    wrong["metadata"]["annotations"] = {"note": "Zq9-wrong-password"}
    await create(api, secrets, wrong)
    await wait_model(
        api, path, lambda m: condition(m, "Ready").get("reason") == "RegistryAuthFailed", within=5, what="401"
    )
    fixed = docker_config_secret("late", endpoint)
    await api.request("PUT", f"{secrets}/late", body=fixed)
    await wait_model(api, path, lambda m: status_of(m) == "Ready", within=5, what="Ready after the fix")
    cached = [s for s in operator.store.list(SecretMetadata, namespace) if s.name == "late"]
    assert len(cached) == 1
    dumped = cached[0].model_dump_json()
    assert "Zq9" not in dumped and "dockerconfigjson" not in dumped
    assert cached[0].metadata.annotations is None


async def test_wrong_credentials_fail_as_auth_error(
    operator: RunningOperator, api: KubeApi, registries: Registries, namespace: str, unique: str
) -> None:
    endpoint = registries.basic
    image = push(endpoint, registries, f"private/{unique}", "1.0.0", aim_labels())
    await create(
        api,
        f"/api/v1/namespaces/{namespace}/secrets",
        docker_config_secret("bad", endpoint, "Zq9-not-the-password"),
    )
    spec = {"image": image, "imagePullSecrets": [{"name": "bad"}]}
    await create(api, f"{V1}/namespaces/{namespace}/aimmodels", model_body("AIMModel", unique, spec))
    model = await wait_model(
        api, f"{V1}/namespaces/{namespace}/aimmodels/{unique}", lambda m: status_of(m) == "Failed"
    )
    ready = condition(model, "Ready")
    assert ready["reason"] == "RegistryAuthFailed"
    assert endpoint.host in ready["message"]
    assert "Zq9-not-the-password" not in json.dumps(model)


async def test_missing_image_and_missing_labels(
    operator: RunningOperator, api: KubeApi, registries: Registries, unique: str
) -> None:
    missing = registries.noauth.image(f"nothing/{unique}", "1.0")
    await create(
        api, f"{V1}/aimclustermodels", model_body("AIMClusterModel", f"{unique}-a", {"image": missing})
    )
    plain = push(registries.noauth, registries, f"plain/{unique}", "1.0", {"maintainer": "someone"})
    await create(
        api, f"{V1}/aimclustermodels", model_body("AIMClusterModel", f"{unique}-b", {"image": plain})
    )
    try:
        a = await wait_model(api, f"{V1}/aimclustermodels/{unique}-a", lambda m: status_of(m) == "Failed")
        assert condition(a, "Ready")["reason"] == "ImageNotFound"
        assert missing.split("/")[0] in condition(a, "Ready")["message"]
        b = await wait_model(api, f"{V1}/aimclustermodels/{unique}-b", lambda m: status_of(m) == "Failed")
        assert condition(b, "ImageMetadataReady")["reason"] == "ImageFound"
        assert b["status"]["imageMetadata"]["originalLabels"] == {"maintainer": "someone"}
    finally:
        await api.request("DELETE", f"{V1}/aimclustermodels/{unique}-a")
        await api.request("DELETE", f"{V1}/aimclustermodels/{unique}-b")


async def test_named_runtime_config_must_exist(
    operator: RunningOperator, api: KubeApi, registries: Registries, namespace: str, unique: str
) -> None:
    image = push(
        registries.noauth, registries, f"amdenterpriseai/{unique}", "1.0", aim_labels(deployments=[])
    )
    spec = {"image": image, "runtimeConfigName": "platform-default"}
    await create(api, f"{V1}/namespaces/{namespace}/aimmodels", model_body("AIMModel", unique, spec))
    path = f"{V1}/namespaces/{namespace}/aimmodels/{unique}"
    model = await wait_model(api, path, lambda m: status_of(m) == "Failed")
    assert condition(model, "RuntimeConfigReady")["reason"] == "ConfigNotFound"
    assert "platform-default" in condition(model, "Ready")["message"]
    # Creating the config (a watched kind) makes the model recover without touching it.
    config: dict[str, Any] = {
        "apiVersion": "aim.eai.amd.com/v1alpha1",
        "kind": "AIMClusterRuntimeConfig",
        "metadata": {"name": "platform-default"},
        "spec": {},
    }
    await create(api, f"{V1}/aimclusterruntimeconfigs", config)
    try:
        model = await wait_model(api, path, lambda m: status_of(m) == "Ready")
        assert model["status"]["resolvedRuntimeConfig"]["scope"] == "Cluster"
    finally:
        await api.request("DELETE", f"{V1}/aimclusterruntimeconfigs/platform-default")


async def test_namespace_model_overrides_cluster_model(
    operator: RunningOperator, api: KubeApi, registries: Registries, namespace: str, unique: str
) -> None:
    cluster_spec = {"image": "registry.invalid/x:1", "discovery": {"extractMetadata": False}}
    await create(api, f"{V1}/aimclustermodels", model_body("AIMClusterModel", unique, cluster_spec))
    template = {
        "apiVersion": "aim.eai.amd.com/v1alpha1",
        "kind": "AIMServiceTemplate",
        "metadata": {"name": "mine"},
        "spec": {"modelName": unique},
    }
    await create(api, f"{V1}/namespaces/{namespace}/aimservicetemplates", template)
    tpath = f"{V1}/namespaces/{namespace}/aimservicetemplates/mine"
    try:
        found = await wait_model(api, tpath, lambda t: status_of(t) == "Ready")
        assert found["status"]["resolvedModel"]["kind"] == "AIMClusterModel"
        ns_spec = {"image": "registry.invalid/y:2", "discovery": {"extractMetadata": False}}
        await create(api, f"{V1}/namespaces/{namespace}/aimmodels", model_body("AIMModel", unique, ns_spec))
        found = await wait_model(
            api, tpath, lambda t: t.get("status", {}).get("resolvedModel", {}).get("kind") == "AIMModel"
        )
        assert found["status"]["resolvedModel"]["namespace"] == namespace
        assert found["status"]["deploymentImage"] == "registry.invalid/y:2"
        assert found["status"]["version"] == "2"
    finally:
        await api.request("DELETE", f"{V1}/aimclustermodels/{unique}")


async def test_discovery_off_then_on_and_spec_metadata(
    operator: RunningOperator, api: KubeApi, registries: Registries, namespace: str, unique: str
) -> None:
    image = push(registries.noauth, registries, f"amdenterpriseai/{unique}", "2.0", aim_labels())
    spec = {"image": image, "discovery": {"extractMetadata": False}}
    await create(api, f"{V1}/namespaces/{namespace}/aimmodels", model_body("AIMModel", unique, spec))
    path = f"{V1}/namespaces/{namespace}/aimmodels/{unique}"
    model = await wait_model(api, path, lambda m: status_of(m) == "Ready")
    assert condition(model, "ImageMetadataReady")["reason"] == "DiscoveryDisabled"
    assert "imageMetadata" not in model["status"]
    assert await templates_of(api, unique, namespace) == []
    # Switching discovery on runs it on the next reconcile.
    patch = {"spec": {"discovery": {"extractMetadata": True}}}
    await api.request("PATCH", path, body=patch, content_type="application/merge-patch+json")
    model = await wait_model(api, path, lambda m: m.get("status", {}).get("templateCount") == 2)
    assert condition(model, "ImageMetadataReady")["reason"] == "ImageMetadataFound"
    # Switching it off again leaves the templates in place.
    patch = {"spec": {"discovery": {"extractMetadata": False}}}
    await api.request("PATCH", path, body=patch, content_type="application/merge-patch+json")
    await wait_model(api, path, lambda m: condition(m, "ImageMetadataReady")["reason"] == "DiscoveryDisabled")
    assert len(await templates_of(api, unique, namespace)) == 2

    # Air-gapped: spec.imageMetadata replaces inspection; the image does not even exist.
    metadata = {"model": {"canonicalName": "Org/Gapped", "recommendedDeployments": [DEPLOYMENTS[0]]}}
    gapped = {"image": "registry.invalid/gapped:1", "imageMetadata": metadata}
    await create(
        api, f"{V1}/namespaces/{namespace}/aimmodels", model_body("AIMModel", f"{unique}-gap", gapped)
    )
    gap = await wait_model(
        api,
        f"{V1}/namespaces/{namespace}/aimmodels/{unique}-gap",
        lambda m: m.get("status", {}).get("templateCount") == 1,
    )
    assert gap["status"]["imageMetadata"] == metadata
    assert condition(gap, "ImageMetadataReady")["reason"] == "ImageMetadataFound"


async def test_not_available_until_a_gpu_node_appears(
    operator: RunningOperator,
    api: KubeApi,
    registries: Registries,
    namespace: str,
    gpu_nodes: Any,
    unique: str,
) -> None:
    deployments = [{"gpuModel": "MI355X", "gpuCount": 4, "precision": "fp4", "metric": "throughput"}]
    image = push(
        registries.noauth, registries, f"amdenterpriseai/{unique}", "1.0", aim_labels(deployments=deployments)
    )
    await create(
        api, f"{V1}/namespaces/{namespace}/aimmodels", model_body("AIMModel", unique, {"image": image})
    )
    path = f"{V1}/namespaces/{namespace}/aimmodels/{unique}"
    model = await wait_model(api, path, lambda m: status_of(m) == "NotAvailable")
    assert condition(model, "ServiceTemplatesReady")["reason"] == "NoTemplatesAvailable"
    (template,) = await templates_of(api, unique, namespace)
    assert condition(template, "GPUReady")["reason"] == "GPUNotAvailable"
    await gpu_nodes(gpu_model="MI355X", count=8)
    model = await wait_model(api, path, lambda m: status_of(m) == "Ready")
    (template,) = await templates_of(api, unique, namespace)
    assert template["status"]["hardwareSummary"] == "4 x MI355X"


async def test_registry_outage_degrades_then_recovers_by_itself(
    operator: RunningOperator, api: KubeApi, registries: Registries, unique: str
) -> None:
    from tests.support.scratch_registry import ScratchRegistry

    scratch = ScratchRegistry()
    image = f"{scratch.host}/amdenterpriseai/{unique}:1.0"
    await create(api, f"{V1}/aimclustermodels", model_body("AIMClusterModel", unique, {"image": image}))
    path = f"{V1}/aimclustermodels/{unique}"
    try:
        model = await wait_model(api, path, lambda m: status_of(m) == "Degraded")
        ready = condition(model, "Ready")
        assert ready["reason"] == "RegistryUnavailable"
        assert scratch.host in ready["message"]
        started = time.monotonic()
        scratch.start()
        push(
            RegistryEndpoint(mode="noauth", host=scratch.host, scheme="http"),
            registries,
            f"amdenterpriseai/{unique}",
            "1.0",
            aim_labels(deployments=[]),
        )
        await wait_model(api, path, lambda m: status_of(m) == "Ready", within=60)
        print(f"recovered {time.monotonic() - started:.1f}s after the registry came back")
    finally:
        scratch.remove()
        await api.request("DELETE", path)


async def test_custom_model_templates(
    operator: RunningOperator, api: KubeApi, namespace: str, gpu_nodes: Any, unique: str
) -> None:
    await gpu_nodes(gpu_model="MI300X", count=8)
    spec = {
        "image": "amdenterpriseai/aim-base:latest",
        "modelSources": [{"modelId": "Qwen/Qwen3-32B", "sourceUri": "s3://my-bucket/models/qwen3-32b"}],
        "custom": {
            "hardware": {"gpu": {"requests": 1, "models": ["MI300X"]}},
            "templates": [
                {"name": "high-memory", "hardware": {"gpu": {"requests": 2}}},
                {"name": "standard"},
            ],
        },
    }
    await create(api, f"{V1}/namespaces/{namespace}/aimmodels", model_body("AIMModel", unique, spec))
    model = await wait_model(
        api, f"{V1}/namespaces/{namespace}/aimmodels/{unique}", lambda m: status_of(m) == "Ready"
    )
    assert model["status"]["sourceType"] == "Custom"
    assert "imageMetadata" not in model["status"]
    templates = sorted(await templates_of(api, unique, namespace), key=lambda t: t["metadata"]["name"])
    assert [t["metadata"]["labels"]["aim.eai.amd.com/template.alias"] for t in templates] == [
        "high-memory",
        "standard",
    ]
    assert [t["status"]["hardwareSummary"] for t in templates] == ["2 x MI300X", "1 x MI300X"]
    assert {t["status"]["profile"]["metadata"]["type"] for t in templates} == {"unoptimized"}
    assert templates[0]["spec"]["modelSources"] == spec["modelSources"]


async def test_prune_deletes_only_what_the_operator_applied(
    operator: RunningOperator, api: KubeApi, namespace: str, unique: str
) -> None:
    """An administrator's clone of a generated template (for another GPU, keeping its labels and
    owner reference, as the published engine's docs suggest) survives the pruning that removes
    the original once the image stops recommending it."""
    metadata = {"model": {"canonicalName": "Org/Clone", "recommendedDeployments": DEPLOYMENTS}}
    models = f"{V1}/namespaces/{namespace}/aimmodels"
    await create(
        api, models, model_body("AIMModel", unique, {"image": "r.invalid/m:1", "imageMetadata": metadata})
    )
    await wait_model(api, f"{models}/{unique}", lambda m: m.get("status", {}).get("templateCount") == 2)
    original = next(
        t for t in await templates_of(api, unique, namespace) if t["spec"]["metric"] == "throughput"
    )
    clone = {
        "apiVersion": original["apiVersion"],
        "kind": original["kind"],
        "metadata": {
            "name": f"{original['metadata']['name']}-mi325x",
            "labels": original["metadata"]["labels"],
            "ownerReferences": original["metadata"]["ownerReferences"],
        },
        "spec": {**original["spec"], "hardware": {"gpu": {"requests": 8, "model": "MI325X"}}},
    }
    await create(api, f"{V1}/namespaces/{namespace}/aimservicetemplates", clone)
    fewer = {"model": {**metadata["model"], "recommendedDeployments": DEPLOYMENTS[:1]}}
    await api.request(
        "PATCH",
        f"{models}/{unique}",
        body={"spec": {"imageMetadata": fewer}},
        content_type="application/merge-patch+json",
    )
    left = await eventually(
        lambda: templates_of(api, unique, namespace),
        lambda ts: original["metadata"]["name"] not in [t["metadata"]["name"] for t in ts],
        what="the original pruned",
    )
    assert sorted(t["spec"]["metric"] for t in left) == ["latency", "throughput"]
    assert clone["metadata"]["name"] in [t["metadata"]["name"] for t in left]
