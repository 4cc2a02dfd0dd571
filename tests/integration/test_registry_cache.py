"""Request economy against the real registry: N references to one digest, repeated and concurrent
inspections, re-validation after the TTL, bounded caches. Counts are HTTP requests the client
sent, read from its counter (and cross-checked with the Prometheus counter)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from aim_engine.registry.client import REQUESTS_TOTAL
from aim_engine.registry.credentials import Credentials
from aim_engine.registry.inspector import ImageInspector
from tests.support.registries import Registries
from tests.support.registry_testing import amd64, arm64, builder, credentials, settings, unique_repository

pytestmark = pytest.mark.integration

N = 6


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def warm(registries: Registries) -> AsyncIterator[ImageInspector]:
    """An inspector that has already talked to the no-auth registry (its URL scheme is known),
    so counts below are only those of the images under test."""
    async with ImageInspector(settings(registries)) as inspector:
        repository = unique_repository()
        with builder(registries, registries.noauth) as b:
            b.push_image(repository, "warm", amd64())
        await inspector.inspect(registries.noauth.image(repository, "warm"))
        yield inspector


def push_tags(registries: Registries, count: int, index: bool = True) -> tuple[str, list[str], str]:
    """One image (an index) under `count` tags; returns (repository, tags, digest)."""
    repository = unique_repository()
    tags = [f"0.{i}" for i in range(count)]
    with builder(registries, registries.noauth) as b:
        if index:
            digest = b.push_index(repository, tags[0], [amd64(), arm64()]).digest
        else:
            digest = b.push_image(repository, tags[0], amd64()).digest
        for tag in tags[1:]:
            b.tag(repository, tags[0], tag)
    return repository, tags, digest


async def test_n_tags_of_one_digest_cost_n_plus_2(registries: Registries, warm: ImageInspector) -> None:
    repository, tags, digest = push_tags(registries, N)
    before = warm.request_count
    results = [await warm.inspect(registries.noauth.image(repository, tag)) for tag in tags]
    assert warm.request_count - before == N + 2  # N tag GETs + platform manifest + config
    assert {r.index_digest for r in results} == {digest}
    assert len({r.digest for r in results}) == 1


async def test_concurrent_tags_of_one_digest_cost_n_plus_2(
    registries: Registries, warm: ImageInspector
) -> None:
    repository, tags, _ = push_tags(registries, N)
    before = warm.request_count
    results = await asyncio.gather(*(warm.inspect(registries.noauth.image(repository, t)) for t in tags))
    assert warm.request_count - before == N + 2
    assert len({r.digest for r in results}) == 1


async def test_repeat_within_ttl_costs_nothing(registries: Registries, warm: ImageInspector) -> None:
    repository, tags, _ = push_tags(registries, 1)
    image = registries.noauth.image(repository, tags[0])
    first = await warm.inspect(image)
    before = warm.request_count
    for _ in range(5):
        assert await warm.inspect(image) == first
    assert warm.request_count == before


async def test_concurrent_inspections_of_one_reference_share_the_work(
    registries: Registries, warm: ImageInspector
) -> None:
    repository, tags, _ = push_tags(registries, 1)
    image = registries.noauth.image(repository, tags[0])
    before = warm.request_count
    results = await asyncio.gather(*(warm.inspect(image) for _ in range(20)))
    assert warm.request_count - before == 3  # index, platform manifest, config: once
    assert all(r == results[0] for r in results)


async def test_after_the_ttl_one_head_revalidates(registries: Registries) -> None:
    clock = Clock()
    repository, tags, digest = push_tags(registries, 1)
    image = registries.noauth.image(repository, tags[0])
    async with ImageInspector(settings(registries, reference_ttl=60), clock=clock) as inspector:
        first = await inspector.inspect(image)
        before = inspector.request_count
        clock.now += 61
        assert await inspector.inspect(image) == first
        assert inspector.request_count - before == 1  # HEAD: digest unchanged
        clock.now += 30
        assert await inspector.inspect(image) == first
        assert inspector.request_count - before == 1  # fresh again after the HEAD

        # The tag moves to another image: the HEAD sees it and the new image is read.
        with builder(registries, registries.noauth) as b:
            moved = b.push_image(repository, tags[0], amd64())
        clock.now += 61
        result = await inspector.inspect(image)
        assert result.digest == moved.digest and result.index_digest is None
        assert result.digest != first.digest and first.index_digest == digest


async def test_same_digest_in_another_repository_costs_one_request(
    registries: Registries, warm: ImageInspector
) -> None:
    """A mirror of the same image (another registry or repository) needs its own manifest GET,
    which proves access, and nothing more."""
    spec = amd64()
    repository, mirror = unique_repository(), unique_repository("mirror")
    with builder(registries, registries.noauth) as b:
        digest = b.push_image(repository, "1", spec).digest
    with builder(registries, registries.basic) as b:
        assert b.push_image(mirror, "m", spec).digest == digest  # same bytes, same digest
    tags = ["1"]
    await warm.inspect(registries.noauth.image(repository, tags[0]))
    before = warm.request_count
    result = await warm.inspect(registries.basic.image(mirror, "m"), credentials(registries.basic))
    assert result.digest == digest
    # HTTPS probe to a new host, the 401 challenge, then the manifest with Basic; no config GET.
    assert warm.request_count - before == 3


async def test_caches_are_bounded(registries: Registries) -> None:
    images = []
    for _ in range(3):
        repository, tags, _ = push_tags(registries, 1, index=False)
        images.append(registries.noauth.image(repository, tags[0]))
    async with ImageInspector(settings(registries, cache_size=2)) as inspector:
        for image in images:
            await inspector.inspect(image)
        before = inspector.request_count
        await inspector.inspect(images[2])  # still cached
        assert inspector.request_count == before
        await inspector.inspect(images[0])  # evicted: read again
        assert inspector.request_count - before == 2


async def test_resolution_cache_is_per_credentials(registries: Registries, warm: ImageInspector) -> None:
    repository, tags, _ = push_tags(registries, 1)
    image = registries.noauth.image(repository, tags[0])
    await warm.inspect(image)
    before = warm.request_count
    await warm.inspect(image, Credentials("someone", "else"))
    assert warm.request_count - before == 1  # re-resolved for this caller; content reused


async def test_prometheus_counter_matches_the_client_counter(registries: Registries) -> None:
    repository, tags, _ = push_tags(registries, 2)

    def total() -> float:
        value = 0.0
        for metric in REQUESTS_TOTAL.collect():
            for s in metric.samples:
                if s.name.endswith("_total") and s.labels["registry"] == registries.noauth.host:
                    value += s.value
        return value

    async with ImageInspector(settings(registries)) as inspector:
        before = total()
        for tag in tags:
            await inspector.inspect(registries.noauth.image(repository, tag))
        # The Prometheus counter is process-wide; other tests of this worker ran before, so compare
        # increments. The client counts every attempt, the HTTPS probe included.
        assert total() - before == inspector.request_count
        assert inspector.request_count == 1 + 2 + 2


async def test_concurrent_first_requests_to_a_plain_http_registry_probe_https_once(
    registries: Registries,
) -> None:
    """The scheme of a loopback registry is found out by one request; the others wait for it
    instead of each trying HTTPS first (eight concurrent first inspections cost 8 extra requests
    before: the catalog benchmark's 2.8 requests per image with 10 images)."""
    repositories = [unique_repository() for _ in range(8)]
    with builder(registries, registries.noauth) as b:
        for repository in repositories:
            b.push_image(repository, "1", amd64())
    async with ImageInspector(settings(registries)) as inspector:
        await asyncio.gather(*(inspector.inspect(f"{registries.noauth.host}/{r}:1") for r in repositories))
        assert (
            inspector.request_count == 2 * len(repositories) + 1
        )  # manifest and config each, one HTTPS probe
