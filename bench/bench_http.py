"""Client CPU per Kubernetes API request, for KubeApi's two transports, on a real kube-apiserver.

    uv run python -m bench.bench_http --requests 4000 --concurrency 32

Starts the test suite's control plane and sends the same GET (a namespace, about 400 bytes)
`--requests` times with `--concurrency` in flight, over the operator's transport (aiohttp) and
over httpx2 (HTTP/1.1, the pool lightkube's clients use), and prints this process's CPU
milliseconds per request and the requests per second. The API server shares the machine, so
requests per second depend on both; the CPU per request is the client's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import time
from collections.abc import Awaitable, Callable

import httpx2
from tests.support.api import admin_api
from tests.support.kube import ControlPlane, KubeCluster

from aim_engine.runtime.kube_api import KubeApi
from aim_engine.runtime.transport import HttpxTransport

PATH = "/api/v1/namespaces/default"


async def measure(send: Callable[[], Awaitable[bytes]], requests: int, concurrency: int) -> dict[str, float]:
    limit = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with limit:
            await send()

    await asyncio.gather(*(one() for _ in range(min(200, requests))))  # connections and caches warm
    wall, cpu = time.monotonic(), time.process_time()
    await asyncio.gather(*(one() for _ in range(requests)))
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    return {"cpuMsPerRequest": round(1000 * cpu / requests, 3), "requestsPerSecond": round(requests / wall)}


async def main(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    plane = ControlPlane()
    info = plane.start(crd_files=[], echo=False)
    try:
        kube = KubeCluster(info)
        results = {}
        api = admin_api(kube)
        try:
            results["aiohttp"] = await measure(
                lambda: api.request("GET", PATH), args.requests, args.concurrency
            )
        finally:
            await api.close()
        client = httpx2.AsyncClient(
            base_url=kube.server,
            verify=ssl.create_default_context(cafile=str(kube.ca_file)),
            headers={"Authorization": f"Bearer {kube.admin_token}"},
            limits=httpx2.Limits(max_connections=128, max_keepalive_connections=128),
            trust_env=False,
        )
        httpx_api = KubeApi(HttpxTransport(client))
        try:
            results["httpx2 HTTP/1.1"] = await measure(
                lambda: httpx_api.request("GET", PATH), args.requests, args.concurrency
            )
        finally:
            await httpx_api.close()
        return results
    finally:
        plane.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
