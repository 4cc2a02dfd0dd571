"""What the API server would say of an input object that render accepts by type: the CEL rules
(`x-kubernetes-validations`) of the CRDs aim-engine ships, evaluated on the object as the API
server evaluates them, with its field paths and wording:

    spec: Invalid value: "object": spec.image is required unless spec.modelSources is set

The structural checks (types, patterns, enums, bounds) are the pydantic types the CRDs are
generated from; `api.meta.field_path` writes their locations the way the API server does
(`spec.modelSources[0].modelId`). CEL is evaluated with the `common-expression-language`
package (dependency group `render`); where it is not installed, `cel_available()` is False and
render says that it skipped the rules.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any

from aim_engine.api.crds import CRDS, object_schema
from aim_engine.api.meta import field_path

Schema = dict[str, Any]


def _load_cel() -> ModuleType | None:
    try:  # the dependency group `render`; the operator image leaves it out
        return importlib.import_module("cel")
    except ImportError:
        return None


_cel = _load_cel()


def cel_available() -> bool:
    return _cel is not None


@functools.cache
def _schemas() -> dict[tuple[str, str], Schema]:
    return {
        (version.cls.API_VERSION, version.cls.KIND): object_schema(version.cls)
        for spec in CRDS
        for version in spec.versions
    }


def cel_errors(doc: Mapping[str, Any]) -> list[str]:
    """The CEL rules `doc` breaks, each as the API server reports it; [] for kinds without rules
    or when CEL is not available."""
    if _cel is None:
        return []
    schema = _schemas().get((str(doc.get("apiVersion")), str(doc.get("kind"))))
    if schema is None:
        return []
    errors = []
    # The API server drops null fields before it validates: `has()` must not see them.
    for path, node, value in _walk(schema, _without_nulls(dict(doc)), []):
        for rule in node.get("x-kubernetes-validations", ()):
            # Transition rules (immutable fields) judge an update against the stored object:
            # a catalog in render is created, never updated.
            if "oldSelf" in rule["rule"]:
                continue
            if not _holds(rule["rule"], value):
                errors.append(f'{field_path(path)}: Invalid value: "object": {rule["message"]}')
    return errors


def _walk(schema: Schema, value: Any, path: list[str | int]) -> Iterator[tuple[list[str | int], Schema, Any]]:
    """Every (path, schema node, value) pair of `value` that has a schema, depth first: the
    order the API server reports in."""
    if path:
        yield path, schema, value
    if isinstance(value, dict):
        for key, child in (schema.get("properties") or {}).items():
            if key in value and value[key] is not None:
                yield from _walk(child, value[key], [*path, key])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                yield from _walk(extra, item, [*path, key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            yield from _walk(schema["items"], item, [*path, i])


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _holds(rule: str, value: Any) -> bool:
    assert _cel is not None
    try:
        result = _cel.evaluate(rule, {"self": value})
    except (RuntimeError, TypeError, ValueError):
        # A value of the wrong type: the structural check names it, as the API server's does.
        return True
    return result is True
