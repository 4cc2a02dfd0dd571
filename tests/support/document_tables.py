"""Tables of the design document that tests check row by row, in one place."""

from __future__ import annotations

REBASING_ROWS: list[tuple[str, str, str]] = [
    # (source owner spec.image, owner's status.imageMetadata.baseImageRef, annotation on the copy)
    (
        "ghcr.io/silogen/qwen3:0.11.0",
        "docker.io/amdenterpriseai/aim-base:0.11",
        "ghcr.io/silogen/aim-base:0.11",
    ),
    (
        "docker.io/amdenterpriseai/qwen3:0.11.0",
        "ghcr.io/silogen/aim-base:0.11",
        "docker.io/amdenterpriseai/aim-base:0.11",
    ),
    (
        "registry.example.com/team/models/qwen3:0.11",
        "ghcr.io/silogen/aim-base:0.11",
        "registry.example.com/team/models/aim-base:0.11",
    ),
]
"""The "Registry rebasing" table of "Deployment Image Resolution", exactly."""
