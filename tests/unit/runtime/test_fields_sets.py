"""Cached objects share one read-only fields set per distinct set of field names."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from aim_engine.api.v1alpha1.template import AIMClusterServiceTemplate
from aim_engine.runtime.cache import KindCache
from aim_engine.runtime.fields_sets import ReadOnlyFieldsSet, share_fields_sets


def template(name: str) -> dict[str, Any]:
    condition = {"type": "Ready", "status": "True", "reason": "TemplateReady", "message": "ok"}
    return {
        "apiVersion": AIMClusterServiceTemplate.API_VERSION,
        "kind": "AIMClusterServiceTemplate",
        "metadata": {"name": name, "resourceVersion": "5", "labels": {"a": "b"}},
        "spec": {"modelName": "m", "hardware": {"gpu": {"requests": 1, "model": "MI300X"}}},
        "status": {
            "status": "Ready",
            "conditions": [condition, {**condition, "type": "GPUReady"}],
            "resolvedHardware": {"gpu": {"requests": 1}},
        },
    }


def parsed(name: str) -> AIMClusterServiceTemplate:
    return AIMClusterServiceTemplate.model_validate(template(name))


def test_equal_objects_share_their_fields_sets_down_to_list_items() -> None:
    a, b = parsed("a"), parsed("b")
    share_fields_sets(a)
    share_fields_sets(b)
    assert a.status is not None and b.status is not None
    assert a.status.conditions is not None and b.status.conditions is not None
    pairs = [
        (a, b),
        (a.metadata, b.metadata),
        (a.spec, b.spec),
        (a.spec.hardware, b.spec.hardware),
        (a.status, b.status),
        (a.status.conditions[0], b.status.conditions[1]),  # the same fields, other values
        (a.status.resolved_hardware, b.status.resolved_hardware),
    ]
    for x, y in pairs:
        assert x is not None and y is not None
        assert type(x.__pydantic_fields_set__) is ReadOnlyFieldsSet, type(x).__name__
        assert x.__pydantic_fields_set__ is y.__pydantic_fields_set__, type(x).__name__
    # Different fields set, different sets.
    assert a.spec.hardware is not None and a.spec.hardware.gpu is not None
    assert a.spec.hardware.gpu.__pydantic_fields_set__ == {"requests", "model"}
    assert a.status.resolved_hardware is not None and a.status.resolved_hardware.gpu is not None
    assert a.status.resolved_hardware.gpu.__pydantic_fields_set__ == {"requests"}


def test_dumps_are_unchanged_by_sharing() -> None:
    a = parsed("a")
    before = a.dump()
    share_fields_sets(a)
    assert a.dump() == before == template("a")


def test_a_cached_object_refuses_changes_and_its_copies_accept_them() -> None:
    cache: KindCache[AIMClusterServiceTemplate] = KindCache(AIMClusterServiceTemplate)
    cached = parsed("a")
    cache.put(cached)
    assert cached.status is not None
    with pytest.raises(TypeError, match=r"informer cache.*change a copy"):
        cached.status.hardware_summary = "2 x MI300X"
    with pytest.raises(TypeError, match="informer cache"):
        cached.__pydantic_fields_set__.add("x")
    changed = cached.model_copy(update={"spec": cached.spec.model_copy(update={"model_name": "n"})})
    assert changed.spec.model_name == "n" and "spec" in changed.__pydantic_fields_set__
    deep = cached.model_copy(deep=True)
    assert deep.status is not None
    deep.status.hardware_summary = "2 x MI300X"
    assert deep.dump()["status"]["hardwareSummary"] == "2 x MI300X"
    assert type(copy.copy(cached).__pydantic_fields_set__) is set
    assert pickle.loads(pickle.dumps(cached)).dump() == cached.dump()
