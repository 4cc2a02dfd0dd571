"""One bad registry is not hammered, and every model recovers by itself once its fault clears.

Five models, each behind its own fault proxy in front of the real registry (503, 429 without and
with `Retry-After`, 401, 404), with the operator running: after a window of failures each model
shows its documented reason, the requests each proxy saw give the retry rate against that
registry, and when the faults are cleared every model becomes Ready without being touched."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from aim_engine.runtime.kube_api import KubeApi
from tests.support.aim_api import V1, condition, create, model_body, status_of
from tests.support.aim_operator import GROUP, RunningOperator
from tests.support.catalog_steps import aim_labels, push, wait_model
from tests.support.fault_server import Fault, FaultServer
from tests.support.registries import Registries

pytestmark = [
    pytest.mark.integration,
    pytest.mark.xdist_group(GROUP),
    pytest.mark.slow,
    pytest.mark.timeout(400),
]

WINDOW = 30.0
NOT_FOUND = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
UNAUTHORIZED = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
FAULTS: dict[str, tuple[Fault, str, str]] = {
    # name: (fault, Ready reason, model status)
    "http-503": (Fault(path="/manifests/", status=503, times=10**6), "RegistryUnavailable", "Degraded"),
    "http-429": (Fault(path="/manifests/", status=429, times=10**6), "RegistryUnavailable", "Degraded"),
    "http-429-retry-after": (
        Fault(path="/manifests/", status=429, times=10**6, headers={"Retry-After": "20"}),
        "RegistryUnavailable",
        "Degraded",
    ),
    "http-401": (
        Fault(path="/manifests/", status=401, times=10**6, payload=UNAUTHORIZED),
        "RegistryAuthFailed",
        "Failed",
    ),
    "http-404": (
        Fault(path="/manifests/", status=404, times=10**6, payload=NOT_FOUND),
        "ImageNotFound",
        "Failed",
    ),
}


async def test_faulty_registries_are_retried_gently_and_recovered_from(
    operator: RunningOperator, api: KubeApi, registries: Registries, namespace: str
) -> None:
    image = push(registries.noauth, registries, f"aim/{namespace}", "1.0", aim_labels(deployments=[]))
    repository_and_tag = image.split("/", 1)[1]
    with contextlib.ExitStack() as stack:
        proxies = {name: stack.enter_context(FaultServer(registries.noauth.url)) for name in FAULTS}
        for name, (fault, _, _) in FAULTS.items():
            proxies[name].add(fault)
            spec = {"image": f"{proxies[name].host}/{repository_and_tag}"}
            await create(api, f"{V1}/namespaces/{namespace}/aimmodels", model_body("AIMModel", name, spec))
        began = time.monotonic()
        for name, (_, reason, status) in FAULTS.items():
            model = await wait_model(
                api,
                f"{V1}/namespaces/{namespace}/aimmodels/{name}",
                lambda m, r=reason: condition(m, "Ready").get("reason") == r,
                what=f"{name}: {reason}",
            )
            assert status_of(model) == status, (name, model.get("status"))
        await asyncio.sleep(max(0.0, WINDOW - (time.monotonic() - began)))
        elapsed = time.monotonic() - began
        rates = {name: proxy.count("GET", "/manifests/") * 60 / elapsed for name, proxy in proxies.items()}
        print(
            "\nrequests per minute against a faulty registry: "
            + ", ".join(f"{k} {v:.0f}" for k, v in rates.items())
        )
        for name, rate in rates.items():
            # Transient faults back off exponentially (2 s, 4 s, ... 5 min), the rest are retried
            # every 30 s ... 10 min: never a hot loop.
            assert rate <= 30, f"{name}: {rate:.0f} requests per minute"

        for proxy in proxies.values():
            with proxy.lock:
                proxy.faults.clear()
        recovered: dict[str, Any] = {}
        for name in FAULTS:
            recovered[name] = await wait_model(
                api,
                f"{V1}/namespaces/{namespace}/aimmodels/{name}",
                lambda m: status_of(m) == "Ready",
                within=120,
                what=f"{name} recovered by itself",
            )
    assert all(condition(m, "ImageMetadataReady")["status"] == "True" for m in recovered.values())
