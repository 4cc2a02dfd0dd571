"""`kill -9` of the operator process in the middle of reconciling 1,000 models, then a new one: on
a control plane of this test's own (the operator runs as `aim-engine run` with the chart's rules,
as in the benchmark). Everything converges: every model Ready, exactly one template per
recommended deployment of each, each template controlled by its model (no duplicate, no orphan)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from aim_engine.runtime.kube_api import KubeApi
from tests.support.aim_api import V1
from tests.support.aim_operator import OPERATOR_NAMESPACE
from tests.support.api import admin_api
from tests.support.kube import ControlPlane, KubeCluster, default_crd_files, ensure_namespace
from tests.support.operator_process import OperatorProcess, add_gpu_node, bind_chart_rbac

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

MODELS = 1000
DEPLOYMENTS = [
    {"gpuModel": "MI300X", "gpuCount": 1, "precision": "fp8", "metric": "latency"},
    {"gpuModel": "MI300X", "gpuCount": 2, "precision": "fp16", "metric": "throughput"},
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[KubeCluster]:
    plane = ControlPlane()
    try:
        info = plane.start(crd_files=default_crd_files(), echo=False)
        ensure_namespace(info, OPERATOR_NAMESPACE)
        yield KubeCluster(info)
    finally:
        plane.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def api(cluster: KubeCluster) -> AsyncIterator[KubeApi]:
    client = admin_api(cluster)
    yield client
    await client.close()


async def models_by_status(api: KubeApi) -> Counter[str | None]:
    raw = json.loads(await api.request("GET", f"{V1}/aimclustermodels", params={"limit": "5000"}))
    return Counter((m.get("status") or {}).get("status") for m in raw["items"])


async def test_kill_9_in_the_middle_of_a_thousand_models(cluster: KubeCluster, api: KubeApi) -> None:
    await bind_chart_rbac(api)
    await add_gpu_node(api, "gpu")

    first = OperatorProcess(cluster, None, 8, log_name="aim-kill9-first.log")
    await first.ready()
    metadata = {"model": {"canonicalName": "Kill/Model", "recommendedDeployments": DEPLOYMENTS}}

    async def create(i: int) -> None:
        body = {
            "apiVersion": "aim.eai.amd.com/v1alpha1",
            "kind": "AIMClusterModel",
            "metadata": {"name": f"kill-{i:04d}"},
            "spec": {"image": f"registry.example/kill/m{i}:1.0", "imageMetadata": metadata},
        }
        await api.request("POST", f"{V1}/aimclustermodels", body=body)

    for start in range(0, MODELS, 100):
        await asyncio.gather(*(create(i) for i in range(start, start + 100)))
    # Mid-work: some models have their final status, most do not yet.
    deadline = time.monotonic() + 120
    while (await models_by_status(api))["Ready"] < MODELS // 5:
        assert time.monotonic() < deadline, f"the first operator made no progress; see {first.log_path}"
        await asyncio.sleep(0.2)
    first.kill()
    killed_at = await models_by_status(api)
    assert killed_at["Ready"] < MODELS, "killed too late to be in the middle of the work"

    second = OperatorProcess(cluster, None, 8, log_name="aim-kill9-second.log")
    try:
        await second.ready()
        began = time.monotonic()
        deadline = began + 240
        while (statuses := await models_by_status(api))["Ready"] < MODELS:
            assert time.monotonic() < deadline, f"not converged: {statuses}; see {second.log_path}"
            await asyncio.sleep(0.5)
        converged = time.monotonic() - began
    finally:
        second.stop()

    models = json.loads(await api.request("GET", f"{V1}/aimclustermodels", params={"limit": "5000"}))["items"]
    uids = {m["metadata"]["name"]: m["metadata"]["uid"] for m in models}
    templates: list[dict[str, Any]] = json.loads(
        await api.request("GET", f"{V1}/aimclusterservicetemplates", params={"limit": "10000"})
    )["items"]
    per_model: Counter[str] = Counter()
    for template in templates:
        (owner,) = [r for r in template["metadata"].get("ownerReferences", []) if r.get("controller")]
        assert owner["kind"] == "AIMClusterModel" and uids.get(owner["name"]) == owner["uid"], template[
            "metadata"
        ]
        assert template["spec"]["modelName"] == owner["name"]
        per_model[owner["name"]] += 1
    assert set(per_model) == set(uids), "every model has its templates"
    assert set(per_model.values()) == {len(DEPLOYMENTS)}, "no duplicate and no missing template"
    print(
        f"\nkill -9 with {killed_at['Ready']} of {MODELS} Ready; "
        f"the next operator converged in {converged:.1f} s"
    )
