"""Pure pieces of the registry client: challenges, token cache, manifests, platforms, caches."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from aim_engine.registry.auth import TokenCache, TokenKey, parse_challenges
from aim_engine.registry.cache import LruCache, SingleFlight
from aim_engine.registry.errors import (
    ImageNotFoundError,
    InvalidMetadataError,
    InvalidReferenceError,
    PullSecretError,
    RegistryAuthError,
    RegistryError,
    RegistryUnavailableError,
)
from aim_engine.registry.manifest import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    ImageIndex,
    ImageManifest,
    Platform,
    compute_digest,
    parse_config,
    parse_manifest,
    select_platform,
    verify_digest,
)
from aim_engine.registry.settings import RegistrySettings

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


# ------------------------------------------------------------------------------ challenges


def test_bearer_challenge_of_docker_hub() -> None:
    (challenge,) = parse_challenges(
        [
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/x:pull"'
        ]
    )
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.docker.io/token"
    assert challenge.service == "registry.docker.io"
    assert challenge.scope == "repository:library/x:pull"


def test_challenge_parsing_is_generic() -> None:
    challenges = parse_challenges(
        [
            "BASIC realm=unquoted-realm",
            'Basic realm="a, with comma", Bearer REALM="https://t/x", error="insufficient_scope"',
            'bearer realm="r\\"q"',
            "Bearer",
        ]
    )
    assert [c.scheme for c in challenges] == ["basic", "basic", "bearer", "bearer", "bearer"]
    assert challenges[0].realm == "unquoted-realm"
    assert challenges[1].realm == "a, with comma"
    assert challenges[2].realm == "https://t/x"
    assert challenges[2].params["error"] == "insufficient_scope"
    assert challenges[2].scope is None  # scope may be missing
    assert challenges[3].realm == 'r"q'
    assert challenges[4].params == {}
    assert parse_challenges([""]) == []


def test_token_cache_expires_with_margin() -> None:
    now = [1000.0]
    cache = TokenCache(margin=10, clock=lambda: now[0])
    key = TokenKey("r", "realm", "svc", "repository:a:pull", "anonymous")
    cache.put(key, "t1", 300)
    now[0] += 289
    assert cache.get(key) == "t1"
    now[0] += 1  # 290 s = 300 - margin
    assert cache.get(key) is None


def test_token_cache_short_and_missing_lifetimes() -> None:
    now = [0.0]
    cache = TokenCache(margin=10, clock=lambda: now[0])
    short = TokenKey("r", "realm", "svc", "s1", "anonymous")
    default = TokenKey("r", "realm", "svc", "s2", "anonymous")
    cache.put(short, "t", 2)  # margin capped at half the lifetime
    cache.put(default, "t", None)  # the token spec's default: 60 s
    now[0] = 0.9
    assert cache.get(short) == "t"
    now[0] = 1.0
    assert cache.get(short) is None
    now[0] = 49.9
    assert cache.get(default) == "t"
    now[0] = 50.0
    assert cache.get(default) is None


def test_token_cache_separates_credentials_and_is_bounded() -> None:
    cache = TokenCache(max_entries=2)
    anonymous = TokenKey("r", "realm", "svc", "s", "anonymous")
    alice = TokenKey("r", "realm", "svc", "s", "alice-fingerprint")
    cache.put(alice, "alice-token", 300)
    assert cache.get(anonymous) is None
    cache.put(anonymous, "anon-token", 300)
    cache.put(TokenKey("r", "realm", "svc", "other", "anonymous"), "x", 300)
    assert len(cache) == 2
    assert cache.get(alice) is None  # least recently used went first
    cache.discard(anonymous)
    assert cache.get(anonymous) is None


# ------------------------------------------------------------------------------- manifests


def _manifest(
    media_type: str | None = OCI_MANIFEST, config_type: str = "application/vnd.oci.image.config.v1+json"
) -> bytes:
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "config": {"mediaType": config_type, "digest": D1, "size": 10},
        "layers": [],
    }
    if media_type:
        document["mediaType"] = media_type
    return json.dumps(document).encode()


def _index(media_type: str | None = OCI_INDEX, entries: list[dict[str, Any]] | None = None) -> bytes:
    document: dict[str, Any] = {"schemaVersion": 2, "manifests": entries or []}
    if media_type:
        document["mediaType"] = media_type
    return json.dumps(document).encode()


def _entry(
    digest: str, os: str, arch: str, variant: str | None = None, media_type: str = OCI_MANIFEST
) -> dict[str, Any]:
    platform = {"os": os, "architecture": arch}
    if variant:
        platform["variant"] = variant
    return {"mediaType": media_type, "digest": digest, "size": 100, "platform": platform}


@pytest.mark.parametrize("media_type", [OCI_MANIFEST, DOCKER_MANIFEST])
def test_manifest_media_type_from_body(media_type: str) -> None:
    parsed = parse_manifest(_manifest(media_type), "application/octet-stream")
    assert isinstance(parsed, ImageManifest)
    assert parsed.media_type == media_type
    assert parsed.config.digest == D1


def test_missing_media_type_falls_back_to_content_type_then_shape() -> None:
    parsed = parse_manifest(_manifest(None), f"{DOCKER_MANIFEST}; charset=utf-8")
    assert parsed.media_type == DOCKER_MANIFEST
    assert parse_manifest(_manifest(None), None).media_type == OCI_MANIFEST
    index = parse_manifest(_index(None), DOCKER_LIST)
    assert isinstance(index, ImageIndex) and index.media_type == DOCKER_LIST
    assert isinstance(parse_manifest(_index(None), "application/json"), ImageIndex)


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"{", None, "not valid JSON"),
        (b"[]", None, "not a JSON object"),
        (b'{"schemaVersion": 1, "fsLayers": []}', None, "schema 1"),
        (b'{"schemaVersion": 2}', "text/plain", "unsupported manifest media type"),
        (_manifest(OCI_MANIFEST, "application/vnd.cncf.helm.config.v1+json"), None, "not a container image"),
        (
            json.dumps({"schemaVersion": 2, "config": {"digest": "sha256:abc", "size": 1}}).encode(),
            None,
            "invalid",
        ),
        (
            json.dumps({"schemaVersion": 2, "config": {"digest": D1, "size": -1}}).encode(),
            None,
            "invalid size",
        ),
        (
            json.dumps({"schemaVersion": 3, "config": {"digest": D1, "size": 1}}).encode(),
            None,
            "schemaVersion",
        ),
        (
            json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": {}}).encode(),
            None,
            "no manifests",
        ),
    ],
)
def test_bad_manifests(body: bytes, content_type: str | None, message: str) -> None:
    with pytest.raises(InvalidMetadataError, match=message):
        parse_manifest(body, content_type)


def test_platform_selection() -> None:
    index = parse_manifest(
        _index(
            entries=[
                _entry(D3, "unknown", "unknown", media_type=OCI_MANIFEST),
                _entry(D2, "linux", "arm64", "v8"),
                _entry(D1, "linux", "amd64"),
            ]
        ),
        None,
    )
    assert isinstance(index, ImageIndex)
    entry = select_platform(index, Platform.parse("linux/amd64"))
    assert entry is not None and entry.digest == D1
    entry = select_platform(index, Platform.parse("linux/arm64"))
    assert entry is not None and entry.digest == D2
    entry = select_platform(index, Platform.parse("linux/arm64/v8"))
    assert entry is not None and entry.digest == D2
    assert select_platform(index, Platform.parse("linux/arm64/v7")) is None
    assert select_platform(index, Platform.parse("windows/amd64")) is None


def test_arm64_without_variant_matches_v8() -> None:
    index = parse_manifest(_index(entries=[_entry(D2, "linux", "arm64")]), None)
    assert isinstance(index, ImageIndex)
    assert select_platform(index, Platform.parse("linux/arm64/v8")) is not None


def test_platform_parse() -> None:
    assert str(Platform.parse("Linux/AMD64")) == "linux/amd64"
    assert Platform.parse("linux/arm/v7") == Platform("linux", "arm", "v7")
    for bad in ("linux", "linux/", "a/b/c/d", ""):
        with pytest.raises(ValueError, match="invalid platform"):
            Platform.parse(bad)


def test_config_parsing() -> None:
    body = json.dumps(
        {
            "architecture": "arm64",
            "os": "linux",
            "variant": "v8",
            "config": {"Labels": {"a": "b"}, "Env": ["X=1"]},
        }
    ).encode()
    config = parse_config(body)
    assert config.labels == {"a": "b"}
    assert config.env == ["X=1"]
    assert config.platform == Platform("linux", "arm64", "v8")
    empty = parse_config(b'{"config": {"Labels": null, "Env": null}}')
    assert empty.labels == {} and empty.env == [] and empty.platform is None
    assert parse_config(b"{}").labels == {}
    with pytest.raises(InvalidMetadataError, match="Labels"):
        parse_config(b'{"config": {"Labels": {"a": 1}}}')
    with pytest.raises(InvalidMetadataError, match="Env"):
        parse_config(b'{"config": {"Env": "X=1"}}')


def test_digest_verification() -> None:
    data = b"hello"
    digest = compute_digest(data)
    verify_digest(data, digest, what="blob")
    with pytest.raises(InvalidMetadataError, match="blob digest mismatch"):
        verify_digest(b"hellO", digest, what="blob")
    assert compute_digest(data, "sha512").startswith("sha512:")


# ---------------------------------------------------------------------------------- errors


def test_error_classes_have_stable_reasons_and_transience() -> None:
    expected = {
        RegistryAuthError: ("RegistryAuthFailed", False),
        ImageNotFoundError: ("ImageNotFound", False),
        RegistryUnavailableError: ("RegistryUnavailable", True),
        InvalidMetadataError: ("InvalidImageMetadata", False),
        InvalidReferenceError: ("InvalidImageReference", False),
        PullSecretError: ("InvalidPullSecret", False),
    }
    for cls, (reason, transient) in expected.items():
        assert issubclass(cls, RegistryError)
        assert (cls.reason, cls.transient) == (reason, transient)


def test_error_message_is_one_line_with_image_and_registry() -> None:
    error = ImageNotFoundError("tag '1'\nnot found", what="tag").with_context(
        image="ghcr.io/a/b:1", registry="ghcr.io"
    )
    assert str(error) == "image ghcr.io/a/b:1 (registry ghcr.io): tag '1' not found"
    assert error.what == "tag"


# ---------------------------------------------------------------------------------- caches


def test_lru_cache_bound_and_recency() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert "b" not in cache and "a" in cache and "c" in cache
    assert len(cache) == 2


async def test_single_flight_shares_one_task() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    calls = 0
    gate = asyncio.Event()

    async def work() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return 42

    waiters = [asyncio.create_task(flights.run("k", work)) for _ in range(5)]
    await asyncio.sleep(0)
    assert len(flights) == 1
    gate.set()
    assert await asyncio.gather(*waiters) == [42] * 5
    assert calls == 1
    assert len(flights) == 0


async def test_single_flight_cancelled_waiter_does_not_cancel_the_others() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    gate = asyncio.Event()

    async def work() -> int:
        await gate.wait()
        return 7

    first = asyncio.create_task(flights.run("k", work))
    second = asyncio.create_task(flights.run("k", work))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == 7
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_single_flight_propagates_errors_to_every_waiter() -> None:
    flights: SingleFlight[str, int] = SingleFlight()

    async def work() -> int:
        await asyncio.sleep(0)
        raise RegistryAuthError("nope")

    results = await asyncio.gather(flights.run("k", work), flights.run("k", work), return_exceptions=True)
    assert all(isinstance(r, RegistryAuthError) for r in results)


# -------------------------------------------------------------------------------- settings


def test_settings_insecure_and_plain_http() -> None:
    settings = RegistrySettings(insecure_registries=("Registry.Local:5000", " ", "index.docker.io"))
    assert settings.insecure_registries == ("registry.local:5000", "docker.io")
    assert settings.is_insecure("registry.local:5000")
    assert settings.allows_plain_http("registry.local:5000")
    assert settings.allows_plain_http("127.0.0.1:5000")
    assert settings.allows_plain_http("localhost")
    assert not settings.allows_plain_http("ghcr.io")
    assert str(RegistrySettings().platform) == "linux/amd64"
    with pytest.raises(ValueError, match="retries"):
        RegistrySettings(retries=-1)
