"""A deletion storm: 1,000 cluster models deleted at once (one DELETE of the collection). Their
templates go with them (garbage collector), the operator makes no failed write on the way and
no write at all once they are gone, and it records no reconcile error for any of them."""

from __future__ import annotations

import asyncio
import json
import secrets
import time

import pytest

from aim_engine.api.v1alpha1 import AIMClusterModel, AIMClusterServiceTemplate
from aim_engine.runtime.kube_api import KubeApi
from tests.support.aim_api import V1, create, model_body
from tests.support.aim_operator import GROUP, RunningOperator
from tests.support.kube import KubeCluster
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(GROUP), pytest.mark.timeout(300)]

MODELS = 1000
METADATA = {
    "model": {
        "canonicalName": "storm/model",
        "recommendedDeployments": [
            {"gpuModel": "MI300X", "gpuCount": 1, "precision": "fp8", "metric": "latency"}
        ],
    }
}


async def _cached(operator: RunningOperator, prefix: str) -> int:
    kinds = (AIMClusterModel, AIMClusterServiceTemplate)
    return sum(1 for kind in kinds for o in operator.store.list(kind) if o.name.startswith(prefix))


async def count(api: KubeApi, plural: str, selector: str) -> int:
    raw = json.loads(
        await api.request("GET", f"{V1}/{plural}", params={"labelSelector": selector, "limit": "5000"})
    )
    return len(raw["items"])


async def test_deleting_a_thousand_models_at_once(
    operator: RunningOperator, api: KubeApi, kube: KubeCluster
) -> None:
    storm = f"storm-{secrets.token_hex(3)}"
    selector = f"aim-test-storm={storm}"

    async def make(i: int) -> None:
        body = model_body(
            "AIMClusterModel",
            f"{storm}-{i:04d}",
            {"image": f"registry.example/storm/m{i}:1.0", "imageMetadata": METADATA},
        )
        body["metadata"]["labels"] = {"aim-test-storm": storm}
        await create(api, f"{V1}/aimclustermodels", body)

    for start in range(0, MODELS, 50):
        await asyncio.gather(*(make(i) for i in range(start, min(start + 50, MODELS))))

    async def templates_made() -> bool:
        made = await count(
            api,
            "aimclusterservicetemplates",
            f"aim.eai.amd.com/model in ({storm}-0000,{storm}-{MODELS - 1:04d})",
        )
        if made < 2:
            return False
        raw = json.loads(
            await api.request("GET", f"{V1}/aimclustermodels", params={"labelSelector": selector})
        )
        # Written by the operator: a status the API server shows by default (Pending) is not.
        return all((m.get("status") or {}).get("observedGeneration") for m in raw["items"])

    await eventually(templates_made, bool, within=180, what="every model's status", interval=0.5)
    mark = kube.audit.mark()
    began = time.monotonic()
    await api.request("DELETE", f"{V1}/aimclustermodels", params={"labelSelector": selector})

    async def templates_gone() -> bool:
        raw = json.loads(
            await api.request("GET", f"{V1}/aimclusterservicetemplates", params={"limit": "5000"})
        )
        return not [t for t in raw["items"] if t["metadata"]["name"].startswith(storm)]

    await eventually(
        templates_gone, bool, within=120, what="the templates to be garbage-collected", interval=0.5
    )
    gone_after = time.monotonic() - began
    assert await count(api, "aimclustermodels", selector) == 0

    ours = [
        e
        for e in kube.audit.writes(since=mark)
        if e.name.startswith(storm) and e.user != "system:kube-controller-manager"
    ]
    # Besides the garbage collector's deletes of the templates (and the test's one DELETE of the
    # collection, which names no object), nothing wrote to these objects: no status write to a
    # model on its way out, no re-created template.
    assert not ours, [(e.verb, e.resource, e.name, e.code) for e in ours[:5]]

    settled = kube.audit.mark()
    # Once the operator's cache has every deletion and it has reconciled what they enqueued,
    # it has had every chance to write.
    await eventually(
        lambda: _cached(operator, storm), lambda n: n == 0, within=60, what="the cache caught up"
    )
    await operator.idle()
    after = [e for e in kube.audit.writes(since=settled) if e.name.startswith(storm)]
    assert not after, f"writes after the storm settled: {[(e.verb, e.resource, e.name) for e in after[:5]]}"
    errors = [item for item in operator.manager.last_errors if item[1].name.startswith(storm)]
    assert not errors, f"reconcile errors: {errors[:3]}"
    print(f"deletion storm: {MODELS} models, templates gone {gone_after:.1f} s after the DELETE")
