"""AIMServices followed past the InferenceService, on a cluster that serves: KServe's own
controller makes the Deployment, kube-controller-manager its ReplicaSet and pod, kube-scheduler
binds the pod to a node, and kwok (in the kubelet's place) runs it. See tests/support/serving.py.

Two kwok nodes: one with MI300X GPUs, which every template here is chosen for, and one with
MI325X GPUs, which must stay empty.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from aim_engine.runtime.kube_api import KubeApi
from tests.support.aim_api import V1, condition, create, get, model_body, service_body, status_of
from tests.support.aim_operator import RunningOperator, start_operator
from tests.support.api import admin_api
from tests.support.kube import GpuNode, built
from tests.support.kube_plugin import unique_name
from tests.support.oci_images import ImageBuilder, ImageSpec
from tests.support.registries import Registries
from tests.support.serving import ServingCluster, kwok_node, serving_cluster
from tests.support.waiting import eventually
from tests.support.walkthrough import Command, File, lines_match, mask, parse, record, trimmed

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("serving"), pytest.mark.timeout(600)]

KSERVE = "/apis/serving.kserve.io/v1beta1"
APPS = "/apis/apps/v1"
GPU = "amd.com/gpu"
MI300X_NODE = "kwok-mi300x"
MI325X_NODE = "kwok-mi325x"
SERVING_DOC = Path(__file__).resolve().parents[2] / "docs" / "serving.md"
DOC_SECTION = "## The path, object by object"
RECORD = os.environ.get("AIM_WALKTHROUGH_RECORD", "") not in ("", "0")
# A pod's name: its ReplicaSet's pod-template hash and five characters of its own.
_POD_NAME = re.compile(r"-[bcdfghjklmnpqrstvwxz2456789]{6,10}-[bcdfghjklmnpqrstvwxz2456789]{5}\b")
LATENCY_FP8 = {"gpuModel": "MI300X", "gpuCount": 1, "metric": "latency", "precision": "fp8"}


@pytest.fixture(scope="module")
def serving() -> Iterator[ServingCluster]:
    with serving_cluster() as cluster:
        yield cluster


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def sapi(serving: ServingCluster) -> AsyncIterator[KubeApi]:
    client = admin_api(serving.kube)
    yield client
    await client.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def nodes(serving: ServingCluster, sapi: KubeApi) -> AsyncIterator[list[str]]:
    for spec in (GpuNode(MI300X_NODE, gpu_model="MI300X"), GpuNode(MI325X_NODE, gpu_model="MI325X")):
        body, status = kwok_node(spec)
        await sapi.request("POST", "/api/v1/nodes", body=body)
        await sapi.request(
            "PATCH",
            f"/api/v1/nodes/{spec.name}/status",
            body=status,
            content_type="application/merge-patch+json",
        )
    for name in (MI300X_NODE, MI325X_NODE):
        await eventually(
            lambda name=name: get(sapi, f"/api/v1/nodes/{name}"),  # type: ignore[misc]
            lambda n: condition(n, "Ready").get("status") == "True",
            what=f"kwok to make node {name} Ready",
            within=60,
        )
    yield [MI300X_NODE, MI325X_NODE]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def operator_on_serving(
    serving: ServingCluster, registries: Registries, nodes: list[str]
) -> AsyncIterator[RunningOperator]:
    running = await start_operator(serving.kube, registries)
    try:
        yield running
    finally:
        await running.stop()


async def objects(api: KubeApi, path: str, **params: str) -> list[dict[str, Any]]:
    return list(json.loads(await api.request("GET", path, params=params))["items"])


async def new_namespace(api: KubeApi, hint: str) -> str:
    name = unique_name(hint, prefix="ml-")
    await api.request(
        "POST",
        "/api/v1/namespaces",
        body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
    )
    return name


async def new_qwen_model(api: KubeApi, namespace: str) -> None:
    """Namespace model `qwen` with one MI300X template (its metadata declared)."""
    metadata = {"model": {"canonicalName": "Qwen/Qwen3-32B", "recommendedDeployments": [LATENCY_FP8]}}
    await create(
        api,
        f"{V1}/namespaces/{namespace}/aimmodels",
        model_body(
            "AIMModel",
            "qwen",
            {"image": "amdenterpriseai/aim-qwen:0.8.5", "imageMetadata": metadata},
            namespace,
        ),
    )


async def running_pod(api: KubeApi, namespace: str, isvc: str, serving: ServingCluster) -> dict[str, Any]:
    """The one Running, Ready pod of the InferenceService's predictor."""

    async def pods() -> list[dict[str, Any]]:
        return await objects(
            api,
            f"/api/v1/namespaces/{namespace}/pods",
            labelSelector=f"serving.kserve.io/inferenceservice={isvc}",
        )

    def one_running(found: list[dict[str, Any]]) -> bool:
        live = [p for p in found if not p["metadata"].get("deletionTimestamp")]
        return (
            len(live) == 1
            and live[0]["status"].get("phase") == "Running"
            and condition(live[0], "Ready").get("status") == "True"
        )

    try:
        found = await eventually(pods, one_running, what=f"a Running pod of {isvc}", within=90)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{serving.log_tails()}") from None
    return next(p for p in found if not p["metadata"].get("deletionTimestamp"))


