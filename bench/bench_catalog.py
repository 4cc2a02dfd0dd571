"""Catalog benchmark: N cluster models reach Ready on a real API server and a real registry.

    uv run python -m bench.bench_catalog --models 100 --deployments 6 --images 10

Starts the same control plane and registries as the test suite, pushes `--images` AIM images
with `--deployments` recommended deployments each, creates `--models` AIMClusterModels (spread
over the images), and measures:

* seconds until every model is Ready, against the floor: a bare client creating the same
  models and templates and writing their statuses, on the same API server in the same run;
* API writes by the operator (audit log), per model, while settling, at rest and on a forced
  resync of every object (both should be 0);
* registry requests per unique image digest (the operator's own counter, from /metrics): the
  requests a registry answered; attempts that got no answer (the HTTPS try at the plain-HTTP
  loopback registry, refused in the TLS handshake) are reported beside them;
* the operator's peak resident memory and CPU seconds: it runs as its own process
  (`aim-engine run`, as the chart runs it), with the chart's RBAC bound to its identity, so
  neither the harness nor the floor shares its memory or its event loop.

Readiness is followed with a watch (a LIST every few hundred milliseconds would load the API
server, which shares the two cores with the operator). With `--py-spy FILE` the operator phase
is sampled with py-spy (from PyPI, run with uvx) into collapsed stacks, and the top frames by
own and by total time are printed.

Results are printed as JSON and as a Markdown table row for docs/benchmarks.md.
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.aim_operator import OPERATOR_NAMESPACE
from tests.support.api import admin_api
from tests.support.kube import OPERATOR_USER, ControlPlane, KubeCluster, default_crd_files, ensure_namespace
from tests.support.oci_images import ImageBuilder, ImageSpec
from tests.support.operator_process import OperatorProcess, add_gpu_node, bind_chart_rbac, gpu_node_document
from tests.support.registries import RegistryFleet

from aim_engine.controllers.settings import ControllerSettings
from aim_engine.offline.render import render, without_keys
from aim_engine.registry.settings import RegistrySettings
from aim_engine.runtime.kube_api import KubeApi

V1 = "/apis/aim.eai.amd.com/v1alpha1"
GPUS = ["MI300X", "MI325X"]
TEMPLATE_METADATA = ("name", "labels", "annotations", "ownerReferences")  # what the operator applies
GPU_NODES = (("MI300X", "74a1"), ("MI325X", "74a5"))  # (model, AMD device id)


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


def catalog(prefix: str, models: int, images: list[str]) -> list[dict[str, Any]]:
    """The benchmark's cluster models, as the harness creates them."""
    return [
        {
            "apiVersion": "aim.eai.amd.com/v1alpha1",
            "kind": "AIMClusterModel",
            "metadata": {"name": f"{prefix}-{i}"},
            "spec": {"image": images[i % len(images)]},
        }
        for i in range(models)
    ]


def gpu_nodes() -> list[tuple[str, str]]:
    """(name, AMD device id) of the benchmark's GPU nodes."""
    return [(f"bench-{gpu.lower()}", device) for gpu, device in GPU_NODES]


@dataclass
class FloorModel:
    """One model as the floor writes it: the model, its templates, and the statuses of both,
    exactly what the operator writes for the same model (uids aside, which the floor fills in
    from the objects it creates)."""

    body: dict[str, Any]
    status: dict[str, Any]
    templates: list[tuple[dict[str, Any], dict[str, Any]]]  # (body, status)


