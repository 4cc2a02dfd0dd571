"""Catalog benchmark: N cluster models reach Ready on a real API server and a real registry.

    uv run python -m bench.bench_catalog --models 100 --deployments 6 --images 10

Starts the same control plane and registries as the test suite, pushes `--images` AIM images
with `--deployments` recommended deployments each, creates `--models` AIMClusterModels (spread
over the images), and measures:

* seconds until every model is Ready, against the floor: a bare client creating the same
  models and templates and writing their statuses, on the same API server in the same run;
* API writes by the operator (audit log), per model, while settling, at rest and on a forced
  resync of every object (both should be 0);
* registry requests per unique image digest;
* the process's peak resident memory (operator and harness share the process).

Results are printed as JSON and as a Markdown table row for the README.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.support.aim_operator import OPERATOR_USER, start_operator
from tests.support.api import admin_api
from tests.support.kube import ControlPlane, KubeCluster, default_crd_files
from tests.support.oci_images import ImageBuilder, ImageSpec
from tests.support.registries import RegistryFleet

from aim_engine.runtime.kube_api import KubeApi

V1 = "/apis/aim.eai.amd.com/v1alpha1"
GPUS = ["MI300X", "MI325X"]


def deployments(count: int) -> list[dict[str, Any]]:
    metrics, precisions = ("latency", "throughput"), ("fp8", "fp16", "bf16")
    return [
        {
            "gpuModel": GPUS[i % 2],
            "gpuCount": 2 ** (i % 4),
            "metric": metrics[i % 2],
            "precision": precisions[i % 3],
        }
        for i in range(count)
    ]


def operator_writes(audit_path: Path, since: int) -> Counter[str]:
    """Writes made as the operator's identity (impersonated), by resource, since a byte offset."""
    counts: Counter[str] = Counter()
    with audit_path.open("rb") as f:
        f.seek(since)
        for line in f:
            event = json.loads(line)
            if event.get("stage") != "ResponseComplete":
                continue
            user = (event.get("impersonatedUser") or event.get("user") or {}).get("username")
            if user != OPERATOR_USER or event.get("verb") not in ("create", "update", "patch", "delete"):
                continue
            ref = event.get("objectRef") or {}
            name = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            counts[name] += 1
    return counts


async def all_ready(api: KubeApi, prefix: str, count: int) -> int:
    listing = json.loads(await api.request("GET", f"{V1}/aimclustermodels"))
    return (
        sum(
            1
            for m in listing["items"]
            if m["metadata"]["name"].startswith(prefix) and (m.get("status") or {}).get("status") == "Ready"
        )
        if listing["items"]
        else 0
    )


async def floor(api: KubeApi, models: int, templates_per_model: int, concurrency: int) -> float:
    """A bare client writing what the operator writes: models, templates, their statuses."""
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            name = f"floor-{i}"
            body = {
                "apiVersion": "aim.eai.amd.com/v1alpha1",
                "kind": "AIMClusterModel",
                "metadata": {"name": name, "labels": {"bench": "floor"}},
                "spec": {"image": f"127.0.0.1:1/floor:{i}"},
            }
            created = json.loads(await api.request("POST", f"{V1}/aimclustermodels", body=body))
            for t in range(templates_per_model):
                template = {
                    "apiVersion": "aim.eai.amd.com/v1alpha1",
                    "kind": "AIMClusterServiceTemplate",
                    "metadata": {"name": f"{name}-{t}", "labels": {"bench": "floor"}},
                    "spec": {"modelName": name},
                }
                made = json.loads(
                    await api.request("POST", f"{V1}/aimclusterservicetemplates", body=template)
                )
                made["status"] = {"status": "Ready"}
                await api.request("PUT", f"{V1}/aimclusterservicetemplates/{name}-{t}/status", body=made)
            created["status"] = {"status": "Ready", "templateCount": templates_per_model}
            await api.request("PUT", f"{V1}/aimclustermodels/{name}/status", body=created)

    start = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(models)))
    elapsed = time.monotonic() - start
    # Remove the floor's objects before the operator starts, so it has nothing of theirs to do.
    for kind in ("aimclusterservicetemplates", "aimclustermodels"):
        await api.request("DELETE", f"{V1}/{kind}", params={"labelSelector": "bench=floor"})
    return elapsed


