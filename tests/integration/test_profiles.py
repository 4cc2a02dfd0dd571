"""v1alpha2 models on a real cluster: how the operator tells them from v1alpha1 ones (the
managedFields the API server keeps), the profiles they publish in both scopes, a model
re-declared in the other version, profile status following a GPU node, and zero writes on a
resync. Models carry spec.imageMetadata. Nodes are cluster-wide, so the statuses asserted here
use GPU models whose nodes only these tests make: MI300A (never), MI210 (the node test)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from aim_engine.catalog.api_version import LAST_APPLIED
from aim_engine.cli import main
from aim_engine.runtime.kube_api import KubeApi
from tests.support.aim_api import get, reported, status_of
from tests.support.aim_operator import GROUP, OPERATOR_USER, RunningOperator
from tests.support.kube import KubeCluster
from tests.support.kube_plugin import unique_name
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(GROUP)]

GROUP_PATH = "/apis/aim.eai.amd.com"
DEPLOYMENTS = [
    {
        "gpuModel": "MI210",
        "gpuCount": 1,
        "precision": "fp16",
        "metric": "latency",
        "engine": "vllm",
        "profileId": "mi210-fp16",
    },
    {"gpuModel": "MI210", "gpuCount": 4, "precision": "fp16", "metric": "throughput"},
]


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> str:
    return unique_name(request.node.name.removeprefix("test_")[:24], prefix="prof-")


def model(
    kind: str, version: str, name: str, namespace: str | None = None, gpu: str = "MI210"
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    spec = {
        "image": "amdenterpriseai/aim-qwen-qwen3-32b:0.8.5",
        "imageMetadata": {
            "model": {
                "canonicalName": "qwen/qwen3-32b",
                "recommendedDeployments": [{**d, "gpuModel": gpu} for d in DEPLOYMENTS],
            }
        },
    }
    return {"apiVersion": f"aim.eai.amd.com/{version}", "kind": kind, "metadata": meta, "spec": spec}


def model_path(body: dict[str, Any]) -> str:
    version = body["apiVersion"].split("/")[1]
    plural = "aimmodels" if body["kind"] == "AIMModel" else "aimclustermodels"
    namespace = body["metadata"].get("namespace")
    where = f"namespaces/{namespace}/" if namespace else ""
    return f"{GROUP_PATH}/{version}/{where}{plural}/{body['metadata']['name']}"


async def kubectl_apply_server_side(api: KubeApi, body: dict[str, Any]) -> None:
    """What `kubectl apply --server-side -f` sends: an apply patch as field manager kubectl."""
    await api.request(
        "PATCH",
        model_path(body),
        params={"fieldManager": "kubectl", "force": "true"},
        body=body,
        content_type="application/apply-patch+yaml",
    )


async def profiles_of(api: KubeApi, name: str, namespace: str | None) -> list[dict[str, Any]]:
    path = (
        f"{GROUP_PATH}/v1alpha2/namespaces/{namespace}/aimprofiles"
        if namespace
        else f"{GROUP_PATH}/v1alpha2/aimclusterprofiles"
    )
    listing = json.loads(
        await api.request("GET", path, params={"labelSelector": f"aim.eai.amd.com/model={name}"})
    )
    return sorted(listing["items"], key=lambda p: p["metadata"]["name"])


async def reconciled(api: KubeApi, body: dict[str, Any]) -> dict[str, Any]:
    """The model once its status says the operator reconciled its current generation."""
    found: dict[str, Any] | None = await eventually(
        lambda: get(api, model_path(body)), reported, what=f"{body['metadata']['name']} reconciled"
    )
    assert found is not None
    return found


async def profiles_where(
    api: KubeApi, name: str, namespace: str | None, check: Any, what: str, within: float = 30.0
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await eventually(
        lambda: profiles_of(api, name, namespace), check, what=what, within=within
    )
    return found


async def test_v1alpha2_models_publish_profiles_in_both_scopes_and_v1alpha1_models_none(
    operator: RunningOperator,
    api: KubeApi,
    kube: KubeCluster,
    namespace: str,
    unique: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cluster = model("AIMClusterModel", "v1alpha2", unique)
    namespaced = model("AIMModel", "v1alpha2", unique, namespace)
    older = model("AIMModel", "v1alpha1", f"{unique}-v1", namespace, gpu="MI300A")
    try:
        await kubectl_apply_server_side(api, cluster)
        # `kubectl create -f` of a v1alpha2 manifest: a plain POST, no apply.
        await api.request("POST", model_path(namespaced).rsplit("/", 1)[0], body=namespaced)
        await kubectl_apply_server_side(api, older)
        cluster_profiles = await profiles_where(
            api, unique, None, lambda ps: len(ps) == 2, "two cluster profiles"
        )
        namespace_profiles = await profiles_where(
            api, unique, namespace, lambda ps: len(ps) == 2, "two profiles"
        )
        first = cluster_profiles[0] if cluster_profiles[0]["spec"].get("primary") else cluster_profiles[1]
        assert first["spec"] == {
            "aimId": "qwen/qwen3-32b",
            "modelId": "qwen/qwen3-32b",
            "profileId": "mi210-fp16",
            "engine": "vllm",
            "metric": "latency",
            "precision": "fp16",
            "type": "optimized",
            "primary": True,
            "acceleratorModel": "MI210",
            "acceleratorType": "gpu",
            "acceleratorCount": 1,
            "image": "amdenterpriseai/aim-qwen-qwen3-32b:0.8.5",
        }
        (owner,) = first["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["controller"]) == ("AIMClusterModel", unique, True)
        for profile in namespace_profiles:
            (owner,) = profile["metadata"]["ownerReferences"]
            assert (owner["kind"], owner["name"]) == ("AIMModel", unique)
        # The profile has the name of the template made for the same deployment.
        templates = json.loads(
            await api.request(
                "GET",
                f"{GROUP_PATH}/v1alpha1/aimclusterservicetemplates",
                params={"labelSelector": f"aim.eai.amd.com/model={unique}"},
            )
        )["items"]
        assert sorted(t["metadata"]["name"] for t in templates) == [
            p["metadata"]["name"] for p in cluster_profiles
        ]
        # A v1alpha1 model: no profiles, and no writes to profiles at all. Its status of this
        # generation says the operator reconciled it (profiles are synced before the status).
        v1_model = await reconciled(api, older)
        assert await profiles_of(api, f"{unique}-v1", namespace) == []
        assert status_of(v1_model) == "NotAvailable"  # MI300A templates, no such node: as any v1alpha1 model

        # explain --kubeconfig reads the profiles too (it listed none, and said "not created").
        await profiles_where(
            api,
            unique,
            None,
            lambda ps: all(p.get("status", {}).get("status") for p in ps),
            "profile statuses",
        )
        code = await asyncio.to_thread(
            main, ["explain", "model", unique, "--kubeconfig", str(kube.kubeconfig_path)]
        )
        out = capsys.readouterr().out
        assert code == 0 and "Profiles (declared in v1alpha2): 2 AIMClusterProfile(s)" in out, out
        section = out.split("Profiles (declared in v1alpha2)")[1]
        assert "not created" not in section and all(
            p["metadata"]["name"] in section for p in cluster_profiles
        )
    finally:
        await api.request("DELETE", model_path(cluster))


async def test_redeclared_versions_gain_and_lose_profiles(
    operator: RunningOperator, api: KubeApi, namespace: str, unique: str
) -> None:
    v1 = model("AIMModel", "v1alpha1", unique, namespace)
    v2 = model("AIMModel", "v1alpha2", unique, namespace)
    await kubectl_apply_server_side(api, v1)
    await reconciled(api, v1)
    assert await profiles_of(api, unique, namespace) == []
    # The same spec re-applied as v1alpha2: only the managedFields say so, and that is enough.
    await kubectl_apply_server_side(api, v2)
    await profiles_where(
        api, unique, namespace, lambda ps: len(ps) == 2, "profiles after re-apply as v1alpha2"
    )
    stored = json.loads(await api.request("GET", model_path(v1)))
    assert [e["apiVersion"] for e in stored["metadata"]["managedFields"] if e["manager"] == "kubectl"] == [
        "aim.eai.amd.com/v1alpha2"
    ]
    # A label added with the server's preferred version (what kubectl label does) changes nothing.
    await api.request(
        "PATCH",
        model_path(v2),
        params={"fieldManager": "kubectl-label"},
        body={"metadata": {"labels": {"team": "ml"}}},
        content_type="application/merge-patch+json",
    )
    # Back to v1alpha1: the model no longer publishes profiles, and its own are deleted.
    await kubectl_apply_server_side(api, v1)
    await profiles_where(
        api, unique, namespace, lambda ps: ps == [], "profiles gone after re-apply as v1alpha1"
    )

    # Client-side `kubectl apply`: created from a v1alpha1 manifest, then applied as v1alpha2
    # with the same spec. Only kubectl's last-applied annotation (and an entry that owns no
    # spec) records the new version.
    other = f"{unique}-csa"
    first = model("AIMModel", "v1alpha1", other, namespace)
    first["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(first)}
    await api.request(
        "POST",
        model_path(first).rsplit("/", 1)[0],
        params={"fieldManager": "kubectl-client-side-apply"},
        body=first,
    )
    await reconciled(api, first)
    assert await profiles_of(api, other, namespace) == []
    second = model("AIMModel", "v1alpha2", other, namespace)
    annotation = {"metadata": {"annotations": {LAST_APPLIED: json.dumps(second)}}}
    await api.request(
        "PATCH",
        model_path(second),
        params={"fieldManager": "kubectl-client-side-apply"},
        body=annotation,
        content_type="application/merge-patch+json",
    )
    await profiles_where(api, other, namespace, lambda ps: len(ps) == 2, "profiles after a client-side apply")


async def test_profile_status_follows_a_gpu_node_and_a_resync_writes_nothing(
    operator: RunningOperator, api: KubeApi, kube: KubeCluster, gpu_nodes: Any, unique: str
) -> None:
    cluster = model("AIMClusterModel", "v1alpha2", unique)
    try:
        await kubectl_apply_server_side(api, cluster)

        def states(ps: list[dict[str, Any]]) -> list[str | None]:
            return [status_of(p) for p in ps]

        absent = await profiles_where(
            api, unique, None, lambda ps: states(ps) == ["NotAvailable", "NotAvailable"], "no MI210 anywhere"
        )
        assert "No node has MI210" in absent[0]["status"]["conditions"][0]["message"]
        node = await gpu_nodes(gpu_model="MI210", count=2)
        joined = await profiles_where(
            api,
            unique,
            None,
            lambda ps: sorted(map(str, states(ps))) == ["Degraded", "Ready"],
            "one fits, one wants 4",
        )
        ready = next(p for p in joined if status_of(p) == "Ready")
        assert ready["status"]["matchingNodes"] == 1
        assert ready["status"]["hardwareSummary"] == "1 x MI210"
        assert ready["status"]["version"] == "0.8.5"
        assert ready["status"]["resources"] == {
            "requests": {"cpu": "4", "memory": "32Gi", "amd.com/gpu": "1"},
            "limits": {"cpu": "8", "memory": "48Gi", "amd.com/gpu": "1"},
        }
        hardware = next(c for c in ready["status"]["conditions"] if c["type"] == "HardwareAvailable")
        assert hardware["status"] == "True" and node.metadata.name in hardware["message"]
        # Settled: a full resync writes no profile (nor anything else about it).
        await operator.idle()
        mark = kube.audit.mark()
        operator.manager.requeue_all()
        await operator.idle()  # every key of the resync reconciled
        # The operator's writes only: under -n 2 another worker's tests write cluster models
        # (as the admin) at the same time.
        writes = [
            w
            for w in kube.audit.writes(user=OPERATOR_USER, since=mark)
            if w.resource in ("aimclusterprofiles", "aimclustermodels")
        ]
        assert writes == [], writes
        # The node leaves: back to NotAvailable.
        await gpu_nodes.cleanup()
        await profiles_where(
            api,
            unique,
            None,
            lambda ps: states(ps) == ["NotAvailable", "NotAvailable"],
            "node gone",
            within=60,
        )
    finally:
        await api.request("DELETE", model_path(cluster))
