"""Authentication against the real registries: anonymous, htpasswd Basic over HTTP and TLS, and
bearer tokens (authenticated, anonymous on public/*, denied on private repositories), token expiry
and renewal, and credentials that are wrong."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from aim_engine.registry.credentials import Credentials, Keychain, credentials_from_pull_secret
from aim_engine.registry.errors import RegistryAuthError, RegistryUnavailableError
from aim_engine.registry.inspector import ImageInspector
from tests.support.registries import Registries, RegistryEndpoint
from tests.support.registry_testing import (
    BASE_IMAGE,
    amd64,
    builder,
    credentials,
    settings,
    unique_repository,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def inspector(registries: Registries) -> AsyncIterator[ImageInspector]:
    async with ImageInspector(settings(registries)) as inspector:
        yield inspector


def push(registries: Registries, endpoint: RegistryEndpoint, repository: str, tag: str = "1.0") -> str:
    with builder(registries, endpoint) as b:
        return b.push_image(repository, tag, amd64()).digest


@pytest.mark.parametrize("mode", ["noauth", "basic", "tls", "token"])
async def test_each_auth_mode_inspects_an_image(
    registries: Registries, inspector: ImageInspector, mode: str
) -> None:
    endpoint: RegistryEndpoint = getattr(registries, mode)
    repository = unique_repository()
    digest = push(registries, endpoint, repository)
    result = await inspector.inspect(endpoint.image(repository, "1.0"), credentials(endpoint))
    assert result.digest == digest
    assert result.metadata.base_image_ref == BASE_IMAGE
    assert result.metadata.model is not None
    assert result.metadata.model.canonical_name == "meta-llama/Llama-3.1-8B-Instruct"


async def test_pull_secret_keychain_picks_the_registry(
    registries: Registries, inspector: ImageInspector
) -> None:
    import base64
    import json

    endpoint = registries.basic
    repository = unique_repository()
    digest = push(registries, endpoint, repository)
    auth = base64.b64encode(f"{endpoint.username}:{endpoint.password}".encode()).decode()
    document = {"auths": {"ghcr.io": {"auth": "eDp5"}, f"http://{endpoint.host}/v1/": {"auth": auth}}}
    secret = {".dockerconfigjson": base64.b64encode(json.dumps(document).encode()).decode()}
    keychain = credentials_from_pull_secret("ns/pull", "kubernetes.io/dockerconfigjson", secret)
    result = await inspector.inspect(endpoint.image(repository, "1.0"), keychain)
    assert result.digest == digest


async def test_basic_registry_without_credentials_is_an_auth_error(
    registries: Registries, inspector: ImageInspector
) -> None:
    repository = unique_repository()
    push(registries, registries.basic, repository)
    image = registries.basic.image(repository, "1.0")
    with pytest.raises(RegistryAuthError, match="requires authentication") as caught:
        await inspector.inspect(image)
    assert caught.value.image == image
    assert registries.basic.host in str(caught.value)
    # A keychain without an entry for this registry is anonymous too.
    with pytest.raises(RegistryAuthError):
        await inspector.inspect(image, Keychain.from_auths({"ghcr.io": {"auth": "eDp5"}}, source="s"))


@pytest.mark.parametrize("mode", ["basic", "tls", "token"])
async def test_wrong_password_is_an_auth_error_without_the_password(
    registries: Registries, inspector: ImageInspector, mode: str
) -> None:
    endpoint: RegistryEndpoint = getattr(registries, mode)
    repository = unique_repository()
    push(registries, endpoint, repository)
    wrong = Credentials(endpoint.username or "", "definitely-wrong-pw")
    with pytest.raises(RegistryAuthError) as caught:
        await inspector.inspect(endpoint.image(repository, "1.0"), wrong)
    message = str(caught.value)
    assert caught.value.reason == "RegistryAuthFailed"
    assert not caught.value.transient
    assert "definitely-wrong-pw" not in message
    assert endpoint.host in message and repository in message


async def test_token_anonymous_pull_on_public_repository(
    registries: Registries, inspector: ImageInspector
) -> None:
    repository = unique_repository("public")
    digest = push(registries, registries.token, repository)
    result = await inspector.inspect(registries.token.image(repository, "1.0"))
    assert result.digest == digest
    # 401 challenge, anonymous token, manifest, config.
    assert inspector.client.token_requests == 1


async def test_token_anonymous_pull_on_private_repository_is_denied(
    registries: Registries, inspector: ImageInspector
) -> None:
    repository = unique_repository("private")
    push(registries, registries.token, repository)
    with pytest.raises(RegistryAuthError, match="refused anonymous access"):
        await inspector.inspect(registries.token.image(repository, "1.0"))


async def test_tokens_are_never_shared_between_credentials(
    registries: Registries, inspector: ImageInspector
) -> None:
    """After an authenticated inspection, an anonymous caller must not ride on the cached token
    or on the cached resolution of the same reference."""
    endpoint = registries.token
    repository = unique_repository("private")
    push(registries, endpoint, repository)
    image = endpoint.image(repository, "1.0")
    await inspector.inspect(image, credentials(endpoint))
    with pytest.raises(RegistryAuthError):
        await inspector.inspect(image)
    with pytest.raises(RegistryAuthError):
        await inspector.inspect(image, Credentials(endpoint.username or "", "wrong"))


async def test_bearer_token_is_reused_within_its_lifetime(
    registries: Registries, inspector: ImageInspector
) -> None:
    endpoint = registries.token
    repository = unique_repository()
    with builder(registries, endpoint) as b:
        b.push_image(repository, "a", amd64())
        b.push_image(repository, "b", amd64())
    creds = credentials(endpoint)
    await inspector.inspect(endpoint.image(repository, "a"), creds)
    assert inspector.client.token_requests == 1
    before = inspector.request_count
    await inspector.inspect(endpoint.image(repository, "b"), creds)
    # The token is sent up front: one manifest GET, one config GET, no 401, no token request.
    assert inspector.client.token_requests == 1
    assert inspector.request_count - before == 2


async def test_expired_token_is_renewed(registries: Registries, inspector: ImageInspector) -> None:
    """The short-lived user's tokens say expires_in=2. distribution would still accept them for
    60 s past expiry, so the renewal seen here is the client honouring expires_in."""
    username, password, ttl = registries.short_lived
    endpoint = registries.token
    repository = unique_repository()
    with builder(registries, endpoint) as b:
        b.push_image(repository, "a", amd64())
        b.push_image(repository, "b", amd64())
        b.push_image(repository, "c", amd64())
    creds = Credentials(username, password)
    stats_before = registries.token_stats().get(username, 0)
    await inspector.inspect(endpoint.image(repository, "a"), creds)
    await inspector.inspect(endpoint.image(repository, "b"), creds)
    assert inspector.client.token_requests == 1  # still fresh
    await asyncio.sleep(ttl + 0.2)
    await inspector.inspect(endpoint.image(repository, "c"), creds)
    assert inspector.client.token_requests == 2
    assert registries.token_stats().get(username, 0) - stats_before == 2


async def test_rejected_cached_token_is_dropped_and_retried_once(
    registries: Registries, inspector: ImageInspector
) -> None:
    endpoint = registries.token
    repository = unique_repository()
    with builder(registries, endpoint) as b:
        b.push_image(repository, "a", amd64())
        b.push_image(repository, "b", amd64())
    creds = credentials(endpoint)
    await inspector.inspect(endpoint.image(repository, "a"), creds)
    # Replace every cached token by one the registry rejects (as after a key rotation).
    tokens = inspector.client._tokens._tokens
    assert tokens
    for key, (_, expires_at) in list(tokens.items()):
        tokens[key] = ("not-a-valid-token", expires_at)
    result = await inspector.inspect(endpoint.image(repository, "b"), creds)
    assert result.metadata.base_image_ref == BASE_IMAGE
    assert inspector.client.token_requests == 2
    assert all(token != "not-a-valid-token" for token, _ in tokens.values())


async def test_tls_registry_needs_the_ca(registries: Registries) -> None:
    repository = unique_repository()
    push(registries, registries.tls, repository)
    image = registries.tls.image(repository, "1.0")
    async with ImageInspector(settings(registries, ca_bundle=None)) as inspector:
        with pytest.raises(RegistryUnavailableError, match="certificate") as caught:
            await inspector.inspect(image, credentials(registries.tls))
        # No fallback to plain HTTP after a certificate failure, and no pointless retries.
        assert inspector.request_count == 1
    assert "aimpass" not in str(caught.value)
    # Listed as insecure, the same registry is reached over HTTPS without verification.
    async with ImageInspector(
        settings(registries, ca_bundle=None, insecure_registries=(registries.tls.host,))
    ) as inspector:
        result = await inspector.inspect(image, credentials(registries.tls))
        assert result.metadata.base_image_ref == BASE_IMAGE


async def test_plain_http_registry_is_reached_after_trying_https(
    registries: Registries, inspector: ImageInspector
) -> None:
    repository = unique_repository()
    push(registries, registries.noauth, repository)
    await inspector.inspect(registries.noauth.image(repository, "1.0"))
    # One failed HTTPS attempt, then HTTP for everything, remembered for later inspections.
    assert inspector.request_count == 1 + 2
    # Another caller (other credentials) re-resolves the tag over HTTP straight away: one GET;
    # the config is known by digest.
    await inspector.inspect(registries.noauth.image(repository, "1.0"), Credentials("x", "y"))
    assert inspector.request_count == 3 + 1
