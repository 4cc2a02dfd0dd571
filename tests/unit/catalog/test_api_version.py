"""The API version a user declared a model in, from managedFields and kubectl's annotation
(catalog/api_version.py). The entries are the shapes the real API server writes (checked on it
in tests/integration/test_profiles.py)."""

from __future__ import annotations

import json
from typing import Any

from aim_engine.catalog.api_version import LAST_APPLIED, declared_version

V1, V2 = "aim.eai.amd.com/v1alpha1", "aim.eai.amd.com/v1alpha2"


def entry(
    manager: str, operation: str, version: str, time: str, *, spec: bool = True, **extra: Any
) -> dict[str, Any]:
    fields: dict[str, Any] = {"f:metadata": {}}
    if spec:
        fields["f:spec"] = {}
    return {
        "manager": manager,
        "operation": operation,
        "apiVersion": version,
        "time": time,
        "fieldsV1": fields,
        **extra,
    }


def declared(entries: list[dict[str, Any]], annotations: dict[str, str] | None = None) -> str:
    return declared_version(entries, annotations, stored=V1, operator="aim-engine")


def test_server_side_apply_follows_the_latest_apply() -> None:
    assert declared([entry("kubectl", "Apply", V2, "2026-01-01T00:00:01Z")]) == V2
    assert declared([entry("kubectl", "Apply", V1, "2026-01-01T00:00:01Z")]) == V1
    # A later label edit in the preferred version does not change what was applied.
    labelled = [
        entry("kubectl", "Apply", V1, "2026-01-01T00:00:01Z"),
        entry("kubectl-label", "Update", V2, "2026-01-01T00:00:09Z", spec=False),
    ]
    assert declared(labelled) == V1


def test_client_side_apply_reads_the_last_applied_configuration() -> None:
    # What the API server keeps after `kubectl apply` of v1alpha1, then of v1alpha2 with the same spec.
    entries = [
        entry("kubectl-client-side-apply", "Update", V1, "2026-01-01T00:00:01Z"),
        entry("kubectl-client-side-apply", "Update", V2, "2026-01-01T00:00:03Z", spec=False),
    ]
    assert declared(entries, {LAST_APPLIED: json.dumps({"apiVersion": V2, "kind": "AIMModel"})}) == V2
    back = [entry("kubectl-client-side-apply", "Update", V1, "2026-01-01T00:00:04Z")]
    assert declared(back, {LAST_APPLIED: json.dumps({"apiVersion": V1})}) == V1


def test_plain_writes_and_the_operators_own_are_told_apart() -> None:
    assert declared([entry("kubectl-create", "Update", V2, "2026-01-01T00:00:01Z")]) == V2
    ours = [
        entry("kubectl-create", "Update", V1, "2026-01-01T00:00:01Z"),
        entry("aim-engine", "Apply", V2, "2026-01-01T00:00:05Z"),
    ]
    assert declared(ours) == V1
    status = [
        entry("kubectl-create", "Update", V2, "2026-01-01T00:00:01Z"),
        entry("someone", "Update", V1, "2026-01-01T00:00:05Z", subresource="status"),
    ]
    assert declared(status) == V2
    assert declared([]) == V1
    assert declared([], {LAST_APPLIED: "not json"}) == V1


def test_equal_times_go_to_the_later_entry() -> None:
    same = [
        entry("a", "Update", V1, "2026-01-01T00:00:01Z"),
        entry("b", "Update", V2, "2026-01-01T00:00:01Z"),
    ]
    assert declared(same) == V2
