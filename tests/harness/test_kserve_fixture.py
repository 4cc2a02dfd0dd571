"""The project's InferenceService CRD fixture, and the checks that keep it true to KServe."""

from __future__ import annotations

from tests.support.kserve import FIXTURE_CRD, full_schema, pruned_paths, schema_mismatches, v1beta1_schema


def test_fixture_is_structural_and_prunes() -> None:
    schema = v1beta1_schema(FIXTURE_CRD)
    spec = schema["properties"]["spec"]
    assert "x-kubernetes-preserve-unknown-fields" not in spec
    written = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "x"},
        "spec": {
            "predictor": {
                "model": {
                    "modelFormat": {"name": "aim"},
                    "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
                    "resources": {"limits": {"amd.com/gpu": 1}},
                    "unknown": True,
                },
                "nodeSelector": {"amd.com/gpu.device-id": "74a1"},
            },
            "other": {},
        },
        "status": {"anything": {"goes": 1}},
    }
    assert sorted(pruned_paths(written, schema)) == [".spec.other", ".spec.predictor.model.unknown"]


def test_mismatch_finder_reports_types_and_missing_fields() -> None:
    theirs = {"type": "object", "properties": {"a": {"type": "integer", "format": "int32"}}}
    ours = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
    }
    assert sorted(schema_mismatches(ours, theirs)) == [
        ".a: ours ('string', None), KServe ('integer', 'int32')",
        ".b: not in KServe's schema",
    ]


def test_fixture_matches_kserve_full_crd() -> None:
    assert list(schema_mismatches(v1beta1_schema(FIXTURE_CRD), full_schema())) == []