async def apply_to_running(
    api: KubeApi, serving: ServingCluster, namespace: str, name: str, spec: dict[str, Any]
) -> tuple[dict[str, Any], float]:
    """Create the service, as `kubectl apply` would, and wait until it is Running; returns it and
    the seconds that took."""
    start = time.monotonic()
    await create(api, f"{V1}/namespaces/{namespace}/aimservices", service_body(name, namespace, spec))
    try:
        found = await eventually(
            lambda: get(api, f"{V1}/namespaces/{namespace}/aimservices/{name}"),
            lambda s: status_of(s) == "Running",
            what=f"service {name} Running",
            within=120,
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{serving.log_tails()}") from None
    assert found is not None
    return found, time.monotonic() - start


def check_predictor(
    service: dict[str, Any], isvc: dict[str, Any], deployment: dict[str, Any], pod: dict[str, Any]
) -> None:
    """What the operator wrote reached the pod, through KServe, unchanged where it matters."""
    wanted = isvc["spec"]["predictor"]
    wanted_container = wanted["containers"][0]
    template = deployment["spec"]["template"]["spec"]
    for spec in (template, pod["spec"]):
        container = next(c for c in spec["containers"] if c["name"] == "kserve-container")
        assert container["image"] == service["status"]["resolvedImage"]
        resources = container["resources"]
        assert resources["requests"][GPU] == resources["limits"][GPU] == "1", resources
        # As the operator merged them: KServe's defaulting webhook added nothing (it gives a
        # container without CPU and memory 1 CPU and 2 Gi, which no LLM starts in).
        assert resources == wanted_container["resources"]
        assert resources["requests"]["memory"] == "32Gi" and resources["limits"]["memory"] == "48Gi"
        # The env in the order the operator merged it (KServe may only add its own after it).
        names = [e["name"] for e in container.get("env", [])]
        ours = [e["name"] for e in wanted_container["env"]]
        assert names[: len(ours)] == ours, (names, ours)
        assert spec.get("imagePullSecrets") == wanted.get("imagePullSecrets")
        assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]
        assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}} in spec["volumes"]
    assert template.get("serviceAccountName") == wanted.get("serviceAccountName")
    assert pod["spec"]["serviceAccountName"] == wanted.get("serviceAccountName", "default")
    assert pod["spec"]["nodeName"] == MI300X_NODE


