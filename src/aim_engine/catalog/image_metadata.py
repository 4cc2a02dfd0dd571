"""Image config labels and env → `ImageMetadata` (what `status.imageMetadata` holds).

Pure: no I/O. The registry client hands over the config's `Labels` and `Env`.

Label rules:

* AIM labels are read as `com.amd.aim.<suffix>`, falling back to the legacy
  `org.amd.silogen.<suffix>`; the first non-empty value wins.
* Deployments: the design document names `com.amd.aim.model.deployments`, published images carry
  `com.amd.aim.model.recommendedDeployments`. When both are present `recommendedDeployments` wins:
  it is what the image build tooling writes, so it is the value the image's authors maintain.
  Both prefixes are tried for both names, current prefix first.
* Deployment values come as JSON (`[{"gpuModel": ...}]`) or as Python literals — a list, a tuple or
  a bare comma-separated sequence of dicts (`{'gpuModel': 'MI300X'}, {...}`), which is what AIM
  image builds write. JSON is tried first, then `ast.literal_eval`; quotes are never swapped
  (that would break apostrophes inside descriptions).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from typing import Any

from aim_engine.api.v1alpha1.common import ImageMetadata, ModelMetadata, OCIMetadata, RecommendedDeployment

AIM_PREFIX = "com.amd.aim."
LEGACY_PREFIX = "org.amd.silogen."
OCI_PREFIX = "org.opencontainers.image."
DEPLOYMENT_SUFFIXES = ("model.recommendedDeployments", "model.deployments")
BASE_IMAGE_ENV = "AIM_BASE_IMAGE_REF"

# Deployment label values are tiny in practice; the cap bounds the work `literal_eval` may do on an
# untrusted value.
MAX_DEPLOYMENTS_LABEL_LENGTH = 64 * 1024
_SNIPPET_LENGTH = 80

_TRUE = frozenset({"true", "1", "yes", "y", "on", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "off", "f"})

_OCI_FIELDS = (
    "title",
    "description",
    "licenses",
    "vendor",
    "authors",
    "source",
    "documentation",
    "created",
    "revision",
    "version",
)
# Deployment entry keys (wire names) → expected type. Unknown keys are ignored.
_DEPLOYMENT_STR_KEYS = ("gpuModel", "precision", "metric", "profileId", "modelId", "engine", "description")


class MalformedLabelError(ValueError):
    """A label value that cannot be parsed. The registry layer reports it as
    `InvalidMetadataError`; catalog code stays free of registry imports."""


def aim_label(labels: Mapping[str, str], suffix: str) -> tuple[str, str] | None:
    """(label name, stripped value) of the first non-empty AIM label with this suffix."""
    for prefix in (AIM_PREFIX, LEGACY_PREFIX):
        name = prefix + suffix
        value = labels.get(name)
        if value is not None and value.strip():
            return name, value.strip()
    return None


def _deployments_label(labels: Mapping[str, str]) -> tuple[str, str] | None:
    # Prefix before name: labels are inherited from base images, so a legacy label may be a
    # leftover of an older base while the current prefix belongs to this image.
    for prefix in (AIM_PREFIX, LEGACY_PREFIX):
        for suffix in DEPLOYMENT_SUFFIXES:
            value = labels.get(prefix + suffix)
            if value is not None and value.strip():
                return prefix + suffix, value.strip()
    return None


def split_list(value: str) -> list[str]:
    """ "a, b,,c" → ["a", "b", "c"]."""
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_bool(value: str) -> bool | None:
    """Tolerant boolean: true/false, 1/0, yes/no, on/off (any case); None when not a boolean."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= _SNIPPET_LENGTH else text[: _SNIPPET_LENGTH - 3] + "...")


def parse_deployments(value: str, *, label: str) -> list[RecommendedDeployment]:
    """Parse a deployments label value; MalformedLabelError quoting the value when malformed."""
    text = value.strip()
    if len(text) > MAX_DEPLOYMENTS_LABEL_LENGTH:
        raise MalformedLabelError(
            f"label {label} is longer than {MAX_DEPLOYMENTS_LABEL_LENGTH} characters: {_snippet(text)}"
        )
    parsed: Any
    try:
        parsed = json.loads(text)
    except ValueError:
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise MalformedLabelError(
                f"label {label} is neither JSON nor a Python list of dicts: {_snippet(text)}"
            ) from None
    if isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list | tuple):
        raise MalformedLabelError(f"label {label} must be a list of objects: {_snippet(text)}")
    deployments: list[RecommendedDeployment] = []
    for index, entry in enumerate(parsed):
        deployments.append(_deployment(entry, index=index, label=label, text=text))
    return deployments


def _deployment(entry: object, *, index: int, label: str, text: str) -> RecommendedDeployment:
    where = f"label {label} entry {index}"
    if not isinstance(entry, dict):
        raise MalformedLabelError(f"{where} is not an object: {_snippet(text)}")
    fields: dict[str, Any] = {}
    for key in _DEPLOYMENT_STR_KEYS:
        item = entry.get(key)
        if item is None:
            continue
        if not isinstance(item, str):
            raise MalformedLabelError(f"{where}: {key} must be a string, got {item!r:.40}")
        if item.strip():
            fields[key] = item.strip()
    count = entry.get("gpuCount")
    if count is not None:
        # bool is an int subclass; True is not a GPU count.
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise MalformedLabelError(f"{where}: gpuCount must be a non-negative integer, got {count!r:.40}")
        fields["gpuCount"] = count
    return RecommendedDeployment.model_validate(fields)


def base_image_ref_from_env(env: Sequence[str] | None) -> str | None:
    """The value of AIM_BASE_IMAGE_REF in a config Env list (last definition wins, as in a shell)."""
    found: str | None = None
    for item in env or ():
        name, sep, value = item.partition("=")
        if sep and name == BASE_IMAGE_ENV and value.strip():
            found = value.strip()
    return found


def extract_image_metadata(
    labels: Mapping[str, str] | None, env: Sequence[str] | None = None
) -> ImageMetadata:
    """Build the image metadata from a config's Labels and Env. An image without labels gives
    metadata with only what exists (no error)."""
    labels = labels or {}
    model: dict[str, Any] = {}
    for suffix, field in (
        ("model.canonicalName", "canonicalName"),
        ("model.source", "source"),
        ("title", "title"),
        ("description.full", "descriptionFull"),
        ("release.notes", "releaseNotes"),
    ):
        found = aim_label(labels, suffix)
        if found:
            model[field] = found[1]
    for suffix, field in (
        ("model.tags", "tags"),
        ("model.versions", "versions"),
        ("model.variants", "variants"),
    ):
        found = aim_label(labels, suffix)
        if found and split_list(found[1]):
            model[field] = split_list(found[1])
    found = aim_label(labels, "hfToken.required")
    if found and parse_bool(found[1]) is not None:
        model["hfTokenRequired"] = parse_bool(found[1])
    found = _deployments_label(labels)
    if found:
        model["recommendedDeployments"] = parse_deployments(found[1], label=found[0])

    oci = {name: labels[OCI_PREFIX + name] for name in _OCI_FIELDS if labels.get(OCI_PREFIX + name)}

    metadata: dict[str, Any] = {}
    if model:
        metadata["model"] = ModelMetadata.model_validate(model)
    if oci:
        metadata["oci"] = OCIMetadata.model_validate(oci)
    if labels:
        metadata["originalLabels"] = dict(labels)
    base = base_image_ref_from_env(env)
    if base:
        metadata["baseImageRef"] = base
    return ImageMetadata.model_validate(metadata)
