"""Manifests, indexes and image configs: parsing, platform selection and digests. Pure (no I/O).

Accepts both the OCI and the Docker (v2 schema 2, manifest list) media types. The `mediaType`
field is optional in OCI documents (umoci leaves it out), so the response Content-Type is used
when the body does not say, and the document's shape when neither does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from aim_engine.api.image_reference import DIGEST_HEX_LENGTHS, validate_digest
from aim_engine.registry.errors import InvalidMetadataError

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})
# What we ask for; registries answer with one of these or 404/406.
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))


def compute_digest(data: bytes, algorithm: str = "sha256") -> str:
    if algorithm not in DIGEST_HEX_LENGTHS:
        raise InvalidMetadataError(f"unsupported digest algorithm {algorithm!r}")
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def verify_digest(data: bytes, expected: str, *, what: str) -> None:
    """InvalidMetadataError unless `data` hashes to `expected` (content received ≠ content named)."""
    algorithm = expected.partition(":")[0]
    actual = compute_digest(data, algorithm)
    if actual != expected:
        raise InvalidMetadataError(f"{what} digest mismatch: expected {expected}, content hashes to {actual}")


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """ "linux/amd64", "linux/arm64/v8" → Platform; ValueError otherwise."""
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(
                f"invalid platform {text!r}: expected OS/ARCH or OS/ARCH/VARIANT, e.g. linux/amd64"
            )
        return cls(parts[0].lower(), parts[1].lower(), parts[2].lower() if len(parts) == 3 else None)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None


@dataclass(frozen=True, slots=True)
class ImageIndex:
    media_type: str
    manifests: tuple[Descriptor, ...]


@dataclass(frozen=True, slots=True)
class ImageManifest:
    media_type: str
    config: Descriptor


@dataclass(frozen=True, slots=True)
class ImageConfig:
    labels: dict[str, str]
    env: list[str]
    platform: Platform | None


def _content_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _load_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidMetadataError(f"{what} is not valid JSON") from None
    if not isinstance(document, dict):
        raise InvalidMetadataError(f"{what} is not a JSON object")
    return document


def _descriptor(raw: object, what: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise InvalidMetadataError(f"{what} is not an object")
    digest, size, media_type = raw.get("digest"), raw.get("size"), raw.get("mediaType", "")
    if not isinstance(digest, str):
        raise InvalidMetadataError(f"{what} has no digest")
    try:
        validate_digest(digest)
    except ValueError as exc:
        raise InvalidMetadataError(f"{what}: {exc}") from None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidMetadataError(f"{what} has an invalid size {size!r:.40}")
    if not isinstance(media_type, str):
        raise InvalidMetadataError(f"{what} has an invalid mediaType")
    platform: Platform | None = None
    raw_platform = raw.get("platform")
    if isinstance(raw_platform, dict):
        os_, arch, variant = (
            raw_platform.get("os"),
            raw_platform.get("architecture"),
            raw_platform.get("variant"),
        )
        if isinstance(os_, str) and isinstance(arch, str):
            platform = Platform(
                os_.lower(), arch.lower(), variant.lower() if isinstance(variant, str) else None
            )
    return Descriptor(media_type=media_type, digest=digest, size=size, platform=platform)


def parse_manifest(body: bytes, content_type: str | None) -> ImageIndex | ImageManifest:
    """Parse a manifest or index response body."""
    document = _load_object(body, "manifest")
    declared = document.get("mediaType")
    media_type = declared if isinstance(declared, str) and declared else _content_type(content_type)
    if media_type in DOCKER_SCHEMA1 or document.get("schemaVersion") == 1:
        raise InvalidMetadataError("Docker schema 1 manifests are not supported (re-push the image)")
    if media_type not in INDEX_TYPES | MANIFEST_TYPES:
        # Neither the body nor the response said (or said something generic like
        # application/json): go by shape.
        if "manifests" in document:
            media_type = OCI_INDEX
        elif "config" in document:
            media_type = OCI_MANIFEST
        else:
            raise InvalidMetadataError(f"unsupported manifest media type {media_type or 'unset'!r}")
    if document.get("schemaVersion") != 2:
        raise InvalidMetadataError(f"manifest schemaVersion is {document.get('schemaVersion')!r}, expected 2")
    if media_type in INDEX_TYPES:
        raw_manifests = document.get("manifests")
        if not isinstance(raw_manifests, list):
            raise InvalidMetadataError("index has no manifests list")
        return ImageIndex(
            media_type=media_type,
            manifests=tuple(_descriptor(m, f"index entry {i}") for i, m in enumerate(raw_manifests)),
        )
    config = _descriptor(document.get("config"), "manifest config")
    if config.media_type and config.media_type not in CONFIG_TYPES:
        raise InvalidMetadataError(
            f"not a container image: config media type is {config.media_type!r} (an artifact?)"
        )
    return ImageManifest(media_type=media_type, config=config)


def select_platform(index: ImageIndex, platform: Platform) -> Descriptor | None:
    """The index entry for `platform`, or None. Without a requested variant the first entry for
    the OS/architecture wins (registries list the preferred variant first). Entries that are not
    images (attestations: `unknown/unknown`) never match."""
    for entry in index.manifests:
        p = entry.platform
        if p is None or (entry.media_type and entry.media_type not in MANIFEST_TYPES):
            continue
        if p.os != platform.os or p.architecture != platform.architecture:
            continue
        if (
            platform.variant is not None
            and (p.variant or _default_variant(p.architecture)) != platform.variant
        ):
            continue
        return entry
    return None


def _default_variant(architecture: str) -> str | None:
    # arm64 images without a variant are v8 (what containerd's platform matcher assumes).
    return "v8" if architecture == "arm64" else None


def available_platforms(index: ImageIndex) -> list[str]:
    return [str(entry.platform) for entry in index.manifests if entry.platform is not None]


def parse_config(body: bytes) -> ImageConfig:
    """Labels, Env and platform of an image config blob."""
    document = _load_object(body, "image config")
    inner = document.get("config") or {}
    if not isinstance(inner, dict):
        raise InvalidMetadataError("image config 'config' is not an object")
    labels = inner.get("Labels") or {}
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise InvalidMetadataError("image config Labels is not a map of strings")
    env = inner.get("Env") or []
    if not isinstance(env, list) or not all(isinstance(item, str) for item in env):
        raise InvalidMetadataError("image config Env is not a list of strings")
    os_, arch, variant = document.get("os"), document.get("architecture"), document.get("variant")
    platform = (
        Platform(os_, arch, variant if isinstance(variant, str) and variant else None)
        if isinstance(os_, str) and isinstance(arch, str) and os_ and arch
        else None
    )
    return ImageConfig(labels=dict(labels), env=list(env), platform=platform)