async def operator_objects(
    prefix: str, models: int, images: list[str], ca_bundle: str | None
) -> list[FloorModel]:
    """What the operator makes of the catalog, from its own reconcilers run offline (`render`,
    inspecting the same images in the same registry): so the floor writes the same objects,
    byte for byte in size, and not smaller stand-ins that the API server handles faster."""
    nodes = [gpu_node_document(name, device) for name, device in gpu_nodes()]
    documents = [("bench", d) for d in [*nodes, *catalog(prefix, models, images)]]
    settings = ControllerSettings(registry=RegistrySettings(ca_bundle=ca_bundle))
    rendered = await render(documents, settings=settings)
    objects = rendered.store.objects()
    templates: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for obj in objects:
        if obj["kind"] == "AIMClusterServiceTemplate":
            meta = obj["metadata"]
            body = {
                "apiVersion": obj["apiVersion"],
                "kind": obj["kind"],
                "metadata": {k: meta[k] for k in TEMPLATE_METADATA if k in meta},
                "spec": obj["spec"],
            }
            templates.setdefault(obj["spec"]["modelName"], []).append((body, obj["status"]))
    statuses = {o["metadata"]["name"]: o.get("status") for o in objects if o["kind"] == "AIMClusterModel"}
    floor_models = []
    for model in catalog(prefix, models, images):
        name = model["metadata"]["name"]
        status = statuses.get(name) or {}
        if status.get("status") != "Ready":
            raise SystemExit(f"render did not make {name} Ready: {status}")
        floor_models.append(FloorModel(model, status, templates.get(name, [])))
    return floor_models


CreateTemplate = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
WriteStatus = Callable[[str, dict[str, Any], dict[str, Any]], Awaitable[None]]


async def floor(
    api: KubeApi,
    objects: list[FloorModel],
    concurrency: int,
    *,
    create_template: CreateTemplate | None = None,
    write_status: WriteStatus | None = None,
) -> float:
    """The fastest bare client writing what the operator writes, in the order it must: each
    model, its templates (owned by it: the uid is only known once the model exists), their
    statuses, the model's status. POST and PUT (the cheapest verbs for the API server), no
    watches, no reads."""
    sem = asyncio.Semaphore(concurrency)

    async def post_template(body: dict[str, Any]) -> dict[str, Any]:
        raw = await api.request("POST", f"{V1}/aimclusterservicetemplates", body=body)
        made: dict[str, Any] = json.loads(raw)
        return made

    async def put_status(path: str, made: dict[str, Any], status: dict[str, Any]) -> None:
        await api.request("PUT", path, body={**made, "status": status})

    create = create_template or post_template
    write = write_status or put_status

    async def one(model: FloorModel) -> None:
        async with sem:
            body = {**model.body, "metadata": {**model.body["metadata"], "labels": {"bench": "floor"}}}
            created = json.loads(await api.request("POST", f"{V1}/aimclustermodels", body=body))
            uid = created["metadata"]["uid"]
            for template, status in model.templates:
                meta = template["metadata"]
                owners = [{**ref, "uid": uid} for ref in meta.get("ownerReferences") or ()]
                labelled = {**meta.get("labels", {}), "bench": "floor"}
                metadata = {**meta, "labels": labelled, "ownerReferences": owners}
                made = await create({**template, "metadata": metadata})
                await write(f"{V1}/aimclusterservicetemplates/{meta['name']}/status", made, status)
            name = created["metadata"]["name"]
            await write(f"{V1}/aimclustermodels/{name}/status", created, model.status)

    start = time.monotonic()
    await asyncio.gather(*(one(m) for m in objects))
    return time.monotonic() - start


async def remove_floor(api: KubeApi) -> None:
    """Remove the floor's objects before the operator starts, so it has nothing of theirs to do."""
    for kind in ("aimclusterservicetemplates", "aimclustermodels"):
        await api.request("DELETE", f"{V1}/{kind}", params={"labelSelector": "bench=floor"})
    await asyncio.sleep(5)  # and let the garbage collector finish with them


def comparable(obj: dict[str, Any]) -> str:
    """An object's JSON without what differs between the operator's and the floor's for reasons
    of identity alone: what the API server assigns (uids, versions, times), the name's hash of
    its model's name, and the model's name itself (bench-N, floor-N: the same length)."""
    meta = {k: v for k, v in obj["metadata"].items() if k in TEMPLATE_METADATA}
    meta["name"] = meta["name"].rsplit("-", 1)[0]
    meta.get("labels", {}).pop("bench", None)
    kept = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": meta, "spec": obj["spec"]}
    kept["status"] = obj.get("status") or {}
    text = json.dumps(without_keys(kept, ("uid", "lastTransitionTime")), sort_keys=True)
    return text.replace("floor-", "bench-")


