"""Server-side-apply no-op detection and the merge helpers (pure)."""

from __future__ import annotations

from typing import Any

from aim_engine.runtime.fields import (
    apply_body,
    build_fields_v1,
    deep_equal,
    field_set_view,
    is_apply_noop,
    merge_patch,
    prune_none,
    scalar_equal,
)

M = "aim-engine"

OWNER = {
    "apiVersion": "runtime.aim-engine.test/v1",
    "kind": "Gadget",
    "name": "g",
    "uid": "u-1",
    "controller": True,
    "blockOwnerDeletion": True,
}


def body(**extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "ns", "labels": {"a": "1"}, "ownerReferences": [OWNER]},
        "data": {"size": "3"},
        **extra,
    }


# What a real API server records for `body()` applied by aim-engine (shape copied from a
# kube-apiserver response, values ours).
SERVER_FIELDS: dict[str, Any] = {
    "f:data": {".": {}, "f:size": {}},
    "f:metadata": {
        "f:labels": {".": {}, "f:a": {}},
        "f:ownerReferences": {
            ".": {},
            'k:{"uid":"u-1"}': {},  # an atomic struct: kube-apiserver lists no fields inside
        },
    },
}


def live(fields: dict[str, Any] | None = SERVER_FIELDS, **overrides: Any) -> dict[str, Any]:
    obj = body()
    obj["metadata"] = {
        **obj["metadata"],
        "uid": "x",
        "resourceVersion": "7",
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "labels": {"a": "1", "added-by-someone-else": "y"},
        "ownerReferences": [OWNER],
        "managedFields": [
            {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:metadata": {"f:labels": {}}}},
        ],
    }
    if fields is not None:
        obj["metadata"]["managedFields"].append(
            {
                "manager": M,
                "operation": "Apply",
                "apiVersion": "v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": fields,
            }
        )
    obj.update(overrides)
    return obj


def test_identical_apply_is_a_noop() -> None:
    assert is_apply_noop(body(), live(), M)


def test_a_changed_value_is_not_a_noop() -> None:
    b = body()
    b["data"] = {"size": "4"}
    assert not is_apply_noop(b, live(), M)


def test_a_removed_field_is_not_a_noop_even_though_every_desired_value_is_present() -> None:
    b = body()
    b["metadata"]["labels"] = {}
    del b["metadata"]["labels"]
    assert not is_apply_noop(b, live(), M)


def test_an_added_field_is_not_a_noop() -> None:
    b = body()
    b["data"]["extra"] = "1"
    assert not is_apply_noop(b, live(), M)


def test_fields_of_other_managers_and_server_metadata_do_not_matter() -> None:
    assert is_apply_noop(body(), live(annotations_by_others={"x": "y"}), M)


def test_without_our_managed_fields_entry_it_applies() -> None:
    assert not is_apply_noop(body(), live(fields=None), M)


def test_two_apply_entries_for_our_manager_are_not_trusted() -> None:
    obj = live()
    obj["metadata"]["managedFields"].append(dict(obj["metadata"]["managedFields"][-1], apiVersion="v2"))
    assert not is_apply_noop(body(), obj, M)


def test_status_subresource_entry_is_not_the_main_one() -> None:
    obj = live(fields=None)
    obj["metadata"]["managedFields"].append(
        {"manager": M, "operation": "Apply", "subresource": "status", "fieldsV1": SERVER_FIELDS}
    )
    assert not is_apply_noop(body(), obj, M)


def test_identity_fields_in_the_field_set_are_tolerated() -> None:
    fields = {**SERVER_FIELDS, "f:apiVersion": {}, "f:kind": {}}
    fields["f:metadata"] = {**SERVER_FIELDS["f:metadata"], "f:name": {}, "f:namespace": {}}
    assert is_apply_noop(body(), live(fields=fields), M)


def test_owner_reference_items_with_fields_listed_are_compared_field_by_field() -> None:
    fields = {**SERVER_FIELDS}
    fields["f:metadata"] = {
        **SERVER_FIELDS["f:metadata"],
        "f:ownerReferences": {'k:{"uid":"u-1"}': {".": {}, **{f"f:{k}": {} for k in OWNER}}},
    }
    assert is_apply_noop(body(), live(fields=fields), M)
    changed = body()
    changed["metadata"]["ownerReferences"] = [dict(OWNER, controller=False)]
    assert not is_apply_noop(changed, live(fields=fields), M)


def test_a_different_owner_is_not_a_noop() -> None:
    b = body()
    b["metadata"]["ownerReferences"] = [dict(OWNER, uid="u-2")]
    assert not is_apply_noop(b, live(), M)


def test_true_is_not_one() -> None:
    b = body(spec={"enabled": True})
    fields = {**SERVER_FIELDS, "f:spec": {".": {}, "f:enabled": {}}}
    assert is_apply_noop(b, live(fields=fields, spec={"enabled": True}), M)
    assert not is_apply_noop(b, live(fields=fields, spec={"enabled": 1}), M)
    assert scalar_equal(1, 1.0)
    assert not scalar_equal(True, 1)
    assert not scalar_equal("1", 1)


def test_atomic_list_compares_items_as_subsets_and_lengths() -> None:
    b = body(spec={"args": [{"name": "a"}, {"name": "b"}]})
    fields = {**SERVER_FIELDS, "f:spec": {".": {}, "f:args": {}}}
    defaulted = [{"name": "a", "x": 1}, {"name": "b", "x": 1}]
    assert is_apply_noop(b, live(fields=fields, spec={"args": defaulted}), M)
    assert not is_apply_noop(b, live(fields=fields, spec={"args": defaulted[:1]}), M)


def test_associative_list_by_key_with_server_defaulted_key_field() -> None:
    want = body(spec={"ports": [{"port": 80}]})
    fields = {
        **SERVER_FIELDS,
        "f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}}},
    }
    have = {"ports": [{"port": 80, "protocol": "TCP"}, {"port": 90, "protocol": "TCP"}]}
    assert is_apply_noop(want, live(fields=fields, spec=have), M)
    want["spec"]["ports"].append({"port": 443})
    assert not is_apply_noop(want, live(fields=fields, spec=have), M)


def test_set_list() -> None:
    b = body()
    b["metadata"]["finalizers"] = ["x", "y"]
    fields = {**SERVER_FIELDS}
    fields["f:metadata"] = {
        **SERVER_FIELDS["f:metadata"],
        "f:finalizers": {".": {}, 'v:"x"': {}, 'v:"y"': {}},
    }
    obj = live(fields=fields)
    obj["metadata"]["finalizers"] = ["y", "x", "other"]
    assert is_apply_noop(b, obj, M)
    b["metadata"]["finalizers"] = ["x"]
    assert not is_apply_noop(b, obj, M)


def test_build_fields_v1_round_trips_through_the_noop_check() -> None:
    b = body(spec={"list": [1, 2], "nested": {"deep": {"x": "y"}}, "empty": {}})
    b["metadata"]["finalizers"] = ["f"]
    fields = build_fields_v1(field_set_view(b))
    assert fields["f:metadata"]["f:ownerReferences"]['k:{"uid":"u-1"}'] == {}
    assert fields["f:metadata"]["f:finalizers"] == {".": {}, 'v:"f"': {}}
    assert fields["f:spec"]["f:list"] == {}
    obj = live(fields=fields, spec=b["spec"])
    obj["metadata"]["finalizers"] = ["f"]
    assert is_apply_noop(b, obj, M)


def test_apply_body_drops_status_server_metadata_and_nones() -> None:
    dumped = {
        "apiVersion": "v1",
        "kind": "X",
        "metadata": {"name": "n", "resourceVersion": "3", "uid": "u", "managedFields": [], "labels": None},
        "spec": {"a": None, "b": 1},
        "status": {"phase": "Ready"},
    }
    assert apply_body(dumped) == {
        "apiVersion": "v1",
        "kind": "X",
        "metadata": {"name": "n"},
        "spec": {"b": 1},
    }


def test_merge_patch_replaces_the_whole_tree() -> None:
    old = {"phase": "A", "gone": 1, "nested": {"keep": 1, "drop": 2}, "list": [1, 2]}
    new = {"phase": "B", "nested": {"keep": 1}, "list": [1, 2], "new": {"x": 1}}
    assert merge_patch(old, new) == {"phase": "B", "gone": None, "nested": {"drop": None}, "new": {"x": 1}}
    assert merge_patch(new, new) == {}


def test_prune_and_deep_equal() -> None:
    assert prune_none({"a": None, "b": [{"c": None, "d": 1}]}) == {"b": [{"d": 1}]}
    assert deep_equal({"a": [1, {"b": True}]}, {"a": [1.0, {"b": True}]})
    assert not deep_equal({"a": True}, {"a": 1})
    assert not deep_equal({"a": 1}, {"a": 1, "b": 2})
