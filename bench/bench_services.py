"""Service benchmark: N AIMServices on M models reach `Starting` (their InferenceService made).

    uv run python -m bench.bench_services --services 300 --models 100

Starts the test control plane (with KServe's InferenceService CRD, no KServe controller), one
MI300X node, and M namespace models that declare their metadata (two deployments each, so two
templates), runs `aim-engine run` as its own process with the chart's RBAC (as the catalog
benchmark does), waits until the catalog is Ready, then creates N services spread over the models
and measures, until every service reports `Starting`:

* seconds, against the floor: a bare client on the same API server in the same run creating the
  same number of services, InferenceServices and service status writes;
* API writes by the operator per service (audit log), and writes in 10 s at rest afterwards;
* the operator's peak RSS and CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from tests.support.aim_operator import OPERATOR_NAMESPACE
from tests.support.api import admin_api
from tests.support.kube import ControlPlane, KubeCluster, default_crd_files, ensure_namespace
from tests.support.operator_process import OperatorProcess, add_gpu_node, bind_chart_rbac

from aim_engine.runtime.kube_api import KubeApi
from bench.bench_catalog import operator_writes

V1 = "/apis/aim.eai.amd.com/v1alpha1"
KSERVE = "/apis/serving.kserve.io/v1beta1"
NAMESPACE = "bench"
DEPLOYMENTS = [
    {"gpuModel": "MI300X", "gpuCount": 1, "precision": "fp8", "metric": "latency"},
    {"gpuModel": "MI300X", "gpuCount": 1, "precision": "fp8", "metric": "throughput"},
]


def service(name: str, model: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "aim.eai.amd.com/v1alpha1",
        "kind": "AIMService",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels or {}},
        "spec": {"model": {"name": model}},
    }


async def floor(api: KubeApi, services: int, concurrency: int) -> float:
    """Create a service, its InferenceService and its status, as the operator writes them."""
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            name = f"floor-{i}"
            made = json.loads(
                await api.request(
                    "POST",
                    f"{V1}/namespaces/{NAMESPACE}/aimservices",
                    body=service(name, "m-0", {"bench": "floor"}),
                )
            )
            isvc = {
                "apiVersion": "serving.kserve.io/v1beta1",
                "kind": "InferenceService",
                "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"bench": "floor"}},
                "spec": {"predictor": {"containers": [{"name": "kserve-container", "image": "x/y:1"}]}},
            }
            await api.request("POST", f"{KSERVE}/namespaces/{NAMESPACE}/inferenceservices", body=isvc)
            made["status"] = {"status": "Starting"}
            await api.request("PUT", f"{V1}/namespaces/{NAMESPACE}/aimservices/{name}/status", body=made)

    start = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(services)))
    elapsed = time.monotonic() - start
    for path in (
        f"{V1}/namespaces/{NAMESPACE}/aimservices",
        f"{KSERVE}/namespaces/{NAMESPACE}/inferenceservices",
    ):
        await api.request("DELETE", path, params={"labelSelector": "bench=floor"})
    return elapsed


async def statuses(api: KubeApi, plural: str, prefix: str) -> dict[str, str | None]:
    raw = json.loads(
        await api.request("GET", f"{V1}/namespaces/{NAMESPACE}/{plural}", params={"limit": "5000"})
    )
    return {
        o["metadata"]["name"]: (o.get("status") or {}).get("status")
        for o in raw["items"]
        if o["metadata"]["name"].startswith(prefix)
    }


async def until(check: Any, what: str, within: float) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    plane = ControlPlane()
    info = plane.start(crd_files=default_crd_files(), echo=False)
    kube = KubeCluster(info)
    api = admin_api(kube)
    operator: OperatorProcess | None = None
    try:
        ensure_namespace(info, OPERATOR_NAMESPACE)
        ensure_namespace(info, NAMESPACE)
        await bind_chart_rbac(api)
        await add_gpu_node(api, "gpu")
        # The floor's services name a model that never exists (no operator runs yet). A first,
        # untimed round warms the API server's handling of both kinds, as the operator's
        # start-up (its LISTs) does for it.
        await floor(api, 20, args.concurrency)
        floor_seconds = await floor(api, args.services, args.concurrency)

        operator = OperatorProcess(kube, None, args.concurrency, log_name="aim-bench-services.log")
        await operator.ready()
        metadata = {"model": {"canonicalName": "Bench/Model", "recommendedDeployments": DEPLOYMENTS}}
        for i in range(args.models):
            body = {
                "apiVersion": "aim.eai.amd.com/v1alpha1",
                "kind": "AIMModel",
                "metadata": {"name": f"m-{i}", "namespace": NAMESPACE},
                "spec": {"image": f"registry.example/bench/m{i}:1.0", "imageMetadata": metadata},
            }
            await api.request("POST", f"{V1}/namespaces/{NAMESPACE}/aimmodels", body=body)

        async def catalog_ready() -> bool:
            found = await statuses(api, "aimmodels", "m-")
            return len(found) == args.models and all(s == "Ready" for s in found.values())

        await until(catalog_ready, "the catalog", 300)
        await asyncio.sleep(2)  # let the templates' last status writes land
        _, cpu_at_start = operator.usage()
        mark = kube.audit.mark()
        start = time.monotonic()
        sem = asyncio.Semaphore(args.concurrency)

        async def create(i: int) -> None:
            async with sem:
                body = service(f"s-{i}", f"m-{i % args.models}")
                await api.request("POST", f"{V1}/namespaces/{NAMESPACE}/aimservices", body=body)

        await asyncio.gather(*(create(i) for i in range(args.services)))

        async def all_starting() -> bool:
            found = await statuses(api, "aimservices", "s-")
            return len(found) == args.services and all(s == "Starting" for s in found.values())

        await until(all_starting, "every service Starting", args.timeout)
        seconds = time.monotonic() - start
        _, cpu_at_ready = operator.usage()
        await asyncio.sleep(2)
        settled = operator_writes(kube.audit.path, mark)
        rest = kube.audit.mark()
        await asyncio.sleep(args.rest)
        at_rest = sum(operator_writes(kube.audit.path, rest).values())
        rss, _ = operator.usage()
        writes = sum(settled.values())
        return {
            "services": args.services,
            "models": args.models,
            "secondsToAllStarting": round(seconds, 2),
            "floorSeconds": round(floor_seconds, 2),
            "ratioToFloor": round(seconds / floor_seconds, 2),
            "operatorWrites": dict(settled),
            "writesPerService": round(writes / args.services, 2),
            "writesAtRest": at_rest,
            "restSeconds": args.rest,
            "operatorPeakRssMiB": round(rss, 1),
            "operatorCpuSeconds": round(cpu_at_ready - cpu_at_start, 1),
        }
    finally:
        if operator is not None:
            operator.stop()
        await api.close()
        plane.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=300)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rest", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    result = asyncio.run(main(parser.parse_args()))
    print(json.dumps(result, indent=2))
