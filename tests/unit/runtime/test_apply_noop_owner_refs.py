"""kube-apiserver 1.34 records an ownerReference (an atomic struct) as `k:{"uid":...}: {}` with no
field entries; an apply of the same object must still be recognised as a no-op."""

from __future__ import annotations

from typing import Any

from aim_engine.runtime.fields import is_apply_noop

OWNER = {
    "apiVersion": "aim.eai.amd.com/v1alpha1",
    "kind": "AIMClusterModel",
    "name": "m1",
    "uid": "u-1",
    "controller": True,
    "blockOwnerDeletion": True,
}
BODY: dict[str, Any] = {
    "apiVersion": "aim.eai.amd.com/v1alpha1",
    "kind": "AIMClusterServiceTemplate",
    "metadata": {"name": "t", "labels": {"a": "1"}, "ownerReferences": [OWNER]},
    "spec": {"modelName": "m1", "hardware": {"gpu": {"requests": 1}}},
}
FIELDS = {
    "f:metadata": {"f:labels": {"f:a": {}}, "f:ownerReferences": {'k:{"uid":"u-1"}': {}}},
    "f:spec": {"f:hardware": {"f:gpu": {"f:requests": {}}}, "f:modelName": {}},
}


def live(owner: dict[str, Any]) -> dict[str, Any]:
    meta = {
        **BODY["metadata"],
        "ownerReferences": [owner],
        "managedFields": [{"manager": "aim-engine", "operation": "Apply", "fieldsV1": FIELDS}],
    }
    return {**BODY, "metadata": meta}


def test_atomic_owner_reference_item_matches_by_value() -> None:
    assert is_apply_noop(BODY, live(OWNER), "aim-engine")


def test_atomic_owner_reference_item_with_other_values_does_not_match() -> None:
    assert not is_apply_noop(BODY, live({**OWNER, "controller": False}), "aim-engine")