async def same_as_floor(api: KubeApi, objects: list[FloorModel]) -> tuple[int, int]:
    """(templates the operator made that equal the floor's, templates it made)."""
    floors = {comparable({**body, "status": status}) for model in objects for body, status in model.templates}
    listing = json.loads(await api.request("GET", f"{V1}/aimclusterservicetemplates"))
    made = [comparable(t) for t in listing["items"] if t["metadata"]["name"].startswith("bench-")]
    return sum(1 for t in made if t in floors), len(made)


def minimal(objects: list[FloorModel]) -> list[FloorModel]:
    """The same number of writes with nearly empty objects (no owners, no template status
    beyond Ready): how much of the floor is the size of the operator's objects."""
    out = []
    for model in objects:
        name = model.body["metadata"]["name"]
        templates = [
            (
                {
                    "apiVersion": t["apiVersion"],
                    "kind": t["kind"],
                    "metadata": {"name": t["metadata"]["name"]},
                    "spec": {"modelName": name},
                },
                {"status": "Ready"},
            )
            for t, _ in model.templates
        ]
        out.append(FloorModel(model.body, {"status": "Ready", "templateCount": len(templates)}, templates))
    return out


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}


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
        async with self.api.stream(f"{V1}/aimclustermodels", params, read_timeout=None) as lines:
            async for line in lines:
                if not line:
                    continue
                event = json.loads(line)
                obj = event["object"]
                name = obj.get("metadata", {}).get("name", "")
                if event["type"] == "BOOKMARK" or not name.startswith(self.prefix):
                    continue
                status = obj.get("status") or {}
                # Only what the operator wrote: the CRD shows Pending for a status nobody wrote.
                state = status.get("status") if status.get("observedGeneration") is not None else None
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
        for name, device in gpu_nodes():
            await add_gpu_node(api, name, device)

        # The floor's models are named floor-N: as long as bench-N, so its objects are as big.
        same = await operator_objects("floor", args.models, images, registries.ca_bundle)
        # Its own client, on the operator's transport (the cheapest per request measured, see
        # docs/benchmarks.md), with a timeout long enough for deleting thousands of templates in
        # one request.
        floor_api = admin_api(kube, timeout=300.0)
        try:
            plane_before, client_before = plane.cpu_seconds(), time.process_time()
            floor_seconds = await floor(floor_api, same, args.floor_concurrency)
            floor_cpu = cpu_spent(plane_before, plane.cpu_seconds())
            floor_cpu["client"] = time.process_time() - client_before
            await remove_floor(floor_api)
            floor_minimal_seconds = await floor(floor_api, minimal(same), args.floor_concurrency)
            await remove_floor(floor_api)
        finally:
            await floor_api.close()

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
        plane_before = plane.cpu_seconds()
        mark = kube.audit.mark()
        start = time.monotonic()
        sem = asyncio.Semaphore(args.concurrency)

        async def create(body: dict[str, Any]) -> None:
            async with sem:
                await api.request("POST", f"{V1}/aimclustermodels", body=body)

        await asyncio.gather(*(create(body) for body in catalog("bench", args.models, images)))
        while watch.ready() < args.models:
            if time.monotonic() - start > args.timeout:
                raise SystemExit(f"not all models Ready after {args.timeout}s ({watch.ready()} are)")
            await asyncio.sleep(0.02)
        ready_seconds = time.monotonic() - start
        _, cpu_at_ready = operator.usage()
        operator_cpu = cpu_spent(plane_before, plane.cpu_seconds())
        operator_cpu["client"] = cpu_at_ready - cpu_at_start
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        await asyncio.sleep(2)  # let in-flight template status updates land
        settled = operator_writes(kube.audit.path, mark)
        identical, templates_made = await same_as_floor(api, same)

        rest_mark = kube.audit.mark()
        await asyncio.sleep(args.rest)
        at_rest = operator_writes(kube.audit.path, rest_mark)
        registry_requests, registry_unanswered = await operator.registry_requests()
        reconciles = await operator.metric("aim_engine_reconcile_total", "controller")
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
            "floorConcurrency": args.floor_concurrency,
            "templatesIdenticalToFloor": f"{identical} of {templates_made}",
            "floorMinimalObjectsSeconds": round(floor_minimal_seconds, 2),
            "ratioToMinimalFloor": round(ready_seconds / floor_minimal_seconds, 2),
            "operatorWrites": total,
            "writesPerModel": round(total / args.models, 2),
            "writesByResource": dict(settled),
            "writesAtRest": sum(at_rest.values()),
            "restSeconds": args.rest,
            "writesOnResync": sum(resync.values()),
            "reconcilesPerModel": {k: round(v / args.models, 2) for k, v in sorted(reconciles.items())},
            "registryRequests": registry_requests,
            "registryAttemptsUnanswered": registry_unanswered,
            "registryRequestsPerUniqueImage": round(registry_requests / args.images, 2),
            "operatorPeakRssMiB": round(peak_rss, 1),
            "operatorCpuSecondsToReady": round(cpu_at_ready - cpu_at_start, 1),
            "operatorCpuSeconds": round(cpu_total, 1),
            "modelsWithAnEarlierStatus": early,
            "modelsWithAnEarlierStatusPercent": round(100.0 * early / args.models, 1),
            # Where the two cores went in each phase: the client is the floor's (this process)
            # or the operator; etcd and kube-apiserver serve both the same way.
            "cpuSecondsFloor": {k: round(v, 1) for k, v in floor_cpu.items()},
            "cpuSecondsOperator": {k: round(v, 1) for k, v in operator_cpu.items()},
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


