"""Container image references: the one grammar of them, used by the registry client, the catalog
and the controllers. Pure (no I/O).

`parse_reference` normalises the way Docker does; `written_tag` and `split_repository` read a
reference as the user wrote it (the catalog's tags and rebasing keep what a user wrote).

Normalisation rules (those of Docker's `ParseNormalizedNamed`):

* The first path component is a registry host only if it contains "." or ":", is "localhost", or
  contains an upper-case letter; otherwise the image lives on Docker Hub (`docker.io`).
* `index.docker.io` is an old spelling of `docker.io`; Docker Hub's API host is `registry-1.docker.io`.
* A single-component Docker Hub repository gets the `library/` prefix (`nginx` → `library/nginx`).
* With neither tag nor digest the tag is `latest`; `name:tag@digest` keeps both, and the digest is
  what identifies the content.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
DOCKER_HUB_API_HOST = "registry-1.docker.io"
# Every name Docker Hub has been known by in image references and in credential files.
DOCKER_HUB_ALIASES = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
DEFAULT_TAG = "latest"
NAME_MAX_LENGTH = 255

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_RE = re.compile(rf"^(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$")
_PATH_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")
_HEX64_RE = re.compile(r"^[a-f0-9]{64}$")
# Digest algorithms this client can verify, with the length of their lowercase hex encoding.
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha512": 128}


def split_repository(text: str) -> tuple[str, str]:
    """(everything before the last '/', the rest): `ghcr.io/org/qwen3:0.11` → (`ghcr.io/org`,
    `qwen3:0.11`); a reference without '/' has an empty prefix."""
    name = text.split("@", 1)[0]
    slash = name.rfind("/")
    return (text[:slash], text[slash + 1 :]) if slash >= 0 else ("", text)


def written_tag(text: str | None) -> str | None:
    """The tag as written (`repo:0.8.5` → `0.8.5`); None for a digest reference or no tag. A
    colon before the last '/' belongs to a registry port (`host:5000/repo` has no tag)."""
    if not text:
        return None
    _, last = split_repository(text.split("@", 1)[0])
    _, colon, tag = last.partition(":")
    return tag if colon else None


def validate_digest(digest: str) -> str:
    """Return `digest` if it is a well-formed sha256/sha512 content digest; ValueError otherwise."""
    if not _DIGEST_RE.match(digest):
        raise ValueError(f"invalid digest {digest!r}: expected ALGORITHM:HEX, e.g. sha256:<64 hex digits>")
    algorithm, _, encoded = digest.partition(":")
    expected = DIGEST_HEX_LENGTHS.get(algorithm)
    if expected is None:
        raise ValueError(f"unsupported digest algorithm {algorithm!r} in {digest!r} (sha256 or sha512)")
    if len(encoded) != expected or encoded != encoded.lower():
        raise ValueError(f"invalid {algorithm} digest {digest!r}: expected {expected} lowercase hex digits")
    return digest


def normalize_registry_host(host: str) -> str:
    """Lower-case a registry host and fold Docker Hub's aliases into `docker.io`."""
    host = host.lower()
    return DOCKER_HUB if host in DOCKER_HUB_ALIASES else host


def split_host_port(host: str) -> tuple[str, int | None]:
    """("127.0.0.1:5000" → ("127.0.0.1", 5000)); IPv6 literals keep no brackets."""
    if host.startswith("["):
        end = host.find("]")
        name, rest = host[1:end], host[end + 1 :]
        return name, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return name, int(port)
    return host, None


def is_loopback_host(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (with or without a port)."""
    name, _ = split_host_port(host)
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A normalised image reference. `str(ref)` is the canonical form."""

    registry: str
    """Registry host as written in references, with port: docker.io, ghcr.io, localhost:5000."""
    repository: str
    """Repository path inside the registry, e.g. library/nginx, amdenterpriseai/aim-base."""
    tag: str | None = None
    digest: str | None = None

    @property
    def api_host(self) -> str:
        """The host that serves the registry API (Docker Hub's differs from its name)."""
        return DOCKER_HUB_API_HOST if self.registry == DOCKER_HUB else self.registry

    @property
    def name(self) -> str:
        """registry/repository, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def manifest_reference(self) -> str:
        """What goes after /manifests/ in the API: the digest when there is one, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def canonical(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def with_digest(self, digest: str) -> ImageReference:
        """The same repository pinned to `digest` (the tag is dropped: the digest identifies it)."""
        return dataclasses.replace(self, tag=None, digest=validate_digest(digest))

    def __str__(self) -> str:
        return self.canonical


def parse_reference(text: str) -> ImageReference:
    """Parse and normalise an image reference; ValueError with the reason when it is not valid."""
    if not isinstance(text, str):
        raise ValueError(f"invalid image reference {text!r}: not a string")
    original = text
    if not text:
        raise ValueError("invalid image reference: empty")
    if text != text.strip() or any(ch.isspace() for ch in text):
        raise ValueError(f"invalid image reference {original!r}: contains whitespace")
    if "://" in text:
        raise ValueError(
            f"invalid image reference {original!r}: must not include a scheme (http://, https://)"
        )

    digest: str | None = None
    if "@" in text:
        text, _, digest = text.partition("@")
        if "@" in digest:
            raise ValueError(f"invalid image reference {original!r}: more than one '@'")
        try:
            validate_digest(digest)
        except ValueError as exc:
            raise ValueError(f"invalid image reference {original!r}: {exc}") from None

    # A ':' after the last '/' separates the tag; a ':' before it belongs to the registry port.
    tag: str | None = None
    last_slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > last_slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise ValueError(
                f"invalid image reference {original!r}: invalid tag {tag!r} "
                "(letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')"
            )
    if not text:
        raise ValueError(f"invalid image reference {original!r}: missing repository name")
    if digest is None and tag is None and _HEX64_RE.match(text):
        raise ValueError(f"invalid image reference {original!r}: a 64-character hex string is an image ID")

    first, sep, rest = text.partition("/")
    is_domain = bool(sep) and (
        any(c in first for c in ".:") or first == "localhost" or first.lower() != first
    )
    if is_domain:
        if not _DOMAIN_RE.match(first):
            raise ValueError(f"invalid image reference {original!r}: invalid registry host {first!r}")
        registry, repository = normalize_registry_host(first), rest
    else:
        registry, repository = DOCKER_HUB, text
    if not repository:
        raise ValueError(f"invalid image reference {original!r}: missing repository name")
    if repository.lower() != repository:
        raise ValueError(f"invalid image reference {original!r}: repository name must be lowercase")
    for component in repository.split("/"):
        if not _PATH_COMPONENT_RE.match(component):
            raise ValueError(
                f"invalid image reference {original!r}: invalid repository path component {component!r} "
                "(lowercase letters and digits, separated by '.', '_', '__' or '-')"
            )
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    if len(f"{registry}/{repository}") > NAME_MAX_LENGTH:
        raise ValueError(
            f"invalid image reference {original!r}: name longer than {NAME_MAX_LENGTH} characters"
        )
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return ImageReference(registry=registry, repository=repository, tag=tag, digest=digest)
