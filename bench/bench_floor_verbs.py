"""What the operator's protocol costs the API server: the catalog floor with the operator's verbs.

    uv run python -m bench.bench_floor_verbs --models 1000 --variants p,s,m,w,smw

The catalog benchmark's floor writes with POST and PUT and opens no watch: the cheapest a client
can be. The operator cannot be that client: it creates and updates templates by server-side apply
(ownership by field manager), writes statuses as merge patches with a resourceVersion
precondition, and keeps informers whose watches bring every one of its writes back to it. This
benchmark runs the same floor (the same objects, rendered by the operator's own reconcilers) on
one control plane several times, once per variant, each a combination of:

* `s`: templates created by server-side apply (`fieldManager=aim-engine`, `force`) instead of POST;
* `m`: statuses written as merge patches with a resourceVersion instead of PUT;
* `w`: watches on models and templates open while it writes, read and decoded as an informer
  reads them;

and `p` for none of them (the catalog floor itself; run it first and last to see the spread).
It prints seconds and the CPU seconds of etcd, kube-apiserver, kube-controller-manager and the
client for each, so the difference between the floor and the operator can be split into what
the API server does for the operator's verbs and what the operator itself spends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from tests.support.api import admin_api
from tests.support.kube import ControlPlane, KubeCluster, default_crd_files
from tests.support.oci_images import ImageBuilder, ImageSpec
from tests.support.registries import RegistryFleet

from aim_engine.runtime.kube_api import APPLY_PATCH, MERGE_PATCH, KubeApi
from aim_engine.runtime.store import FIELD_MANAGER
from bench.bench_catalog import V1, FloorModel, cpu_spent, deployments, floor, operator_objects, remove_floor

VARIANT_LETTERS = frozenset("psmw")


@contextlib.asynccontextmanager
async def watching(api: KubeApi, enabled: bool) -> AsyncIterator[None]:
    """Watches on the two kinds the floor writes, decoded line by line, for as long as it runs."""

    async def follow(resource: str) -> None:
        listing = json.loads(await api.request("GET", f"{V1}/{resource}", params={"limit": "1"}))
        params = {
            "watch": "1",
            "allowWatchBookmarks": "true",
            "resourceVersion": listing["metadata"]["resourceVersion"],
        }
        async with api.stream(f"{V1}/{resource}", params, read_timeout=None) as lines:
            async for line in lines:
                if line:
                    msgspec.json.decode(line)

    tasks = (
        [asyncio.create_task(follow(r)) for r in ("aimclustermodels", "aimclusterservicetemplates")]
        if enabled
        else []
    )
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def floor_with(api: KubeApi, objects: list[FloorModel], variant: str, concurrency: int) -> float:
    """The catalog floor (bench_catalog.floor), its template creates and status writes made
    with the operator's verbs where `variant` says so."""

    async def write_status(path: str, made: dict[str, Any], status: dict[str, Any]) -> None:
        if "m" in variant:
            patch = {"metadata": {"resourceVersion": made["metadata"]["resourceVersion"]}, "status": status}
            params = {"fieldManager": FIELD_MANAGER}
            await api.request("PATCH", path, params=params, body=patch, content_type=MERGE_PATCH)
        else:
            await api.request("PUT", path, body={**made, "status": status})

    async def create_template(body: dict[str, Any]) -> dict[str, Any]:
        if "s" in variant:
            path = f"{V1}/aimclusterservicetemplates/{body['metadata']['name']}"
            params = {"fieldManager": FIELD_MANAGER, "force": "true"}
            raw = await api.request("PATCH", path, params=params, body=body, content_type=APPLY_PATCH)
        else:
            raw = await api.request("POST", f"{V1}/aimclusterservicetemplates", body=body)
        made: dict[str, Any] = json.loads(raw)
        return made

    async with watching(api, "w" in variant):
        return await floor(
            api, objects, concurrency, create_template=create_template, write_status=write_status
        )


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    plane = ControlPlane()
    info = plane.start(crd_files=default_crd_files(), echo=False)
    fleet = RegistryFleet.start()
    assert fleet.registries is not None
    registries = fleet.registries
    api = admin_api(KubeCluster(info), timeout=300.0)
    try:
        labels = {
            "com.amd.aim.model.canonicalName": "Bench/Model",
            "com.amd.aim.model.recommendedDeployments": json.dumps(deployments(args.deployments)),
        }
        endpoint = registries.noauth
        images = []
        with ImageBuilder(endpoint.url, ca_bundle=registries.ca_bundle) as builder:
            for i in range(args.images):
                builder.push_image(
                    f"bench/model-{i}", "1.0.0", ImageSpec(labels={**labels, "bench.index": str(i)})
                )
                images.append(endpoint.image(f"bench/model-{i}", "1.0.0"))
        objects = await operator_objects("floor", args.models, images, registries.ca_bundle)
        results = []
        for variant in args.variants:
            before, client_before = plane.cpu_seconds(), time.process_time()
            seconds = await floor_with(api, objects, variant, args.concurrency)
            cpu = cpu_spent(before, plane.cpu_seconds())
            cpu["client"] = time.process_time() - client_before
            result = {
                "variant": variant,
                "seconds": round(seconds, 2),
                "cpuSeconds": {k: round(v, 1) for k, v in cpu.items()},
            }
            print(json.dumps(result), flush=True)
            results.append(result)
            await remove_floor(api)
        return results
    finally:
        await api.close()
        fleet.stop()
        plane.stop()


def variants(text: str) -> list[str]:
    out = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in out if not set(v) <= VARIANT_LETTERS]
    if bad:
        raise argparse.ArgumentTypeError(
            f"unknown variant {bad[0]!r}: combine the letters s, m, w (or p alone)"
        )
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=300)
    parser.add_argument("--deployments", type=int, default=6)
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=32, help="writers (the catalog floor's 32)")
    parser.add_argument("--variants", type=variants, default=variants("p,s,m,w,smw,p"))
    asyncio.run(main(parser.parse_args()))
