"""The registry test fixture fails loudly (never skips) when docker-registry is missing."""

from __future__ import annotations

import shutil

import pytest

from tests.support.registries import Registries, RegistryEndpoint, RegistryFleet


def test_missing_binary_names_the_install_script(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which

    def which(name: str) -> str | None:
        return None if name == "docker-registry" else real_which(name)

    monkeypatch.setattr(shutil, "which", which)
    with pytest.raises(RuntimeError, match=r"docker-registry.*scripts/install-test-deps"):
        RegistryFleet.start()


def test_endpoints_survive_the_trip_to_the_workers() -> None:
    endpoint = RegistryEndpoint("basic", "127.0.0.1:5001", "http", "u", "p")
    registries = Registries(
        noauth=RegistryEndpoint("noauth", "127.0.0.1:5000", "http"),
        basic=endpoint,
        tls=RegistryEndpoint("tls", "127.0.0.1:5002", "https", "u", "p"),
        token=RegistryEndpoint("token", "127.0.0.1:5003", "https", "u", "p"),
        ca_bundle="/tmp/ca.crt",
        token_url="https://127.0.0.1:5004",
    )
    assert Registries.from_json(registries.to_json()) == registries
    assert endpoint.image("a/b", "1") == "127.0.0.1:5001/a/b:1"
    assert endpoint.url == "http://127.0.0.1:5001"
