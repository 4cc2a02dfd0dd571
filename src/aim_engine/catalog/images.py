"""Image reference arithmetic the catalog needs: tags, version order, registry rebasing.

Over references as users write them (`ghcr.io/org/name:tag`, `name@sha256:...`,
`host:5000/a/b/name:tag`), read with `aim_engine.api.image_reference` (the one grammar); no
normalisation, so what a user wrote is what comes back. Pure, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aim_engine.api.image_reference import split_repository, written_tag

BASE_IMAGE_REPOSITORY = "aim-base"
"""Repository name of the AIM base image, used by the legacy fallback."""

# MAJOR.MINOR with an optional PATCH, an optional leading v and an optional pre-release or build
# suffix: "0.11", "0.11.0", "v1.2.3-rc1", "0.8.5+build.7".
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def image_tag(image: str | None) -> str | None:
    """The tag of an image reference as written ("repo:0.8.5" -> "0.8.5"); None for a digest
    or no tag."""
    return written_tag(image)


def rebase(source_image: str, reference: str) -> str:
    """`reference`'s last path component (name and tag or digest) under the registry and
    organisation of `source_image`: everything before `source_image`'s last '/'.

    ghcr.io/silogen/qwen3:0.11.0 + docker.io/amdenterpriseai/aim-base:0.11
    -> ghcr.io/silogen/aim-base:0.11. A source without '/' has no registry or organisation to
    lend, so `reference` is returned unchanged.
    """
    prefix, _ = split_repository(source_image)
    if not prefix:
        return reference
    return f"{prefix}/{split_repository(reference)[1]}"


def legacy_base_image(source_image: str) -> str | None:
    """`aim-base:MAJOR.MINOR` from `source_image`'s tag, rebased onto its registry and
    organisation; None when the tag is not version-shaped (nothing can be synthesised)."""
    parsed = _VERSION.match(image_tag(source_image) or "")
    if parsed is None:
        return None
    return rebase(source_image, f"{BASE_IMAGE_REPOSITORY}:{parsed.group(1)}.{parsed.group(2)}")


def is_version(text: str | None) -> bool:
    return text is not None and _VERSION.match(text) is not None


def version_key(text: str) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
    """Sort key for semantic versions: 0.10.0 > 0.9.1, 1.0.0 > 1.0.0-rc1, and pre-releases by
    their dot-separated identifiers (numeric ones numerically). Text that is not a version sorts
    before every version, by its characters, so ordering any list of tags is total."""
    parsed = _VERSION.match(text)
    if parsed is None:
        return (-1, 0, 0, 0, tuple((1, ch) for ch in text))
    major, minor, patch, pre = parsed.groups()
    release = 1 if pre is None else 0  # a release sorts after its pre-releases
    identifiers = tuple((0, int(p)) if p.isdigit() else (1, p) for p in (pre or "").split(".") if p)
    return (int(major), int(minor), int(patch or 0), release, identifiers)


def newest(versions: Iterable[str]) -> str | None:
    """The highest version of `versions` by `version_key`; None for an empty input. Equal
    versions written differently (`1.0.0`, `v1.0.0`, `1.0`) are told apart by their text, so the
    answer does not depend on the order of a set, which differs between processes."""
    return max(set(versions), key=lambda v: (version_key(v), v), default=None)
