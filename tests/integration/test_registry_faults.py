"""Registry faults beyond 5xx and 429 (test_registry_resilience.py), each injected by the loopback
proxy in front of the real registry: 401 and 403 on the manifest and on the blob, a body that
stalls halfway, a truncated config, an oversized manifest or config (reads are bounded), and a
certificate for another host. Each ends in its own error, retried only when retrying can help."""

from __future__ import annotations

import contextlib
import json
import ssl
from pathlib import Path

import pytest

from aim_engine.registry.errors import (
    InvalidMetadataError,
    RegistryAuthError,
    RegistryError,
    RegistryUnavailableError,
)
from aim_engine.registry.inspector import ImageInspector
from tests.support.fault_server import Fault, FaultServer, Rewrite
from tests.support.pki import issue_server_cert, new_ca, write_cert
from tests.support.registries import Registries
from tests.support.registry_testing import amd64, builder, settings, unique_repository

pytestmark = pytest.mark.integration

UNAUTHORIZED = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
DENIED = b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}'


def push_image(registries: Registries, spec_labels: dict[str, str] | None = None) -> str:
    repository = unique_repository()
    with builder(registries, registries.noauth) as b:
        b.push_image(repository, "1", amd64(spec_labels))
    return repository


@pytest.mark.parametrize(
    ("where", "status", "payload"),
    [
        ("/manifests/", 401, UNAUTHORIZED),
        ("/blobs/", 401, UNAUTHORIZED),
        ("/manifests/", 403, DENIED),
        ("/blobs/", 403, DENIED),
    ],
    ids=["401-manifest", "401-blob", "403-manifest", "403-blob"],
)
async def test_auth_refusals_fail_at_once_naming_what_was_refused(
    registries: Registries, where: str, status: int, payload: bytes
) -> None:
    repository = push_image(registries)
    with FaultServer(registries.noauth.url) as proxy:
        proxy.add(Fault(path=where, status=status, times=100, payload=payload))
        async with ImageInspector(settings(registries, retries=3)) as inspector:
            with pytest.raises(RegistryAuthError) as caught:
                await inspector.inspect(f"{proxy.host}/{repository}:1")
        # Retrying the same credentials cannot help: one request for what was refused.
        assert proxy.count("GET", where) == 1
    assert caught.value.reason == "RegistryAuthFailed"
    assert f"HTTP {status}" in str(caught.value)
    assert ("manifest" if where == "/manifests/" else "blob") in str(caught.value)
    assert not caught.value.transient


async def test_a_body_that_stalls_halfway_times_out_and_is_retried(registries: Registries) -> None:
    repository = push_image(registries)
    with FaultServer(registries.noauth.url) as proxy:
        proxy.add(Fault(path="/blobs/", stall_halfway=True, hang=2.0, times=100))
        async with ImageInspector(settings(registries, retries=1, read_timeout=0.3)) as inspector:
            with pytest.raises(RegistryUnavailableError) as caught:
                await inspector.inspect(f"{proxy.host}/{repository}:1")
        assert proxy.count("GET", "/blobs/") == 2  # the first attempt and one retry
    assert caught.value.transient and caught.value.reason == "RegistryUnavailable"


async def test_a_truncated_config_is_refused_by_its_digest(registries: Registries) -> None:
    repository = push_image(registries)
    with FaultServer(registries.noauth.url) as proxy:
        proxy.rewrites.append(Rewrite(path="/blobs/", body=lambda b: b[: len(b) // 2]))
        async with ImageInspector(settings(registries)) as inspector:
            with pytest.raises(RegistryError) as caught:
                await inspector.inspect(f"{proxy.host}/{repository}:1")
    assert "digest" in str(caught.value) or "size" in str(caught.value), caught.value


async def test_an_oversized_config_is_not_downloaded(registries: Registries) -> None:
    """The manifest declares the config's size: one bigger than the bound is refused unread."""
    repository = push_image(registries, {"padding": "x" * 200_000})
    with FaultServer(registries.noauth.url) as proxy:
        async with ImageInspector(settings(registries, max_config_bytes=64 * 1024)) as inspector:
            with pytest.raises(InvalidMetadataError, match="more than the 65536 allowed"):
                await inspector.inspect(f"{proxy.host}/{repository}:1")
        assert proxy.count("GET", "/blobs/") == 0


async def test_an_oversized_manifest_is_cut_off(registries: Registries) -> None:
    repository = push_image(registries)
    padded = {"annotations": {"padding": "x" * 100_000}}
    with FaultServer(registries.noauth.url) as proxy:
        proxy.rewrites.append(
            Rewrite(path="/manifests/", body=lambda b: json.dumps({**json.loads(b), **padded}).encode())
        )
        async with ImageInspector(settings(registries, max_manifest_bytes=16 * 1024)) as inspector:
            with pytest.raises(RegistryError, match="16384") as caught:
                await inspector.inspect(f"{proxy.host}/{repository}:1")
    assert not caught.value.transient


async def test_a_certificate_for_another_host_is_refused(registries: Registries, tmp_path: Path) -> None:
    """Trusted CA, wrong name: the certificate is for wrong.example, the registry is 127.0.0.1."""
    from cryptography import x509

    ca_key, ca_cert = new_ca("another test CA", days=1)
    key, cert = issue_server_cert(ca_key, ca_cert, "wrong.example", [x509.DNSName("wrong.example")], days=1)
    write_cert(tmp_path / "ca.crt", ca_cert)
    write_cert(tmp_path / "server.crt", cert)
    from cryptography.hazmat.primitives import serialization

    (tmp_path / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    repository = push_image(registries)
    with FaultServer(registries.noauth.url, tls=context) as proxy:
        host = proxy.host.replace("127.0.0.1", "localhost")  # not loopback-by-IP: no plain-HTTP fallback
        async with ImageInspector(settings(registries, ca_bundle=str(tmp_path / "ca.crt"))) as inspector:
            with pytest.raises(RegistryError) as caught:
                await inspector.inspect(f"{host}/{repository}:1")
    message = str(caught.value)
    assert "certificate" in message.lower(), message


async def test_a_connect_timeout_is_unavailable_and_retried(registries: Registries) -> None:
    """A listener whose accept queue is full drops new connections' SYNs: connects time out."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        held = []
        for _ in range(3):  # fill the queue (never accepted)
            client = socket.socket()
            client.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                client.connect(("127.0.0.1", port))
            held.append(client)
        try:
            async with ImageInspector(settings(registries, retries=1, connect_timeout=0.3)) as inspector:
                with pytest.raises(RegistryUnavailableError) as caught:
                    await inspector.inspect(f"127.0.0.1:{port}/aim/x:1")
                attempts = inspector.request_count
        finally:
            for client in held:
                client.close()
    assert caught.value.transient and "ConnectTimeout" in str(caught.value), caught.value
    # Two attempts over HTTPS: a connect timeout, unlike a refusal, is no reason to try plain HTTP.
    assert attempts == 2
