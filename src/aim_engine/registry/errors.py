"""Registry errors. Each class maps to one Kubernetes condition reason (`reason`) and says whether
retrying later can help (`transient`): controllers mark user-fixable causes `Failed` and transient
ones `Degraded` with a requeue.

Pure module (stdlib only).
Messages name the image and the registry host, never a credential or a token.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Self

NotFoundKind = Literal["repository", "tag", "manifest", "blob", "platform"]


class RegistryError(Exception):
    """Base class. `str(err)` is one line naming the image and registry."""

    reason: ClassVar[str] = "RegistryError"
    transient: ClassVar[bool] = False

    def __init__(
        self,
        detail: str,
        *,
        image: str | None = None,
        registry: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.image = image
        self.registry = registry
        self.status_code = status_code

    def with_context(self, *, image: str, registry: str) -> Self:
        """Fill in the image and registry where the raiser did not know them (returns self)."""
        self.image = self.image or image
        self.registry = self.registry or registry
        return self

    @property
    def message(self) -> str:
        where = ""
        if self.image and self.registry:
            where = f"image {self.image} (registry {self.registry}): "
        elif self.image:
            where = f"image {self.image}: "
        elif self.registry:
            where = f"registry {self.registry}: "
        # One line: condition messages and CLI errors must not be split.
        return " ".join(f"{where}{self.detail}".split())

    def __str__(self) -> str:
        return self.message


class RegistryAuthError(RegistryError):
    """401/403 from the registry, or the token endpoint refused the credentials."""

    reason = "RegistryAuthFailed"


class ImageNotFoundError(RegistryError):
    """The repository, tag, manifest, config blob or requested platform does not exist."""

    reason = "ImageNotFound"

    def __init__(
        self,
        detail: str,
        *,
        what: NotFoundKind,
        image: str | None = None,
        registry: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(detail, image=image, registry=registry, status_code=status_code)
        self.what: NotFoundKind = what


class RegistryUnavailableError(RegistryError):
    """Unreachable, timed out, or still 5xx/429 after the retries: worth retrying later."""

    reason = "RegistryUnavailable"
    transient = True

    def __init__(
        self,
        detail: str,
        *,
        retry_after: float | None = None,
        image: str | None = None,
        registry: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(detail, image=image, registry=registry, status_code=status_code)
        self.retry_after = retry_after
        """Seconds the registry asked us to wait (Retry-After), when it said so."""


class InvalidMetadataError(RegistryError):
    """Bad manifest or config, digest mismatch, unsupported format, or a malformed label value."""

    reason = "InvalidImageMetadata"


class PullSecretError(RegistryError, ValueError):
    """A pull secret (or Docker config file) that cannot be read: wrong type, missing key, bad
    base64 or JSON. Names the secret, never its content."""

    reason = "InvalidPullSecret"

    def __init__(self, detail: str, *, secret: str, kind: str = "pull secret") -> None:
        super().__init__(f"{kind} {secret!r}: {detail}")
        self.secret = secret


class InvalidReferenceError(RegistryError, ValueError):
    """The image reference itself is malformed (uppercase repository, bad tag or digest, ...)."""

    reason = "InvalidImageReference"


class MetadataUnavailableError(RegistryError):
    """No recorded metadata for the image, and the registry may not be asked (offline render)."""

    reason = "MetadataUnavailable"
