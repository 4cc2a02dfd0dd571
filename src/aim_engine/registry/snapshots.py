"""Image metadata recorded earlier, as `aim-engine inspect -o json` prints it, served through
the same `Inspector` interface as the registry: what lets `aim-engine render` run offline.

A snapshot file holds one such JSON (or YAML) object, a list of them, or a YAML stream; each
names its `image` and carries the `status.imageMetadata` fields (`model`, `oci`,
`originalLabels`, `baseImageRef`) and `digest`. Images match by their canonical reference, so
`amdenterpriseai/x:1` and `docker.io/amdenterpriseai/x:1` are the same image.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from aim_engine.api.image_reference import ImageReference, parse_reference
from aim_engine.api.v1alpha1.common import ImageMetadata
from aim_engine.registry.credentials import Credentials, Keychain
from aim_engine.registry.errors import InvalidReferenceError, MetadataUnavailableError
from aim_engine.registry.inspector import InspectionResult, Inspector

_NOT_METADATA = ("image", "digest", "indexDigest")


def snapshot_of(document: Mapping[str, Any], origin: str) -> InspectionResult:
    """One snapshot; ValueError naming `origin` and the problem."""
    image = document.get("image")
    if not isinstance(image, str) or not image:
        raise ValueError(
            f"{origin}: a metadata snapshot needs 'image' (aim-engine inspect -o json prints it)"
        )
    try:
        canonical = parse_reference(image).canonical
        metadata = ImageMetadata.model_validate({k: v for k, v in document.items() if k not in _NOT_METADATA})
    except (ValueError, ValidationError) as exc:
        raise ValueError(f"{origin}: snapshot of {image}: {exc}") from None
    digest = str(document.get("digest") or "")
    index = document.get("indexDigest")
    return InspectionResult(canonical, digest, str(index) if index else None, "", "", "", metadata)


def load_snapshots(paths: Iterable[Path]) -> dict[str, InspectionResult]:
    """Snapshots by canonical image reference, from files; a later file wins for an image."""
    found: dict[str, InspectionResult] = {}
    for path in paths:
        try:
            documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: cannot read metadata snapshots: {exc}") from None
        flat = [item for d in documents for item in (d if isinstance(d, list) else [d])]
        for index, document in enumerate(flat):
            if not isinstance(document, Mapping):
                raise ValueError(f"{path}: entry {index} is not an object")
            snapshot = snapshot_of(document, f"{path} entry {index}")
            found[snapshot.image] = snapshot
    return found


class SnapshotInspector:
    """Serves snapshots; asks `fallback` (the registry) for other images, or, without one,
    fails them with `MetadataUnavailableError` and remembers which (`missing`)."""

    def __init__(self, snapshots: Mapping[str, InspectionResult], fallback: Inspector | None = None) -> None:
        self.snapshots = dict(snapshots)
        self.fallback = fallback
        self.missing: set[str] = set()

    async def inspect(
        self, image: str | ImageReference, credentials: Keychain | Credentials | None = None
    ) -> InspectionResult:
        try:
            ref = image if isinstance(image, ImageReference) else parse_reference(image)
        except ValueError as exc:
            raise InvalidReferenceError(str(exc)) from None
        found = self.snapshots.get(ref.canonical)
        if found is not None:
            return found
        if self.fallback is not None:
            return await self.fallback.inspect(ref, credentials)
        self.missing.add(ref.canonical)
        raise MetadataUnavailableError(
            "offline, and no metadata snapshot for this image: pass --metadata FILE "
            "(from aim-engine inspect -o json) or set spec.imageMetadata",
            image=ref.canonical,
        )
