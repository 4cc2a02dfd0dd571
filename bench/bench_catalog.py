"""Catalog benchmark: N cluster models reach Ready on a real API server and a real registry.

    uv run python -m bench.bench_catalog --models 100 --deployments 6 --images 10

Starts the same control plane and registries as the test suite, pushes `--images` AIM images
with `--deployments` recommended deployments each, creates `--models` AIMClusterModels (spread
over the images), and measures:

* seconds until every model is Ready, against the floor: a bare client creating the same
  models and templates and writing their statuses, on the same API server in the same run;
* API writes by the operator (audit log), per model, while settling, at rest and on a forced
  resync of every object (both should be 0);
* registry requests per unique image digest (the operator's own counter, from /metrics);
* the operator's peak resident memory and CPU seconds: it runs as its own process
  (`aim-engine run`, as the chart runs it), with the chart's RBAC bound to its identity, so
  neither the harness nor the floor shares its memory or its event loop.

Readiness is followed with a watch (a LIST every few hundred milliseconds would load the API
server, which shares the two cores with the operator). With `--py-spy FILE` the operator phase
is sampled with py-spy (from PyPI, run with uvx) into collapsed stacks, and the top frames by
own and by total time are printed.

Results are printed as JSON and as a Markdown table row for the README.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.support.aim_operator import OPERATOR_NAMESPACE
from tests.support.api import admin_api
from tests.support.kube import OPERATOR_USER, ControlPlane, KubeCluster, default_crd_files, ensure_namespace
from tests.support.oci_images import ImageBuilder, ImageSpec
from tests.support.operator_process import OperatorProcess, add_gpu_node, bind_chart_rbac
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
    """Writes made by the operator's identity, by resource, since a byte offset."""
    counts: Counter[str] = Counter()
    with audit_path.open("rb") as f:
        f.seek(since)
        for line in f:
            event = json.loads(line)
            if event.get("stage") != "ResponseComplete":
                continue
            user = (event.get("user") or {}).get("username")
            if user != OPERATOR_USER or event.get("verb") not in ("create", "update", "patch", "delete"):
                continue
            ref = event.get("objectRef") or {}
            name = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            counts[name] += 1
    return counts


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


