"""Image inspection: reference → (index →) platform manifest → config blob → `ImageMetadata`.

The entry point for the model controller and the CLI. Request economy:

* a reference resolved less than `reference_ttl` ago costs no request at all;
* after that, one HEAD re-checks the digest (HEADs do not count against Docker Hub pull limits);
* manifests and configs are content-addressed, so what was learned about a digest (index
  entries, metadata) is reused for every name and tag pointing at it: N tags of one image cost
  N manifest GETs plus one platform manifest and one config blob;
* concurrent inspections of the same reference share one task, and concurrent inspections that
  reach the same digest share the config download.

Caches are keyed by credentials where it matters: a reference resolved with one pull secret is
not served to a caller with another (or none) without asking the registry, so a namespace
cannot read another namespace's private image metadata through the cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from aim_engine.api.image_reference import ImageReference, parse_reference
from aim_engine.api.v1alpha1.common import ImageMetadata
from aim_engine.catalog.image_metadata import MalformedLabelError, extract_image_metadata
from aim_engine.registry.cache import Expiring, LruCache, SingleFlight
from aim_engine.registry.client import RegistryClient
from aim_engine.registry.credentials import Credentials, Keychain, fingerprint
from aim_engine.registry.errors import (
    ImageNotFoundError,
    InvalidMetadataError,
    InvalidReferenceError,
    RegistryError,
)
from aim_engine.registry.manifest import (
    ImageIndex,
    ImageManifest,
    Platform,
    available_platforms,
    parse_config,
    select_platform,
)
from aim_engine.registry.settings import RegistrySettings


@dataclass(frozen=True, slots=True)
class InspectionResult:
    image: str
    """The canonical reference that was inspected (docker.io/library/x:latest form)."""
    digest: str
    """Digest of the platform image manifest that was read."""
    index_digest: str | None
    """Digest of the multi-platform index the reference points at, if it is one."""
    platform: str
    """The platform of the image read, e.g. linux/amd64."""
    media_type: str
    """Media type of the platform image manifest."""
    config_digest: str
    metadata: ImageMetadata

    @property
    def pinned(self) -> str:
        """The reference pinned to what it resolved to (the index when there is one)."""
        ref = parse_reference(self.image)
        return f"{ref.name}@{self.index_digest or self.digest}"


class Inspector(Protocol):
    """What the model reconciler needs of image inspection: the registry (`ImageInspector`) or
    recorded snapshots (`registry.snapshots.SnapshotInspector`, for offline render)."""

    async def inspect(
        self, image: str | ImageReference, credentials: Keychain | Credentials | None = None
    ) -> InspectionResult: ...


@dataclass(frozen=True, slots=True)
class _ImageEntry:
    media_type: str
    config_digest: str
    platform: Platform | None
    metadata: ImageMetadata


_RefKey = tuple[str, str, str]  # (canonical reference, platform, credential fingerprint)


class ImageInspector:
    """Long-lived and shareable: one per operator process (or CLI run). Close with `aclose()`."""

    def __init__(
        self,
        settings: RegistrySettings | None = None,
        *,
        client: RegistryClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or (client.settings if client else RegistrySettings())
        self.client = client or RegistryClient(self.settings)
        self._clock = clock
        size = self.settings.cache_size
        self._refs: LruCache[_RefKey, Expiring[str]] = LruCache(size)
        self._indexes: LruCache[str, ImageIndex] = LruCache(size)
        # Metadata per platform manifest digest; a deterministic failure (bad label) is cached
        # too, since the content behind a digest never changes.
        self._images: LruCache[str, _ImageEntry | InvalidMetadataError] = LruCache(size)
        self._ref_flights: SingleFlight[_RefKey, InspectionResult] = SingleFlight()
        self._image_flights: SingleFlight[str, _ImageEntry] = SingleFlight()

    @property
    def request_count(self) -> int:
        """HTTP requests made so far (registry and token endpoints)."""
        return self.client.request_count

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> ImageInspector:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def clear_cache(self) -> None:
        self._refs.clear()
        self._indexes.clear()
        self._images.clear()

    async def inspect(
        self, image: str | ImageReference, credentials: Keychain | Credentials | None = None
    ) -> InspectionResult:
        """Inspect an image. `credentials` is a Keychain (e.g. merged pull secrets; the entry for the
        image's registry is used) or the Credentials to use directly.

        Raises a RegistryError subclass: RegistryAuthError, ImageNotFoundError,
        RegistryUnavailableError (transient), InvalidMetadataError, InvalidReferenceError.
        """
        if isinstance(image, ImageReference):
            ref = image
        else:
            try:
                ref = parse_reference(image)
            except ValueError as exc:
                raise InvalidReferenceError(str(exc)) from None
        creds = credentials.lookup(ref) if isinstance(credentials, Keychain) else credentials
        key: _RefKey = (ref.canonical, str(self.settings.platform), fingerprint(creds))
        try:
            return await self._ref_flights.run(key, lambda: self._inspect(ref, creds, key))
        except RegistryError as exc:
            raise exc.with_context(image=ref.canonical, registry=ref.registry) from None

    async def _inspect(
        self, ref: ImageReference, creds: Credentials | None, key: _RefKey
    ) -> InspectionResult:
        cached = self._refs.get(key)
        if cached is not None:
            top: str | None = None
            if cached.fresh(self._clock) or await self.client.head_manifest(ref, creds) == cached.value:
                top = cached.value
            if top is not None:
                result = await self._from_digest(ref, creds, top, None)
                self._refs.put(key, Expiring(top, self.settings.reference_ttl, self._clock))
                return result
        manifest = await self.client.get_manifest(ref, creds)
        self._refs.put(key, Expiring(manifest.digest, self.settings.reference_ttl, self._clock))
        return await self._from_digest(ref, creds, manifest.digest, manifest.document)

    async def _from_digest(
        self,
        ref: ImageReference,
        creds: Credentials | None,
        digest: str,
        document: ImageIndex | ImageManifest | None,
    ) -> InspectionResult:
        if document is None:
            document = self._indexes.get(digest)
        if document is None and digest not in self._images:
            document = (await self.client.get_manifest(ref, creds, reference=digest)).document
        if isinstance(document, ImageIndex):
            self._indexes.put(digest, document)
            platform = self.settings.platform
            entry = select_platform(document, platform)
            if entry is None:
                available = ", ".join(available_platforms(document)) or "none"
                raise ImageNotFoundError(
                    f"no image for platform {platform} in the index {digest} (available: {available})",
                    what="platform",
                )
            image = await self._image(ref, creds, entry.digest, None)
            return self._result(ref, entry.digest, digest, image, entry.platform)
        image = await self._image(ref, creds, digest, document)
        return self._result(ref, digest, None, image, None)

    def _result(
        self,
        ref: ImageReference,
        digest: str,
        index_digest: str | None,
        image: _ImageEntry,
        index_platform: Platform | None,
    ) -> InspectionResult:
        platform = index_platform or image.platform or self.settings.platform
        return InspectionResult(
            image=ref.canonical,
            digest=digest,
            index_digest=index_digest,
            platform=str(platform),
            media_type=image.media_type,
            config_digest=image.config_digest,
            metadata=image.metadata,
        )

    async def _image(
        self, ref: ImageReference, creds: Credentials | None, digest: str, manifest: ImageManifest | None
    ) -> _ImageEntry:
        cached = self._images.get(digest)
        if isinstance(cached, InvalidMetadataError):
            raise InvalidMetadataError(cached.detail)
        if cached is not None:
            return cached
        return await self._image_flights.run(digest, lambda: self._load_image(ref, creds, digest, manifest))

    async def _load_image(
        self, ref: ImageReference, creds: Credentials | None, digest: str, manifest: ImageManifest | None
    ) -> _ImageEntry:
        if manifest is None:
            document = (await self.client.get_manifest(ref, creds, reference=digest)).document
            if isinstance(document, ImageIndex):
                raise InvalidMetadataError(
                    f"index entry {digest} is itself an index (nested indexes are not supported)"
                )
            manifest = document
        config = manifest.config
        blob = await self.client.get_blob(
            ref, config.digest, creds, size=config.size, max_bytes=self.settings.max_config_bytes
        )
        try:
            parsed = parse_config(blob)
            metadata = extract_image_metadata(parsed.labels, parsed.env)
        except (InvalidMetadataError, MalformedLabelError) as exc:
            # The blob's digest was verified, so this failure belongs to the content: remember it.
            error = exc if isinstance(exc, InvalidMetadataError) else InvalidMetadataError(str(exc))
            self._images.put(digest, error)
            raise error from None
        entry = _ImageEntry(
            media_type=manifest.media_type,
            config_digest=config.digest,
            platform=parsed.platform,
            metadata=metadata,
        )
        self._images.put(digest, entry)
        return entry
