"""KServe's InferenceService schema in the tests.

The session's API server serves the project's own fixture (``tests/data/crds/``): a structural
schema of the fields aim-engine writes, which prunes everything else. KServe's full CRD comes
from the KServe module that ``tests/k8sbin/build.sh kserve`` builds the controller from (the
serving tests run on it); the tests check the fixture against it (`schema_mismatches`) and what
the operator writes (`pruned_paths`), so the fixture cannot drift from KServe's real API
unnoticed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.support.kube import built, built_if_cached

REPO = Path(__file__).resolve().parents[2]
FULL_CRD_NAME = "serving.kserve.io_inferenceservices.yaml"
FIXTURE_CRD = REPO / "tests" / "data" / "crds" / "serving.kserve.io_inferenceservices.yaml"


def v1beta1_schema(path: Path) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open("rb") as f:
        crd = yaml.load(f, Loader=loader)
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta1")
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def full_schema() -> dict[str, Any]:
    """KServe's full v1beta1 schema (built first if it is not yet)."""
    return v1beta1_schema(built("kserve") / "crds" / FULL_CRD_NAME)


def full_schema_if_built() -> dict[str, Any] | None:
    """KServe's full v1beta1 schema, or None when KServe is not built yet (unit tests never
    build: `scripts/test` builds it before they run)."""
    found = built_if_cached("kserve")
    return v1beta1_schema(found / "crds" / FULL_CRD_NAME) if found is not None else None


def _kind(schema: Mapping[str, Any]) -> tuple[object, ...]:
    if schema.get("x-kubernetes-int-or-string"):
        return ("int-or-string",)
    return (schema.get("type"), schema.get("format"))


def schema_mismatches(ours: Mapping[str, Any], theirs: Mapping[str, Any], path: str = "") -> Iterator[str]:
    """Every place where `ours` declares a field that `theirs` lacks or types differently."""
    if _kind(ours) != _kind(theirs):
        yield f"{path or '.'}: ours {_kind(ours)}, KServe {_kind(theirs)}"
        return
    for name, sub in (ours.get("properties") or {}).items():
        other = (theirs.get("properties") or {}).get(name)
        if other is None:
            if not theirs.get("x-kubernetes-preserve-unknown-fields"):
                yield f"{path}.{name}: not in KServe's schema"
            continue
        yield from schema_mismatches(sub, other, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(ours.get(key), Mapping):
            other = theirs.get(key)
            if not isinstance(other, Mapping):
                yield f"{path}.{key}: not in KServe's schema"
            else:
                yield from schema_mismatches(ours[key], other, f"{path}[{key}]")


def pruned_paths(value: Any, schema: Mapping[str, Any], path: str = "") -> Iterator[str]:
    """The fields of `value` that the API server would prune under `schema` (structural
    pruning: unknown properties of objects that neither preserve unknown fields nor declare
    additionalProperties)."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, Mapping):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if path == "" and key == "metadata":
                continue  # object metadata is validated by the API server, not the schema
            if properties is not None and key in properties:
                yield from pruned_paths(item, properties[key], f"{path}.{key}")
            elif isinstance(extra, Mapping):
                yield from pruned_paths(item, extra, f"{path}.{key}")
            else:
                yield f"{path}.{key}"
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            yield from pruned_paths(item, schema["items"], f"{path}[{index}]")
