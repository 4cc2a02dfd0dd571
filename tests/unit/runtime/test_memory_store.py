"""MemoryStore behaves like the API server for the things reconcilers observe."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from aim_engine.api.core import Node, Secret
from aim_engine.api.meta import ObjectKey
from aim_engine.runtime import Conflict, KindNotWatched, MemoryStore
from aim_engine.runtime.store import ChangeEvent
from tests.support.gadgets import ClusterGadget, ConfigMap, Gadget, GadgetSpec, GadgetStatus


def gadget(name: str = "g", ns: str = "ns", size: int = 1, **spec: Any) -> Gadget:
    return Gadget.new(name, ns, spec=GadgetSpec(size=size, **spec))


def make_store() -> MemoryStore:
    return MemoryStore([Gadget, ClusterGadget, ConfigMap, Secret, Node])


async def test_apply_creates_with_server_metadata() -> None:
    store = make_store()
    created = await store.apply(gadget())
    meta = created.metadata
    assert meta.uid and meta.resource_version and meta.creation_timestamp
    assert meta.generation == 1
    assert store.get(Gadget, "g", "ns") == created
    assert store.writes["apply", "Gadget"] == 1
    (entry,) = created.dump()["metadata"]["managedFields"]
    assert entry["manager"] == "aim-engine" and entry["operation"] == "Apply"
    assert entry["fieldsV1"] == {"f:spec": {".": {}, "f:size": {}}}


async def test_identical_apply_is_skipped_and_changes_nothing() -> None:
    store = make_store()
    first = await store.apply(gadget())
    again = await store.apply(gadget())
    assert again.metadata.resource_version == first.metadata.resource_version
    assert store.writes["apply", "Gadget"] == 1


async def test_generation_moves_on_spec_changes_only() -> None:
    store = make_store()
    await store.apply(gadget())
    labelled = gadget()
    labelled.metadata.labels = {"a": "b"}
    g = await store.apply(labelled)
    assert g.metadata.generation == 1
    g = await store.apply_status(g.model_copy(update={"status": GadgetStatus(phase="Ready")}))
    assert g.metadata.generation == 1
    changed = gadget(size=2)
    changed.metadata.labels = {"a": "b"}
    g = await store.apply(changed)
    assert g.metadata.generation == 2


async def test_fields_no_longer_applied_are_removed_but_others_fields_stay() -> None:
    store = make_store()
    labelled = gadget(config_ref="cfg")
    labelled.metadata.labels = {"mine": "1"}
    await store.apply(labelled)
    # Another client adds a label; our next apply must not remove it.
    other = store.get(Gadget, "g", "ns")
    assert other is not None
    other = other.model_copy(deep=True)
    assert other.metadata.labels is not None
    other.metadata.labels["theirs"] = "2"
    store.update(other)
    g = await store.apply(gadget())
    assert g.labels == {"theirs": "2"}
    assert g.spec.config_ref is None
    assert store.writes["apply", "Gadget"] == 2


async def test_status_is_a_separate_subresource() -> None:
    store = make_store()
    g = await store.apply(gadget())
    with_status = g.model_copy(update={"status": GadgetStatus(phase="Ready")})
    # apply never writes status ...
    g2 = await store.apply(with_status)
    assert g2.status is None
    # ... apply_status writes only status ...
    g3 = await store.apply_status(with_status.model_copy(update={"spec": GadgetSpec(size=99)}))
    assert g3.status == GadgetStatus(phase="Ready")
    assert g3.spec.size == 1
    # ... and an unchanged status is not written.
    writes = store.writes["status", "Gadget"]
    await store.apply_status(g3)
    assert store.writes["status", "Gadget"] == writes


async def test_stale_status_write_conflicts() -> None:
    store = make_store()
    g = await store.apply(gadget())
    await store.apply(gadget(size=2))  # someone changed it after we read `g`
    with pytest.raises(Conflict):
        await store.apply_status(g.model_copy(update={"status": GadgetStatus(phase="Ready")}))
    with pytest.raises(Conflict, match="was deleted"):
        await store.apply_status(gadget("missing").model_copy(update={"status": GadgetStatus(phase="x")}))


async def test_owner_references_and_garbage_collection() -> None:
    store = make_store()
    owner = await store.apply(gadget())
    child = await store.apply(ConfigMap.new("c", "ns", data={"a": "1"}), owner=owner)
    (ref,) = child.metadata.owner_references or []
    assert (ref.kind, ref.name, ref.uid, ref.controller, ref.block_owner_deletion) == (
        "Gadget",
        "g",
        owner.metadata.uid,
        True,
        True,
    )
    grandchild = await store.apply(ConfigMap.new("gc", "ns"), owner=child)
    assert grandchild.metadata.owner_references
    other_owner = await store.apply(gadget("h"))
    moved = await store.apply(ConfigMap.new("moved", "ns"), owner=owner)
    moved = await store.apply(ConfigMap.new("moved", "ns"), owner=other_owner)
    # Our apply no longer names the first owner: its reference goes, as on the API server.
    assert [r.name for r in moved.metadata.owner_references or ()] == ["h"]
    shared = await store.apply(ConfigMap.new("shared", "ns"), owner=owner)
    by_someone_else = shared.model_copy(deep=True)
    assert by_someone_else.metadata.owner_references is not None
    by_someone_else.metadata.owner_references.append(other_owner.owner_reference(controller=False))
    store.update(by_someone_else)

    assert await store.delete(Gadget, "g", "ns")
    assert store.get(ConfigMap, "c", "ns") is None
    assert store.get(ConfigMap, "gc", "ns") is None
    assert store.get(ConfigMap, "shared", "ns") is not None  # still has a live owner
    assert not await store.delete(Gadget, "g", "ns")
    with pytest.raises(ValueError, match="uid"):
        await store.apply(ConfigMap.new("x", "ns"), owner=gadget("not-from-store"))


async def test_finalizers_hold_deletion_until_removed() -> None:
    store = make_store()
    g = gadget()
    g.metadata.finalizers = ["example.com/cleanup"]
    await store.apply(g)
    assert await store.delete(Gadget, "g", "ns")
    held = store.get(Gadget, "g", "ns")
    assert held is not None and held.metadata.deletion_timestamp
    await store.apply(gadget())  # our apply no longer lists the finalizer
    assert store.get(Gadget, "g", "ns") is None


async def test_label_and_index_queries_and_namespaces() -> None:
    store = make_store()
    store.add_index(Gadget, "config", lambda g: [g.spec.config_ref or ""])
    for name, ns, ref in [("a", "n1", "x"), ("b", "n1", "y"), ("c", "n2", "x")]:
        g = gadget(name, ns, config_ref=ref)
        g.metadata.labels = {"tier": "gold" if name != "b" else "silver"}
        await store.apply(g)
    assert [g.name for g in store.list(Gadget)] == ["a", "b", "c"]
    assert [g.name for g in store.list(Gadget, "n1")] == ["a", "b"]
    assert [g.name for g in store.list(Gadget, labels={"tier": "gold"})] == ["a", "c"]
    assert [g.name for g in store.list(Gadget, index=("config", "x"))] == ["a", "c"]
    assert [g.name for g in store.list(Gadget, "n2", index=("config", "x"))] == ["c"]
    await store.apply(gadget("a", "n1", config_ref="z"))
    assert [g.name for g in store.list(Gadget, index=("config", "x"))] == ["c"]
    with pytest.raises(KeyError):
        store.list(Gadget, index=("nope", "x"))


async def test_cluster_scoped_objects_ignore_namespace() -> None:
    store = make_store()
    c = await store.apply(ClusterGadget.new("cg", spec=GadgetSpec(size=1)))
    assert c.key == ObjectKey("", "cg")
    assert store.get(ClusterGadget, "cg", "whatever") is not None


async def test_notifications_for_every_change_and_replay_on_subscribe() -> None:
    store = make_store()
    await store.apply(gadget("existing"))
    seen: list[tuple[str, str]] = []

    def handler(event: ChangeEvent[Gadget]) -> None:
        seen.append((event.type, event.obj.name))

    store.subscribe(Gadget, handler)
    g = await store.apply(gadget("new"))
    await store.apply(gadget("new"))  # no-op: no event
    await store.apply_status(g.model_copy(update={"status": GadgetStatus(phase="Ready")}))
    await store.delete(Gadget, "new", "ns")
    assert seen == [("ADDED", "existing"), ("ADDED", "new"), ("MODIFIED", "new"), ("DELETED", "new")]


async def test_load_yaml_validates_and_secrets_are_readable() -> None:
    store = make_store()
    docs = """