async def main(args: argparse.Namespace) -> dict[str, Any]:
    plane = ControlPlane()
    info = plane.start(crd_files=default_crd_files(), echo=False)
    fleet = RegistryFleet.start()
    assert fleet.registries is not None
    registries = fleet.registries
    kube = KubeCluster(info)
    api = admin_api(kube)
    try:
        endpoint = registries.noauth
        labels = {
            "com.amd.aim.model.canonicalName": "Bench/Model",
            "com.amd.aim.model.recommendedDeployments": json.dumps(deployments(args.deployments)),
        }
        with ImageBuilder(endpoint.url) as builder:
            images = []
            for i in range(args.images):
                spec = ImageSpec(labels={**labels, "bench.index": str(i)})
                builder.push_image(f"bench/model-{i}", "1.0.0", spec)
                images.append(endpoint.image(f"bench/model-{i}", "1.0.0"))
        for gpu, device in (("MI300X", "74a1"), ("MI325X", "74a5")):
            node = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": f"bench-{gpu.lower()}", "labels": {"amd.com/gpu.device-id": device}},
            }
            made = json.loads(await api.request("POST", "/api/v1/nodes", body=node))
            made["status"] = {"capacity": {"amd.com/gpu": "8"}, "allocatable": {"amd.com/gpu": "8"}}
            await api.request("PUT", f"/api/v1/nodes/bench-{gpu.lower()}/status", body=made)

        floor_seconds = await floor(api, args.models, args.deployments, args.concurrency)

        operator = await start_operator(kube, registries, concurrency=args.concurrency)
        mark = kube.audit.mark()
        start = time.monotonic()
        sem = asyncio.Semaphore(args.concurrency)

        async def create(i: int) -> None:
            async with sem:
                body = {
                    "apiVersion": "aim.eai.amd.com/v1alpha1",
                    "kind": "AIMClusterModel",
                    "metadata": {"name": f"bench-{i}"},
                    "spec": {"image": images[i % len(images)]},
                }
                await api.request("POST", f"{V1}/aimclustermodels", body=body)

        await asyncio.gather(*(create(i) for i in range(args.models)))
        while await all_ready(api, "bench-", args.models) < args.models:
            if time.monotonic() - start > args.timeout:
                raise SystemExit(f"not all models Ready after {args.timeout}s")
            await asyncio.sleep(0.2)
        ready_seconds = time.monotonic() - start
        await asyncio.sleep(2)  # let in-flight template status updates land
        settled = operator_writes(kube.audit.path, mark)

        rest_mark = kube.audit.mark()
        await asyncio.sleep(args.rest)
        at_rest = operator_writes(kube.audit.path, rest_mark)

        resync_mark = kube.audit.mark()
        operator.manager.requeue_all()
        await asyncio.sleep(5)
        resync = operator_writes(kube.audit.path, resync_mark)

        registry_requests = operator.inspector.request_count
        await operator.stop()
        total = sum(settled.values())
        return {
            "models": args.models,
            "deploymentsPerImage": args.deployments,
            "uniqueImages": args.images,
            "secondsToAllReady": round(ready_seconds, 2),
            "floorSeconds": round(floor_seconds, 2),
            "ratioToFloor": round(ready_seconds / floor_seconds, 2),
            "operatorWrites": total,
            "writesPerModel": round(total / args.models, 2),
            "writesByResource": dict(settled),
            "writesAtRest": sum(at_rest.values()),
            "restSeconds": args.rest,
            "writesOnResync": sum(resync.values()),
            "registryRequests": registry_requests,
            "registryRequestsPerUniqueImage": round(registry_requests / args.images, 2),
            "peakRssMiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    finally:
        await api.close()
        fleet.stop()
        plane.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--deployments", type=int, default=6)
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rest", type=float, default=20.0, help="seconds to watch for writes at rest")
    parser.add_argument("--timeout", type=float, default=600.0)
    result = asyncio.run(main(parser.parse_args()))
    print(json.dumps(result, indent=2))
    columns = [
        f"{result['models']} x {result['deploymentsPerImage']}",
        f"{result['secondsToAllReady']} s",
        f"{result['floorSeconds']} s",
        f"{result['ratioToFloor']}x",
        result["writesPerModel"],
        result["writesAtRest"],
        result["writesOnResync"],
        result["registryRequestsPerUniqueImage"],
        f"{result['peakRssMiB']} MiB",
    ]
    print("| " + " | ".join(str(c) for c in columns) + " |")