TIMES = "\N{MULTIPLICATION SIGN}"  # docs/benchmarks.md's tables write sizes and ratios with it


def table_row(result: dict[str, Any]) -> str:
    """One row of the table in docs/benchmarks.md (the columns of its header there)."""
    reconciles = result.get("reconcilesPerModel", {})
    columns = [
        f"{result['models']:,} {TIMES} {result['deploymentsPerImage']} ({result['uniqueImages']})",
        f"{result['secondsToAllReady']} s",
        f"{result['floorSeconds']} s",
        f"{result['ratioToFloor']}{TIMES}",
        f"{result.get('floorMinimalObjectsSeconds', '-')} s",
        f"{result.get('ratioToMinimalFloor', '-')}{TIMES}",
        result["writesPerModel"],
        f"{result['writesAtRest']} in {result['restSeconds']:g} s",
        result["writesOnResync"],
        result["registryRequestsPerUniqueImage"],
        f"{result['operatorPeakRssMiB']:.0f} MiB",
        f"{result['operatorCpuSecondsToReady']} s",
        f"{result['modelsWithAnEarlierStatusPercent']:g} %",
        ", ".join(str(reconciles[k]) for k in ("clustermodel", "clusterservicetemplate") if k in reconciles),
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
    floor_seconds = [r["floorSeconds"] for r in results]
    axes.plot(sizes, floor_seconds, "s--", label="floor (bare client, the same objects)")
    if all("floorMinimalObjectsSeconds" in r for r in results):
        minimal_floor = [r["floorMinimalObjectsSeconds"] for r in results]
        axes.plot(sizes, minimal_floor, "^:", label="minimal floor (nearly empty objects)")
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
    parser.add_argument("--concurrency", type=int, default=8, help="operator workers, harness writers")
    parser.add_argument(
        "--floor-concurrency", type=int, default=32, help="the floor's writers (32 was its fastest here)"
    )
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