class ReadyWatch:
    """Counts models named `prefix*` whose status is Ready, from one watch."""

    def __init__(self, api: KubeApi, prefix: str) -> None:
        self.api, self.prefix = api, prefix
        self.states: dict[str, str | None] = {}
        self.first_status: dict[str, str] = {}
        """The first status.status each model was seen with."""
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        listing = json.loads(await self.api.request("GET", f"{V1}/aimclustermodels"))
        version = listing["metadata"]["resourceVersion"]
        self.task = asyncio.create_task(self._run(version))

    async def _run(self, version: str) -> None:
        params = {"watch": "1", "resourceVersion": version, "allowWatchBookmarks": "true"}
        async with self.api.stream(f"{V1}/aimclustermodels", params, read_timeout=None) as response:
            async for line in response.aiter_lines():
                if not line:
                    continue
                event = json.loads(line)
                obj = event["object"]
                name = obj.get("metadata", {}).get("name", "")
                if event["type"] == "BOOKMARK" or not name.startswith(self.prefix):
                    continue
                state = (obj.get("status") or {}).get("status")
                self.states[name] = state
                if state is not None:
                    self.first_status.setdefault(name, state)

    def ready(self) -> int:
        return sum(1 for s in self.states.values() if s == "Ready")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def py_spy_summary(path: Path, top: int = 15) -> dict[str, list[tuple[str, float]]]:
    """Top frames by own samples and by inclusive samples, from py-spy's collapsed output."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        samples += count
        frames = [
            f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].rstrip(")") if "(" in f else f
            for f in stack.split(";")
        ]
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    share = 100.0 / max(samples, 1)
    return {
        "own": [(f, round(n * share, 1)) for f, n in own.most_common(top)],
        "total": [(f, round(n * share, 1)) for f, n in total.most_common(top * 2)],
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    plane = ControlPlane()
    info = plane.start(crd_files=default_crd_files(), echo=False)
    fleet = RegistryFleet.start()
    assert fleet.registries is not None
    registries = fleet.registries
    kube = KubeCluster(info)
    api = admin_api(kube)
    operator: OperatorProcess | None = None
    spy: subprocess.Popen[bytes] | None = None
    try:
        ensure_namespace(info, OPERATOR_NAMESPACE)
        await bind_chart_rbac(api)
        endpoint = registries.noauth
        labels = {
            "com.amd.aim.model.canonicalName": "Bench/Model",
            "com.amd.aim.model.recommendedDeployments": json.dumps(deployments(args.deployments)),
        }
        with ImageBuilder(endpoint.url, ca_bundle=registries.ca_bundle) as builder:
            images = []
            for i in range(args.images):
                spec = ImageSpec(labels={**labels, "bench.index": str(i)})
                builder.push_image(f"bench/model-{i}", "1.0.0", spec)
                images.append(endpoint.image(f"bench/model-{i}", "1.0.0"))
        for gpu, device in (("MI300X", "74a1"), ("MI325X", "74a5")):
            await add_gpu_node(api, f"bench-{gpu.lower()}", device)

        floor_seconds = await floor(api, args.models, args.deployments, args.concurrency)

        operator = OperatorProcess(kube, registries.ca_bundle, args.concurrency)
        await operator.ready()
        if args.py_spy:
            spy = subprocess.Popen(  # noqa: ASYNC220 (started once, never waited on in the loop)
                ["uvx", "py-spy", "record", "--pid", str(operator.process.pid), "--format", "raw",
                 "--rate", "50", "--output", args.py_spy, "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        watch = ReadyWatch(api, "bench-")
        await watch.start()
        _, cpu_at_start = operator.usage()
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
        while watch.ready() < args.models:
            if time.monotonic() - start > args.timeout:
                raise SystemExit(f"not all models Ready after {args.timeout}s ({watch.ready()} are)")
            await asyncio.sleep(0.02)
        ready_seconds = time.monotonic() - start
        _, cpu_at_ready = operator.usage()
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        await asyncio.sleep(2)  # let in-flight template status updates land
        settled = operator_writes(kube.audit.path, mark)

        rest_mark = kube.audit.mark()
        await asyncio.sleep(args.rest)
        at_rest = operator_writes(kube.audit.path, rest_mark)
        registry_requests = await operator.registry_requests()
        peak_rss, cpu_total = operator.usage()
        await watch.stop()

        # A forced resync: a restarted operator reconciles every object from fresh caches.
        operator.stop()
        resync_mark = kube.audit.mark()
        operator = OperatorProcess(kube, registries.ca_bundle, args.concurrency)
        await operator.ready()
        await asyncio.sleep(5)
        resync = operator_writes(kube.audit.path, resync_mark)

        total = sum(settled.values())
        early = sum(1 for s in watch.first_status.values() if s != "Ready")
        result: dict[str, Any] = {
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
            "operatorPeakRssMiB": round(peak_rss, 1),
            "operatorCpuSecondsToReady": round(cpu_at_ready - cpu_at_start, 1),
            "operatorCpuSeconds": round(cpu_total, 1),
            "modelsWithAnEarlierStatus": early,
            "modelsWithAnEarlierStatusPercent": round(100.0 * early / args.models, 1),
        }
        if args.py_spy:
            result["pySpy"] = py_spy_summary(Path(args.py_spy))
        return result
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
        if operator is not None:
            operator.stop()
        await api.close()
        fleet.stop()
        plane.stop()


def table_row(result: dict[str, Any]) -> str:
    columns = [
        f"{result['models']} x {result['deploymentsPerImage']}",
        f"{result['secondsToAllReady']} s",
        f"{result['floorSeconds']} s",
        f"{result['ratioToFloor']}x",
        result["writesPerModel"],
        result["writesAtRest"],
        result["writesOnResync"],
        result["registryRequestsPerUniqueImage"],
        f"{result['operatorPeakRssMiB']} MiB",
        f"{result['operatorCpuSecondsToReady']} s",
        f"{result['modelsWithAnEarlierStatusPercent']} %",
    ]
    return "| " + " | ".join(str(c) for c in columns) + " |"


def plot(results: list[dict[str, Any]], path: Path) -> None:
    """Time to all Ready against N, operator and floor, one fresh control plane per point."""
    import matplotlib

    matplotlib.use("Agg")  # no display: draw straight to the file
    import matplotlib.pyplot as plt

    sizes = [r["models"] for r in results]
    figure, axes = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    axes.plot(sizes, [r["secondsToAllReady"] for r in results], "o-", label="aim-engine operator")
    axes.plot(sizes, [r["floorSeconds"] for r in results], "s--", label="floor (bare client, same writes)")
    for r in results:
        point = (r["models"], r["secondsToAllReady"])
        axes.annotate(f"{r['ratioToFloor']}x", point, textcoords="offset points", xytext=(-10, 8))
    axes.set_xlabel(f"cluster models ({results[0]['deploymentsPerImage']} deployments each)")
    axes.set_ylabel("seconds until every model is Ready")
    axes.set_title("Catalog scale: operator and floor on the same 2 cores")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


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
    parser.add_argument("--py-spy", metavar="FILE", help="sample the operator with py-spy into FILE")
    parser.add_argument(
        "--plot",
        metavar="N,N,...",
        help="run once per model count (a fresh control plane each) and draw docs/catalog-scale.png",
    )
    args = parser.parse_args()
    sizes = [int(n) for n in args.plot.split(",")] if args.plot else [args.models]
    results = []
    for size in sizes:
        args.models = size
        results.append(asyncio.run(main(args)))
        print(json.dumps(results[-1], indent=2), flush=True)
    for result in results:
        print(table_row(result))
    if args.plot:
        out = Path(__file__).resolve().parents[1] / "docs" / "catalog-scale.png"
        plot(results, out)
        (out.with_suffix(".json")).write_text(json.dumps(results, indent=2) + "\n")
        print(f"plot: {out}")
