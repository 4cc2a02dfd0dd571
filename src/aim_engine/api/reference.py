"""A Markdown reference of every AIM kind, generated from the same schemas as the CRDs."""

from __future__ import annotations

from typing import Any

from aim_engine.api.crds import CRDS, object_schema

Schema = dict[str, Any]


def _type(node: Schema) -> str:
    if node.get("x-kubernetes-int-or-string"):
        return "quantity" if "pattern" in node else "int or string"
    kind = node.get("type", "any")
    if kind == "array":
        return f"[]{_type(node.get('items', {}))}"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"map[string]{_type(node['additionalProperties'])}"
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    return str(kind)


def _rules(node: Schema) -> str:
    notes = []
    for key, label in (
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("minLength", "min length"),
        ("maxLength", "max length"),
    ):
        if key in node:
            notes.append(f"{label} {node[key]}")
    if "pattern" in node and not node.get("x-kubernetes-int-or-string"):
        notes.append(f"pattern `{node['pattern']}`")
    if "maxItems" in node:
        notes.append(f"at most {node['maxItems']} items")
    for rule in node.get("x-kubernetes-validations", []):
        notes.append(str(rule["message"]))
    return "; ".join(notes)


def _rows(node: Schema, path: str, required: bool, out: list[str]) -> None:
    description = " ".join(str(node.get("description", "")).split())
    rules = _rules(node)
    if rules:
        description = f"{description} ({rules})" if description else rules
    out.append(f"| `{path}` | {_type(node)} | {'yes' if required else ''} | {description} |")
    child = node
    suffix = ""
    if node.get("type") == "array" and isinstance(node.get("items"), dict):
        child, suffix = node["items"], "[]"
    needed = set(child.get("required", []))
    for name, sub in child.get("properties", {}).items():
        _rows(sub, f"{path}{suffix}.{name}", name in needed, out)


def markdown() -> str:
    lines = [
        "# CRD reference",
        "",
        "Generated from the API types by `aim-engine crds --reference`; do not edit by hand.",
        "Every kind is in the `aim` category (`kubectl get aim`).",
        "",
    ]
    for crd in CRDS:
        versions = ", ".join(v.cls.API_VERSION for v in crd.versions)
        scope = "namespaced" if crd.namespaced else "cluster-scoped"
        lines += [
            f"## {crd.kind}",
            "",
            f"{versions}; {scope}; short name `{', '.join(crd.short_names)}`.",
            "",
            "| field | type | required | description |",
            "| --- | --- | --- | --- |",
        ]
        schema = object_schema(crd.versions[0].cls)
        rows: list[str] = []
        required = set(schema.get("required", []))
        for part in ("spec", "status"):
            if part in schema["properties"]:
                _rows(schema["properties"][part], part, part in required, rows)
        lines += [*rows, ""]
    return "\n".join(lines)