apiVersion: runtime.aim-engine.test/v1
kind: Gadget
metadata: {name: y, namespace: ns}
spec: {size: 3}
---
apiVersion: v1
kind: Secret
metadata: {name: pull, namespace: ns}
type: kubernetes.io/dockerconfigjson
data: {.dockerconfigjson: e30=}
---
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {amd.com/gpu.product-name: MI300X}}
status: {capacity: {amd.com/gpu: "8"}}
"""
    assert store.load(docs) == 3
    assert store.get(Gadget, "y", "ns") is not None
    secret = await store.read_secret("ns", "pull")
    assert secret is not None and secret.type == "kubernetes.io/dockerconfigjson"
    assert "e30=" not in repr(secret)
    node = store.get(Node, "n1")
    assert node is not None and node.status is not None and node.status.capacity == {"amd.com/gpu": "8"}
    with pytest.raises(ValueError, match="Gadget bad"):
        store.load([{"apiVersion": f"{Gadget.API_VERSION}", "kind": "Gadget", "metadata": {"name": "bad"}}])
    with pytest.raises(ValueError, match="unknown kind"):
        store.load([{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}])
    assert store.load([{"apiVersion": "apps/v1", "kind": "Deployment"}], ignore_unknown=True) == 0
    with pytest.raises(Conflict):
        store.load(docs)


async def test_unwatched_kinds_are_an_error() -> None:
    store = MemoryStore([Gadget])
    with pytest.raises(KindNotWatched):
        store.get(ConfigMap, "x", "ns")


class GadgetV2(Gadget):
    API_VERSION: ClassVar[str] = "runtime.aim-engine.test/v2"


async def test_one_object_is_readable_through_every_served_version() -> None:
    store = MemoryStore([Gadget, GadgetV2])
    await store.apply(gadget())
    v2 = store.get(GadgetV2, "g", "ns")
    assert v2 is not None and v2.api_version == "runtime.aim-engine.test/v2"
    await store.apply_status(v2.model_copy(update={"status": GadgetStatus(phase="Ready")}))
    v1 = store.get(Gadget, "g", "ns")
    assert v1 is not None and v1.status == GadgetStatus(phase="Ready")


async def test_events_are_recorded() -> None:
    store = make_store()
    g = await store.apply(gadget())
    store.record_event(g, "Warning", "Broken", "x" * 5000)
    (event,) = store.events
    assert event["involvedObject"]["uid"] == g.metadata.uid
    assert event["reason"] == "Broken" and event["type"] == "Warning"
    assert event["source"] == {"component": "aim-engine"}
    assert len(event["message"]) == 1024


async def test_objects_dump_in_wire_form() -> None:
    store = make_store()
    await store.apply(gadget(config_ref="c"))
    (obj,) = store.objects()
    assert obj["spec"] == {"size": 1, "configRef": "c"}
    assert "managedFields" not in obj["metadata"]
    assert "managedFields" in store.objects(managed_fields=True)[0]["metadata"]