async def test_four_services_reach_running_pods_on_the_node_their_template_chose(
    serving: ServingCluster, sapi: KubeApi, operator_on_serving: RunningOperator, registries: Registries
) -> None:
    api = sapi
    namespace = await new_namespace(api, "serving")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "regcred", "namespace": namespace},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": "eyJhdXRocyI6e319"},
    }
    await api.request("POST", f"/api/v1/namespaces/{namespace}/secrets", body=secret)
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "aim-runner", "namespace": namespace},
    }
    await api.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts", body=account)
    metadata = {"model": {"canonicalName": "Qwen/Qwen3-32B", "recommendedDeployments": [LATENCY_FP8]}}

    # 1. A cluster model.
    await create(
        api,
        f"{V1}/aimclustermodels",
        model_body(
            "AIMClusterModel",
            f"{namespace}-qwen",
            {"image": "amdenterpriseai/aim-qwen-qwen3-32b:0.8.5", "imageMetadata": metadata},
        ),
    )
    # 2. An image no model names yet: the service creates one, which discovery inspects.
    labels = {
        "com.amd.aim.model.canonicalName": "Qwen/Qwen3-8B",
        "com.amd.aim.model.recommendedDeployments": json.dumps([LATENCY_FP8]),
    }
    with ImageBuilder(registries.noauth.url, ca_bundle=registries.ca_bundle) as builder:
        builder.push_image(f"team/{namespace}", "1.0", ImageSpec(labels=labels))
    image = registries.noauth.image(f"team/{namespace}", "1.0")
    # 3. A namespace model with its own pull secret and service account, fine-tuned from a base.
    base = {
        "model": {
            "canonicalName": "Org/Qwen-Base",
            "recommendedDeployments": [{**LATENCY_FP8, "modelId": "org/qwen-ft"}],
        }
    }
    await create(
        api,
        f"{V1}/namespaces/{namespace}/aimmodels",
        model_body(
            "AIMModel",
            "qwen-base",
            {
                "image": "amdenterpriseai/aim-qwen:0.8.5",
                "imageMetadata": {**base, "baseImageRef": "docker.io/amdenterpriseai/aim-base:0.8"},
            },
            namespace,
        ),
    )
    await create(
        api,
        f"{V1}/namespaces/{namespace}/aimmodels",
        model_body(
            "AIMModel",
            "qwen-tuned",
            {
                "aimId": "Org/Qwen-Base",
                "custom": {"versionPolicy": "latest"},
                "modelSources": [{"modelId": "org/qwen-ft", "sourceUri": "s3://bucket/weights/"}],
                "imagePullSecrets": [{"name": "regcred"}],
                "serviceAccountName": "aim-runner",
            },
            namespace,
        ),
    )
    custom = {
        "modelSources": [{"modelId": "Qwen/Qwen3-32B", "sourceUri": "hf://Qwen/Qwen3-32B"}],
        "hardware": {"gpu": {"requests": 1, "models": ["MI300X"]}},
    }
    specs: dict[str, dict[str, Any]] = {
        "cluster": {"model": {"name": f"{namespace}-qwen"}},
        "auto": {"model": {"image": image}},
        "custom": {"model": {"custom": custom}, "template": {"allowUnoptimized": True}},
        "tuned": {"model": {"name": "qwen-tuned"}},
    }
    times: dict[str, float] = {}
    for name, spec in specs.items():
        service, times[name] = await apply_to_running(api, serving, namespace, name, spec)
        isvc = await get(api, f"{KSERVE}/namespaces/{namespace}/inferenceservices/{name}")
        assert isvc is not None and condition(isvc, "Ready")["status"] == "True"
        assert condition(service, "InferenceServiceReady")["status"] == "True"
        deployment = await get(api, f"{APPS}/namespaces/{namespace}/deployments/{name}-predictor")
        assert deployment is not None, f"KServe made no Deployment {name}-predictor"
        pod = await running_pod(api, namespace, name, serving)
        check_predictor(service, isvc, deployment, pod)
    print(f"kubectl apply to Running: {', '.join(f'{k} {v:.1f} s' for k, v in times.items())}")

    tuned = await get(api, f"{KSERVE}/namespaces/{namespace}/inferenceservices/tuned")
    assert tuned is not None
    assert tuned["spec"]["predictor"]["serviceAccountName"] == "aim-runner"
    assert tuned["spec"]["predictor"]["imagePullSecrets"] == [{"name": "regcred"}]
    # No pod on the node whose GPU no template asked for.
    assert await objects(api, "/api/v1/pods", fieldSelector=f"spec.nodeName={MI325X_NODE}") == []


async def test_a_service_degrades_when_its_pod_cannot_run_and_recovers(
    serving: ServingCluster, sapi: KubeApi, operator_on_serving: RunningOperator
) -> None:
    api = sapi
    namespace = await new_namespace(api, "degrade")
    await new_qwen_model(api, namespace)
    await apply_to_running(api, serving, namespace, "chat", {"model": {"name": "qwen"}})
    pod = await running_pod(api, namespace, "chat", serving)

    # The node is cordoned and the pod goes: its replacement has nowhere to run.
    merge = "application/merge-patch+json"
    await api.request(
        "PATCH", f"/api/v1/nodes/{MI300X_NODE}", body={"spec": {"unschedulable": True}}, content_type=merge
    )
    try:
        await api.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/{pod['metadata']['name']}")
        # Degraded, with KServe's word and the scheduler's (from the replacement pod).
        degraded = await eventually(
            lambda: get(api, f"{V1}/namespaces/{namespace}/aimservices/chat"),
            lambda s: (
                status_of(s) == "Degraded"
                and "is not scheduled (Unschedulable)"
                in condition(s, "InferenceServiceReady").get("message", "")
            ),
            what="service chat Degraded, saying why its pod does not run",
            within=60,
        )
        message = condition(degraded, "InferenceServiceReady")["message"]
        assert "Deployment does not have minimum availability" in message
        assert "node(s) were unschedulable" in message, message
    finally:
        await api.request(
            "PATCH",
            f"/api/v1/nodes/{MI300X_NODE}",
            body={"spec": {"unschedulable": False}},
            content_type=merge,
        )
    await eventually(
        lambda: get(api, f"{V1}/namespaces/{namespace}/aimservices/chat"),
        lambda s: status_of(s) == "Running",
        what="service chat Running again",
        within=60,
    )
    await running_pod(api, namespace, "chat", serving)


