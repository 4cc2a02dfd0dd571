"""The CRDs in deploy/crds are exactly what the types generate, and are structural."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aim_engine.api.crds import all_crds, crd_file_name
from aim_engine.cli.crds import render_yaml

CRD_DIR = Path(__file__).parents[3] / "deploy" / "crds"


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        out.append((path, node))
        for key, value in node.get("properties", {}).items():
            out.extend(_walk(value, f"{path}.{key}"))
        if isinstance(node.get("items"), dict):
            out.extend(_walk(node["items"], f"{path}[]"))
        if isinstance(node.get("additionalProperties"), dict):
            out.extend(_walk(node["additionalProperties"], f"{path}{{}}"))
    return out


def test_deploy_crds_match_the_types() -> None:
    expected = {crd_file_name(crd): render_yaml(crd) for crd in all_crds()}
    actual = {p.name: p.read_text() for p in CRD_DIR.glob("*.yaml")}
    assert sorted(actual) == sorted(expected), "run: uv run aim-engine crds --output-dir deploy/crds"
    for name, text in expected.items():
        assert actual[name] == text, f"{name} drifted; run: uv run aim-engine crds --output-dir deploy/crds"


@pytest.mark.parametrize("crd", all_crds(), ids=lambda c: c["metadata"]["name"])
def test_crd_is_structural(crd: dict[str, Any]) -> None:
    text = render_yaml(crd)
    assert "$ref" not in text
    for version in crd["spec"]["versions"]:
        schema = version["schema"]["openAPIV3Schema"]
        for path, node in _walk(schema):
            if "anyOf" in node:
                assert node.get("x-kubernetes-int-or-string"), f"{path}: anyOf only for int-or-string"
                continue
            assert node.get("type") or node.get("x-kubernetes-preserve-unknown-fields"), f"{path} has no type"
            if path == ".status":
                # The one default: the document's initial state of a status nobody wrote yet.
                assert node.get("default", {"status": "Pending"}) == {"status": "Pending"}, path
                continue
            assert "default" not in node, f"{path}: CRD defaults would change what users wrote"


@pytest.mark.parametrize("crd", all_crds(), ids=lambda c: c["metadata"]["name"])
def test_crd_presentation(crd: dict[str, Any]) -> None:
    names = crd["spec"]["names"]
    assert "aim" in names["categories"]
    assert names["shortNames"]
    assert sum(v["storage"] for v in crd["spec"]["versions"]) == 1
    for version in crd["spec"]["versions"]:
        assert version["subresources"] == {"status": {}}
        columns = {c["name"] for c in version["additionalPrinterColumns"]}
        assert "Age" in columns
        if names["kind"] not in ("AIMRuntimeConfig", "AIMClusterRuntimeConfig"):
            assert columns & {"Status"}, names["kind"]
            assert columns & {"Image", "Model"}, names["kind"]


def test_models_are_served_in_both_versions() -> None:
    served = {
        crd["spec"]["names"]["kind"]: [v["name"] for v in crd["spec"]["versions"] if v["served"]]
        for crd in all_crds()
    }
    assert served["AIMModel"] == ["v1alpha1", "v1alpha2"]
    assert served["AIMClusterModel"] == ["v1alpha1", "v1alpha2"]
    assert served["AIMProfile"] == ["v1alpha2"]


def test_reference_doc_matches_the_types() -> None:
    from aim_engine.api.reference import markdown

    doc = Path(__file__).parents[3] / "docs" / "crd-reference.md"
    assert doc.read_text() == markdown(), "run: uv run aim-engine crds --reference > docs/crd-reference.md"
