"""`render -o table`: one table per kind with the columns `kubectl get` shows for it (the CRDs'
printer columns without the wide ones, and without Age: render has no clock), one line per
object."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aim_engine.api.crds import CRDS, Column

# Kinds that are not ours: the columns that say most about them here.
_OTHER_COLUMNS: dict[str, tuple[Column, ...]] = {
    "Node": (
        Column("GPU", ".metadata.labels.amd\\.com/gpu\\.device-id"),
        Column("GPUs", ".status.allocatable.amd\\.com/gpu"),
    ),
    "InferenceService": (
        Column("Template", ".metadata.labels.aim\\.eai\\.amd\\.com/template"),
        Column("Image", ".spec.predictor.containers[0].image"),
        Column("Ready", ".status.conditions[?(@.type=='Ready')].status"),
    ),
}
_STEP = re.compile(r"\.((?:[^.\[\\]|\\.)+)|\[(\d+)\]|\[\?\(@\.(\w+)==['\"]([^'\"]*)['\"]\)\]")


def columns_of(kind: str) -> tuple[Column, ...]:
    if kind in _OTHER_COLUMNS:
        return _OTHER_COLUMNS[kind]
    spec = next((s for s in CRDS if s.kind == kind), None)
    if spec is None:
        return ()
    # As `kubectl get` without -o wide: no priority columns, and no Age (render has no clock).
    return tuple(c for c in spec.columns if c.type != "date" and not c.priority)


def json_path(obj: Any, path: str) -> Any:
    """The value at a kubectl-style JSONPath: `.a.b`, `.a\\.b` (a dot in a key), `[0]` and
    `[?(@.key=='value')]`; None when absent."""
    value = obj
    for step in _STEP.finditer(path):
        key, index, field, wanted = step.groups()
        if key is not None:
            value = value.get(key.replace("\\.", ".")) if isinstance(value, Mapping) else None
        elif index is not None:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
        else:
            items = value if isinstance(value, list) else []
            value = next((i for i in items if isinstance(i, Mapping) and str(i.get(field)) == wanted), None)
        if value is None:
            return None
    return value


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def table(objects: Iterable[Mapping[str, Any]]) -> str:
    by_kind: dict[str, list[Mapping[str, Any]]] = {}
    for obj in objects:
        by_kind.setdefault(str(obj["kind"]), []).append(obj)
    blocks = []
    for kind, items in by_kind.items():
        cols = columns_of(kind)
        namespaced = any(o["metadata"].get("namespace") for o in items)
        header = ["KIND", *(["NAMESPACE"] if namespaced else []), "NAME", *(c.name.upper() for c in cols)]
        rows = [header]
        for obj in items:
            meta = obj["metadata"]
            row = [kind, *([meta.get("namespace", "")] if namespaced else []), meta["name"]]
            row += [_cell(json_path(obj, c.json_path)) for c in cols]
            rows.append(row)
        blocks.append("\n".join(aligned(rows)) + "\n")
    return "\n".join(blocks)


def aligned(rows: Sequence[Sequence[str]], *, separator: str = "   ", indent: str = "") -> list[str]:
    """The rows as lines of left-aligned columns (what `render -o table` and explain print)."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        indent + separator.join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
