"""Retries and failures: 5xx and 429 (with Retry-After) are retried with backoff, then reported as
RegistryUnavailableError (transient); unreachable and hanging registries too. Faults are injected
by a loopback proxy in front of the real registry; everything else is the real registry's answer."""

from __future__ import annotations

import socket
import time

import pytest

from aim_engine.registry.client import REQUESTS_TOTAL
from aim_engine.registry.errors import RegistryUnavailableError
from aim_engine.registry.inspector import ImageInspector
from tests.support.fault_server import Fault, FaultServer
from tests.support.registries import Registries
from tests.support.registry_testing import BASE_IMAGE, amd64, arm64, builder, settings, unique_repository

pytestmark = pytest.mark.integration


def sample(host: str, outcome: str) -> float:
    for metric in REQUESTS_TOTAL.collect():
        for s in metric.samples:
            if s.name.endswith("_total") and s.labels == {"registry": host, "outcome": outcome}:
                return s.value
    return 0.0


def push_index(registries: Registries) -> str:
    repository = unique_repository()
    with builder(registries, registries.noauth) as b:
        b.push_index(repository, "1", [amd64(), arm64()])
    return repository


async def test_5xx_is_retried_until_it_works(registries: Registries) -> None:
    repository = push_index(registries)
    with FaultServer(registries.noauth.url) as proxy:
        proxy.add(Fault(path="/manifests/1$", status=503, times=2))
        proxy.add(Fault(path="/blobs/", status=502, times=1))
        async with ImageInspector(settings(registries, retries=3)) as inspector:
            result = await inspector.inspect(f"{proxy.host}/{repository}:1")
            assert result.metadata.base_image_ref == BASE_IMAGE
        assert proxy.count("GET", "/manifests/1$") == 3
        assert proxy.count("GET", "/blobs/") == 2
        assert sample(proxy.host, "5xx") == 3
        assert sample(proxy.host, "2xx") == 3  # index, platform manifest, config


async def test_5xx_after_the_retries_is_unavailable(registries: Registries) -> None:
    repository = push_index(registries)
    with FaultServer(registries.noauth.url) as proxy:
        proxy.add(Fault(path="/manifests/", status=500, times=100))
        async with ImageInspector(settings(registries, retries=2)) as inspector:
            with pytest.raises(
                RegistryUnavailableError, match=r"answered HTTP 500 after 3 attempts"
            ) as caught:
                await inspector.inspect(f"{proxy.host}/{repository}:1")
        assert proxy.count("GET", "/manifests/") == 3
    assert caught.value.transient is True
    assert caught.value.reason == "RegistryUnavailable"
    assert repository in str(caught.value)


async def test_429_honours_retry_after(registries: Registries) -> None:
    repository = push_index(registries)
    with FaultServer(registries.noauth.url) as proxy:
        proxy.add(Fault(path="/manifests/1$", status=429, times=1, headers={"Retry-After": "1"}))
        async with ImageInspector(settings(registries, retries=2)) as inspector:
            started = time.monotonic()
            await inspector.inspect(f"{proxy.host}/{repository}:1")
            waited = time.monotonic() - started
        # Our own backoff is at most 0.05 s in these settings: the second it took is Retry-After.
        assert waited >= 1.0
        assert proxy.count("GET", "/manifests/1$") == 2


async def test_429_with_a_long_retry_after_fails_fast_and_says_when(registries: Registries) -> None:
    repository = push_index(registries)
    with FaultServer(registries.noauth.url) as proxy:
        proxy.add(Fault(path="/manifests/", status=429, times=100, headers={"Retry-After": "3600"}))
        async with ImageInspector(settings(registries, retries=5)) as inspector:
            with pytest.raises(RegistryUnavailableError, match="rate limited") as caught:
                await inspector.inspect(f"{proxy.host}/{repository}:1")
        assert proxy.count("GET", "/manifests/") == 1
    assert caught.value.retry_after == 3600


async def test_429_after_the_retries_is_unavailable(registries: Registries) -> None:
    repository = push_index(registries)
    with FaultServer(registries.noauth.url) as proxy:
        proxy.add(Fault(path="/manifests/", status=429, times=100))
        async with ImageInspector(settings(registries, retries=1)) as inspector:
            with pytest.raises(RegistryUnavailableError, match=r"rate limited \(HTTP 429\) after 2 attempts"):
                await inspector.inspect(f"{proxy.host}/{repository}:1")


async def test_unreachable_registry(registries: Registries) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    image = f"127.0.0.1:{port}/aim/x:1"
    async with ImageInspector(settings(registries, retries=2)) as inspector:
        with pytest.raises(RegistryUnavailableError, match="cannot reach") as caught:
            await inspector.inspect(image)
        # Each attempt tries HTTPS then HTTP (the scheme is unknown until something answers).
        assert inspector.request_count == 3 * 2
    assert caught.value.transient
    assert image in str(caught.value)


async def test_hanging_registry_times_out(registries: Registries) -> None:
    repository = push_index(registries)
    with FaultServer(registries.noauth.url) as proxy:
        proxy.add(Fault(path="/manifests/", status=200, times=2, hang=1.0))
        async with ImageInspector(settings(registries, retries=1, read_timeout=0.3)) as inspector:
            with pytest.raises(RegistryUnavailableError, match="ReadTimeout"):
                await inspector.inspect(f"{proxy.host}/{repository}:1")