async def test_a_template_no_node_can_run_is_reported_with_the_nodes_before_kserve_is_asked(
    serving: ServingCluster, sapi: KubeApi, operator_on_serving: RunningOperator
) -> None:
    api = sapi
    namespace = await new_namespace(api, "nofit")
    for name, deployment in (
        ("mi355x", {**LATENCY_FP8, "gpuModel": "MI355X"}),
        ("sixteen", {**LATENCY_FP8, "gpuCount": 16}),
    ):
        metadata = {"model": {"canonicalName": f"Org/{name}", "recommendedDeployments": [deployment]}}
        await create(
            api,
            f"{V1}/namespaces/{namespace}/aimmodels",
            model_body(
                "AIMModel",
                name,
                {"image": f"amdenterpriseai/aim-{name}:1.0", "imageMetadata": metadata},
                namespace,
            ),
        )
        await create(
            api,
            f"{V1}/namespaces/{namespace}/aimservices",
            service_body(name, namespace, {"model": {"name": name}}),
        )
    expected = {
        "mi355x": "No node has MI355X; GPUs in the cluster: MI300X on 1 node, MI325X on 1 node",
        "sixteen": "No node can allocate 16 GPUs: 1 node with the GPU, the most on one node is 8",
    }
    for name, message in expected.items():
        found = await eventually(
            lambda name=name: get(api, f"{V1}/namespaces/{namespace}/aimservices/{name}"),  # type: ignore[misc]
            lambda s, message=message: message in condition(s, "Ready").get("message", ""),  # type: ignore[misc]
            what=f"service {name} to name the nodes",
            within=30,
        )
        assert status_of(found) in ("Pending", "Failed"), found["status"]
    assert await objects(api, f"{KSERVE}/namespaces/{namespace}/inferenceservices") == []


def _doc_matches(step: Command, output: str) -> bool:
    def masked(text: str) -> list[str]:
        return trimmed(_POD_NAME.sub("-RS-POD", mask(text)))

    return lines_match(masked("\n".join(step.expected)), masked(output))


async def test_the_documented_path_object_by_object(
    serving: ServingCluster, operator_on_serving: RunningOperator, tmp_path: Path
) -> None:
    """docs/serving.md's section, run as written with kubectl; `AIM_WALKTHROUGH_RECORD=1` writes
    what the commands printed back into it."""
    kubectl = built("kubectl")
    env = {
        "PATH": f"{kubectl.parent}:/usr/bin:/bin",
        "KUBECONFIG": serving.info.kubeconfig_path,
        "HOME": str(tmp_path),
    }
    steps = parse(SERVING_DOC.read_text(), DOC_SECTION, "docs/serving.md")
    assert any(isinstance(step, Command) for step in steps)
    recorded: dict[int, tuple[Command, str]] = {}
    for step in steps:
        if isinstance(step, File):
            (tmp_path / step.name).write_text(step.text)
            continue
        assert isinstance(step, Command), f"docs/serving.md line {step.line}: no directives here"
        # A read is polled until it matches (the operator works in the background); when
        # recording, what it prints after a while is what the cluster settled on.
        deadline = time.monotonic() + ((15 if RECORD else 60) if step.polled else 0)
        while True:
            proc = await asyncio.create_subprocess_exec(
                "bash",
                "-c",
                step.command,
                cwd=tmp_path,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await proc.communicate()
            output = out.decode()
            if _doc_matches(step, output) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        if RECORD:
            if not _doc_matches(step, output):
                recorded[step.line] = (step, output)
            continue
        assert _doc_matches(step, output), (
            f"docs/serving.md line {step.line}: $ {step.command}\n--- the document says:\n"
            + "\n".join(step.expected)
            + f"\n--- the command printed:\n{output}"
        )
    if RECORD:
        record(SERVING_DOC, recorded)


async def test_what_kserve_says_only_in_events_reaches_the_service(
    serving: ServingCluster, sapi: KubeApi, operator_on_serving: RunningOperator
) -> None:
    """A request above its limit: the operator passes on what the user wrote, KServe cannot
    make the Deployment and says so only in a Warning event (no condition), which the service
    quotes instead of waiting for ever."""
    api = sapi
    namespace = await new_namespace(api, "kserve-fails")
    await new_qwen_model(api, namespace)
    spec = {
        "model": {"name": "qwen"},
        "resources": {"requests": {"memory": "64Gi"}, "limits": {"memory": "32Gi"}},
    }
    await create(api, f"{V1}/namespaces/{namespace}/aimservices", service_body("big", namespace, spec))
    found = await eventually(
        lambda: get(api, f"{V1}/namespaces/{namespace}/aimservices/big"),
        lambda s: condition(s, "InferenceServiceReady").get("reason") == "InternalError",
        what="service big to quote KServe's InternalError",
        within=60,
    )
    message = condition(found, "InferenceServiceReady")["message"]
    assert message.startswith("KServe cannot deploy InferenceService big: "), message
    assert "must be less than or equal to memory limit" in message, message
    assert status_of(found) == "Starting"
