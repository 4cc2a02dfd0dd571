"""Pull secrets and Docker config files → credentials per registry."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from aim_engine.api.image_reference import parse_reference
from aim_engine.registry.credentials import (
    Credentials,
    Keychain,
    credentials_from_pull_secret,
    default_docker_config_path,
    load_docker_config,
    parse_registry_key,
)
from aim_engine.registry.errors import PullSecretError


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def dockerconfigjson(auths: dict[str, Any]) -> dict[str, str]:
    return {".dockerconfigjson": b64(json.dumps({"auths": auths}))}


def lookup(keychain: Keychain, image: str) -> Credentials | None:
    return keychain.lookup(parse_reference(image))


def test_dockerconfigjson_with_auth_field() -> None:
    data = dockerconfigjson({"ghcr.io": {"auth": b64("bob:s3cr:et")}})
    keychain = credentials_from_pull_secret("ns/pull", "kubernetes.io/dockerconfigjson", data)
    assert lookup(keychain, "ghcr.io/org/img:1") == Credentials("bob", "s3cr:et")
    assert lookup(keychain, "quay.io/org/img:1") is None


def test_dockerconfigjson_with_username_and_password() -> None:
    data = dockerconfigjson({"registry.example.com:5000": {"username": "u", "password": "p", "email": "x@y"}})
    keychain = credentials_from_pull_secret("s", "kubernetes.io/dockerconfigjson", data)
    assert lookup(keychain, "registry.example.com:5000/a/b") == Credentials("u", "p")
    # The port is part of the registry's identity.
    assert lookup(keychain, "registry.example.com/a/b") is None


def test_auth_field_wins_over_username_password() -> None:
    data = dockerconfigjson({"ghcr.io": {"auth": b64("from-auth:pw"), "username": "other", "password": "x"}})
    keychain = credentials_from_pull_secret("s", "kubernetes.io/dockerconfigjson", data)
    assert lookup(keychain, "ghcr.io/a/b") == Credentials("from-auth", "pw")


def test_dockercfg_is_the_auths_map_itself() -> None:
    data = {".dockercfg": b64(json.dumps({"https://quay.io": {"auth": b64("q:w")}}))}
    keychain = credentials_from_pull_secret("legacy", "kubernetes.io/dockercfg", data)
    assert lookup(keychain, "quay.io/org/img") == Credentials("q", "w")


@pytest.mark.parametrize(
    "key",
    [
        "https://index.docker.io/v1/",
        "index.docker.io",
        "docker.io",
        "registry-1.docker.io",
        "https://docker.io",
    ],
)
@pytest.mark.parametrize("image", ["nginx", "docker.io/library/nginx", "amdenterpriseai/aim-base:0.11"])
def test_docker_hub_aliases_match_docker_hub_images(key: str, image: str) -> None:
    keychain = credentials_from_pull_secret(
        "hub", "kubernetes.io/dockerconfigjson", dockerconfigjson({key: {"auth": b64("hub:pw")}})
    )
    assert lookup(keychain, image) == Credentials("hub", "pw")


@pytest.mark.parametrize(
    ("key", "host", "path"),
    [
        ("https://ghcr.io", "ghcr.io", ""),
        ("http://localhost:5000/", "localhost:5000", ""),
        ("https://registry.example.com/v2/", "registry.example.com", ""),
        ("Registry.Example.com/team/", "registry.example.com", "team"),
        ("index.docker.io/v1/", "docker.io", ""),
    ],
)
def test_registry_keys_with_scheme_and_path(key: str, host: str, path: str) -> None:
    assert parse_registry_key(key) == (host, path)


def test_most_specific_key_wins() -> None:
    data = dockerconfigjson(
        {
            "*.example.com": {"auth": b64("wild:1")},
            "registry.example.com": {"auth": b64("host:2")},
            "registry.example.com/team": {"auth": b64("team:3")},
        }
    )
    keychain = credentials_from_pull_secret("s", "kubernetes.io/dockerconfigjson", data)
    assert lookup(keychain, "registry.example.com/team/img") == Credentials("team", "3")
    assert lookup(keychain, "registry.example.com/teamx/img") == Credentials("host", "2")
    assert lookup(keychain, "other.example.com/a") == Credentials("wild", "1")
    assert lookup(keychain, "a.b.example.com/a") is None  # '*' is one label


def test_merged_secrets_first_wins() -> None:
    first = credentials_from_pull_secret(
        "a", "kubernetes.io/dockerconfigjson", dockerconfigjson({"ghcr.io": {"auth": b64("first:1")}})
    )
    second = credentials_from_pull_secret(
        "b",
        "kubernetes.io/dockerconfigjson",
        dockerconfigjson({"ghcr.io": {"auth": b64("second:2")}, "quay.io": {"auth": b64("q:3")}}),
    )
    merged = Keychain.merged([first, second])
    assert lookup(merged, "ghcr.io/x") == Credentials("first", "1")
    assert lookup(merged, "quay.io/x") == Credentials("q", "3")
    assert len(merged) == 3


def test_entries_without_credentials_are_anonymous() -> None:
    data = dockerconfigjson({"ghcr.io": {"identitytoken": "opaque"}, "quay.io": {"email": "a@b"}})
    keychain = credentials_from_pull_secret("s", "kubernetes.io/dockerconfigjson", data)
    assert len(keychain) == 0
    assert lookup(keychain, "ghcr.io/a") is None


def test_empty_auths_is_fine() -> None:
    data = {".dockerconfigjson": b64("{}")}
    assert len(credentials_from_pull_secret("s", "kubernetes.io/dockerconfigjson", data)) == 0


@pytest.mark.parametrize(
    ("secret_type", "data", "message"),
    [
        ("Opaque", {".dockerconfigjson": b64("{}")}, "expected kubernetes.io/dockerconfigjson"),
        (None, {}, "type is 'unset'"),
        ("kubernetes.io/dockerconfigjson", {}, "has no '.dockerconfigjson' key"),
        ("kubernetes.io/dockerconfigjson", None, "has no '.dockerconfigjson' key"),
        ("kubernetes.io/dockercfg", {".dockerconfigjson": b64("{}")}, "has no '.dockercfg' key"),
        ("kubernetes.io/dockerconfigjson", {".dockerconfigjson": "not base64!!"}, "not valid base64"),
        ("kubernetes.io/dockerconfigjson", {".dockerconfigjson": b64("{nope")}, "not valid JSON"),
        ("kubernetes.io/dockerconfigjson", {".dockerconfigjson": b64("[]")}, "not a JSON object"),
        (
            "kubernetes.io/dockerconfigjson",
            {".dockerconfigjson": b64('{"auths": []}')},
            "'auths' is not an object",
        ),
        (
            "kubernetes.io/dockerconfigjson",
            dockerconfigjson({"ghcr.io": "x"}),
            "entry 'ghcr.io' is not an object",
        ),
        (
            "kubernetes.io/dockerconfigjson",
            dockerconfigjson({"ghcr.io": {"auth": "%%%"}}),
            "'auth' is not base64 of user:password",
        ),
        (
            "kubernetes.io/dockerconfigjson",
            dockerconfigjson({"ghcr.io": {"auth": b64("no-colon")}}),
            "does not decode to user:password",
        ),
        (
            "kubernetes.io/dockerconfigjson",
            dockerconfigjson({"ghcr.io": {"username": "u"}}),
            "must both be strings",
        ),
    ],
)
def test_malformed_secrets_name_the_secret(
    secret_type: str | None, data: dict[str, str] | None, message: str
) -> None:
    with pytest.raises(PullSecretError, match=message) as caught:
        credentials_from_pull_secret("team-a/registry-creds", secret_type, data)
    assert "team-a/registry-creds" in str(caught.value)
    assert caught.value.reason == "InvalidPullSecret"
    assert isinstance(caught.value, ValueError)


def test_errors_and_reprs_never_show_secrets() -> None:
    data = dockerconfigjson({"ghcr.io": {"auth": b64("no-colon-topsecret")}})
    with pytest.raises(PullSecretError) as caught:
        credentials_from_pull_secret("s", "kubernetes.io/dockerconfigjson", data)
    assert "topsecret" not in str(caught.value)
    assert b64("no-colon-topsecret") not in str(caught.value)
    creds = Credentials("user", "hunter2")
    assert "hunter2" not in repr(creds)
    keychain = Keychain.from_auths({"ghcr.io": {"username": "user", "password": "hunter2"}}, source="s")
    assert "hunter2" not in repr(keychain)


def test_fingerprints_separate_credentials() -> None:
    assert Credentials("a", "1").fingerprint != Credentials("a", "2").fingerprint
    assert Credentials("a", "1").fingerprint == Credentials("a", "1").fingerprint
    assert len(Credentials("a", "1").fingerprint) == 16


def test_docker_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "auths": {"https://index.docker.io/v1/": {"auth": b64("hub:pw")}, "ghcr.io": {}},
                "credsStore": "desktop",
                "currentContext": "default",
            }
        )
    )
    keychain = load_docker_config(path)
    assert lookup(keychain, "nginx") == Credentials("hub", "pw")
    assert lookup(keychain, "ghcr.io/a/b") is None


def test_docker_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PullSecretError, match=r"Docker config .*cannot read"):
        load_docker_config(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(PullSecretError, match="is not valid JSON"):
        load_docker_config(bad)


def test_default_docker_config_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert default_docker_config_path() == tmp_path / "config.json"
    monkeypatch.delenv("DOCKER_CONFIG")
    assert default_docker_config_path() == Path.home() / ".docker" / "config.json"
