"""Registry credentials from Kubernetes pull secrets and Docker config files.

Pure except for `load_docker_config`, which reads one file for the CLI. Matching follows the
kubelet's credential provider: a key names a registry host (scheme and `/v1/`-style API paths are
ignored, Docker Hub's aliases are one registry), may carry a repository path prefix
(`registry.example.com/team`), and may use `*` for a whole host label (`*.example.com`). The most
specific key wins; between equally specific keys the first one (first secret) wins.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aim_engine.api.image_reference import ImageReference, normalize_registry_host, split_host_port
from aim_engine.registry.errors import PullSecretError

DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
DOCKER_CFG = "kubernetes.io/dockercfg"
_SECRET_KEYS = {DOCKER_CONFIG_JSON: ".dockerconfigjson", DOCKER_CFG: ".dockercfg"}
# Old Docker config keys carry the API version as a path ("https://index.docker.io/v1/"); that path
# is not a repository prefix.
_API_PATHS = frozenset({"", "v1", "v2"})


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    @property
    def fingerprint(self) -> str:
        """A short one-way identifier, so that caches never share tokens between different
        credentials (a namespace without a secret must not ride on another namespace's token)."""
        digest = hashlib.sha256(f"{self.username}\0{self.password}".encode()).hexdigest()
        return digest[:16]

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


ANONYMOUS_FINGERPRINT = "anonymous"


def fingerprint(credentials: Credentials | None) -> str:
    return credentials.fingerprint if credentials else ANONYMOUS_FINGERPRINT


@dataclass(frozen=True, slots=True)
class _Entry:
    host: str  # normalised host[:port], may contain '*' labels
    path: str  # repository prefix, "" for the whole registry
    credentials: Credentials
    source: str  # secret or file name, for messages

    def matches(self, ref: ImageReference) -> bool:
        if not _host_matches(self.host, ref.registry):
            return False
        if not self.path:
            return True
        return ref.repository == self.path or ref.repository.startswith(self.path + "/")


def _host_matches(pattern: str, host: str) -> bool:
    if pattern == host:
        return True
    if "*" not in pattern:
        return False
    p_name, p_port = split_host_port(pattern)
    h_name, h_port = split_host_port(host)
    if p_port != h_port:
        return False
    p_labels, h_labels = p_name.split("."), h_name.split(".")
    return len(p_labels) == len(h_labels) and all(
        fnmatch.fnmatchcase(h, p) for p, h in zip(p_labels, h_labels, strict=True)
    )


def parse_registry_key(key: str) -> tuple[str, str]:
    """A credential key ("https://index.docker.io/v1/", "ghcr.io", "host:5000/team") → (host, path)."""
    rest = key.strip()
    if "://" in rest:
        rest = rest.split("://", 1)[1]
    host, _, path = rest.partition("/")
    path = path.strip("/")
    if path in _API_PATHS:
        path = ""
    return normalize_registry_host(host), path


class Keychain:
    """Credentials for any number of registries; `lookup(ref)` picks the ones for an image."""

    __slots__ = ("_entries",)

    def __init__(self, entries: Iterable[_Entry] = ()) -> None:
        self._entries = tuple(entries)

    @classmethod
    def from_auths(cls, auths: Mapping[str, Any], *, source: str, kind: str = "pull secret") -> Keychain:
        """Build from a Docker `auths` map ({registry: {auth | username/password}}).

        Entries without a username/password (e.g. only an `identitytoken` or an `email`) are
        skipped: such registries are accessed anonymously.
        """
        entries: list[_Entry] = []
        for key, value in auths.items():
            if not isinstance(key, str) or not isinstance(value, Mapping):
                raise PullSecretError(f"entry {key!r} is not an object", secret=source, kind=kind)
            creds = _entry_credentials(value, key=key, source=source, kind=kind)
            if creds is None:
                continue
            host, path = parse_registry_key(key)
            if not host:
                raise PullSecretError(f"entry {key!r} has no registry host", secret=source, kind=kind)
            entries.append(_Entry(host=host, path=path, credentials=creds, source=source))
        return cls(entries)

    @classmethod
    def merged(cls, keychains: Iterable[Keychain]) -> Keychain:
        """Several secrets in order (e.g. a model's imagePullSecrets): earlier ones win ties."""
        return cls(entry for chain in keychains for entry in chain._entries)

    def lookup(self, ref: ImageReference) -> Credentials | None:
        best: _Entry | None = None
        for entry in self._entries:
            if not entry.matches(ref):
                continue
            # Most specific first: exact host beats wildcard, longer path beats shorter.
            if best is None or _specificity(entry) > _specificity(best):
                best = entry
        return best.credentials if best else None

    @property
    def registries(self) -> list[str]:
        """The registry keys covered (for diagnostics; no secret values)."""
        return [f"{e.host}/{e.path}" if e.path else e.host for e in self._entries]

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Keychain(registries={self.registries!r})"


def _specificity(entry: _Entry) -> tuple[int, int]:
    return (0 if "*" in entry.host else 1, len(entry.path))


def _entry_credentials(value: Mapping[str, Any], *, key: str, source: str, kind: str) -> Credentials | None:
    auth = value.get("auth")
    if auth:
        if not isinstance(auth, str):
            raise PullSecretError(f"entry {key!r}: 'auth' is not a string", secret=source, kind=kind)
        try:
            decoded = base64.b64decode(auth, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise PullSecretError(
                f"entry {key!r}: 'auth' is not base64 of user:password", secret=source, kind=kind
            ) from None
        user, sep, secret = decoded.partition(":")
        if not sep:
            raise PullSecretError(
                f"entry {key!r}: 'auth' does not decode to user:password", secret=source, kind=kind
            )
        return Credentials(user, secret)
    username, password = value.get("username"), value.get("password")
    if username is None and password is None:
        return None
    if not isinstance(username, str) or not isinstance(password, str):
        raise PullSecretError(
            f"entry {key!r}: 'username' and 'password' must both be strings", secret=source, kind=kind
        )
    return Credentials(username, password)


def credentials_from_pull_secret(
    name: str, secret_type: str | None, data: Mapping[str, str] | None
) -> Keychain:
    """Credentials in a Kubernetes image pull secret.

    `data` is the Secret's `data` map (base64 values, as the API returns it). `name` is only used
    in error messages (give "namespace/name"). Raises PullSecretError when the secret is not a
    pull secret or cannot be decoded.
    """
    key = _SECRET_KEYS.get(secret_type or "")
    if key is None:
        raise PullSecretError(
            f"type is {secret_type or 'unset'!r}; expected {DOCKER_CONFIG_JSON} or {DOCKER_CFG}", secret=name
        )
    encoded = (data or {}).get(key)
    if not encoded:
        raise PullSecretError(f"has no {key!r} key", secret=name)
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise PullSecretError(f"{key!r} is not valid base64", secret=name) from None
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise PullSecretError(f"{key!r} is not valid JSON", secret=name) from None
    if not isinstance(document, dict):
        raise PullSecretError(f"{key!r} is not a JSON object", secret=name)
    if secret_type == DOCKER_CFG:
        return Keychain.from_auths(document, source=name)
    auths = document.get("auths", {})
    if not isinstance(auths, dict):
        raise PullSecretError(f"{key!r}: 'auths' is not an object", secret=name)
    return Keychain.from_auths(auths, source=name)


def default_docker_config_path() -> Path:
    """Where `docker login` writes: $DOCKER_CONFIG/config.json, else ~/.docker/config.json."""
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def load_docker_config(path: str | os.PathLike[str]) -> Keychain:
    """Credentials from a Docker `config.json`. Credential helpers (`credsStore`, `credHelpers`)
    are not run: only inline `auths` entries are used."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise PullSecretError(
            f"cannot read: {exc.strerror or exc}", secret=source, kind="Docker config"
        ) from None
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise PullSecretError("is not valid JSON", secret=source, kind="Docker config") from None
    if not isinstance(document, dict):
        raise PullSecretError("is not a JSON object", secret=source, kind="Docker config")
    auths = document.get("auths", {})
    if not isinstance(auths, dict):
        raise PullSecretError("'auths' is not an object", secret=source, kind="Docker config")
    return Keychain.from_auths(auths, source=source, kind="Docker config")
