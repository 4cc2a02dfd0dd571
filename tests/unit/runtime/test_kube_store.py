"""KubeStore's requests, checked against a recording transport: what apply and apply_status
send, when they send nothing, how errors map, and events, secrets and deletes."""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

import httpx2
import pytest
from prometheus_client import CollectorRegistry
from pydantic import Field

from aim_engine.api.core import Secret
from aim_engine.api.meta import ApiModel, KubeObject
from aim_engine.runtime import Conflict, KindNotWatched, KubeApi, KubeStore, RuntimeMetrics
from aim_engine.runtime.fields import build_fields_v1, field_set_view
from aim_engine.runtime.transport import HttpxTransport
from tests.support.gadgets import ConfigMap, Gadget, GadgetSpec, GadgetStatus


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self.responses: list[httpx2.Response] = []

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if self.responses:
            return self.responses.pop(0)
        if request.method == "PATCH":
            obj = json.loads(request.content)
            if "apiVersion" not in obj:  # a status merge patch: echo a plausible object
                obj = {
                    "apiVersion": Gadget.API_VERSION,
                    "kind": "Gadget",
                    "metadata": {},
                    "spec": {"size": 1},
                }
                obj["metadata"] = {"name": "g", "namespace": "ns", "resourceVersion": "99"}
                obj["status"] = json.loads(request.content)["status"]
            obj["metadata"].setdefault("uid", "u")
            obj["metadata"]["resourceVersion"] = "99"
            return httpx2.Response(200, json=obj)
        return httpx2.Response(200, json={})


def make_store(recorder: Recorder) -> KubeStore:
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(recorder.handle), base_url="http://fake")
    store = KubeStore(KubeApi(HttpxTransport(client)), metrics=RuntimeMetrics(CollectorRegistry()))
    store.watch(Gadget)
    store.watch(ConfigMap)
    return store


def owner() -> Gadget:
    g = Gadget.new("g", "ns", spec=GadgetSpec(size=1))
    g.metadata.uid = "owner-uid"
    g.metadata.resource_version = "5"
    return g


def cached_child(store: KubeStore, body: dict[str, Any]) -> None:
    """Put into the cache what the API server would hold after applying `body`."""
    live = json.loads(json.dumps(body))
    live["metadata"].update(uid="c", resourceVersion="7")
    live["metadata"]["managedFields"] = [
        {"manager": "aim-engine", "operation": "Apply", "fieldsV1": build_fields_v1(field_set_view(body))}
    ]
    store._caches[ConfigMap].put(ConfigMap.model_validate(live))


async def test_apply_sends_a_forced_server_side_apply_with_the_owner_reference() -> None:
    rec = Recorder()
    store = make_store(rec)
    child = ConfigMap.new("c", "ns", data={"a": "1"})
    result = await store.apply(child, owner=owner())
    (req,) = rec.requests
    assert req.method == "PATCH"
    assert req.url.path == "/api/v1/namespaces/ns/configmaps/c"
    assert dict(req.url.params) == {"fieldManager": "aim-engine", "force": "true"}
    assert req.headers["content-type"] == "application/apply-patch+yaml"
    sent = json.loads(req.content)
    assert sent["data"] == {"a": "1"}
    assert sent["metadata"]["ownerReferences"] == [
        {
            "apiVersion": Gadget.API_VERSION,
            "kind": "Gadget",
            "name": "g",
            "uid": "owner-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    # Written through: the next reconcile sees it before the watch event arrives.
    assert store.get(ConfigMap, "c", "ns") == result
    assert result.metadata.resource_version == "99"


async def test_a_write_whose_watch_event_came_first_is_not_parsed_again() -> None:
    rec = Recorder()
    store = make_store(rec)
    from_watch = ConfigMap.new("c", "ns", data={"a": "1"})
    from_watch.metadata.resource_version = "99"  # the version the Recorder's response carries
    store._caches[ConfigMap].put(from_watch)
    result = await store.apply(ConfigMap.new("c", "ns", data={"a": "2"}))
    assert len(rec.requests) == 1
    assert result is from_watch  # the cached object of that version, as it is
    # A response newer than the cache is parsed and written through.
    store = make_store(rec)
    older = ConfigMap.new("c", "ns", data={"a": "1"})
    older.metadata.resource_version = "98"
    store._caches[ConfigMap].put(older)
    newer = await store.apply(ConfigMap.new("c", "ns", data={"a": "2"}))
    assert newer is not older and newer.data == {"a": "2"}
    assert store.get(ConfigMap, "c", "ns") is newer


async def test_apply_is_skipped_when_the_cache_shows_nothing_would_change() -> None:
    rec = Recorder()
    store = make_store(rec)
    desired = ConfigMap.new("c", "ns", data={"a": "1"})
    body = {**desired.dump(), "apiVersion": "v1", "kind": "ConfigMap"}
    body["metadata"]["ownerReferences"] = [owner().owner_reference().dump()]
    cached_child(store, body)
    assert (await store.apply(desired, owner=owner())).metadata.resource_version == "7"
    assert rec.requests == []
    # Dropping a field the manager owns must be sent, although every desired value is there.
    await store.apply(ConfigMap.new("c", "ns", data={"a": "1"}))  # no owner any more
    assert len(rec.requests) == 1


async def test_apply_status_sends_a_conditional_merge_patch_and_maps_409() -> None:
    rec = Recorder()
    store = make_store(rec)
    g = owner()
    g.status = GadgetStatus(phase="Old", config_value="x")
    store._caches[Gadget].put(g)
    updated = g.model_copy(update={"status": GadgetStatus(phase="Ready", observed_size=1)})
    await store.apply_status(updated)
    (req,) = rec.requests
    assert req.url.path == f"/apis/{Gadget.API_VERSION}/namespaces/ns/gadgets/g/status"
    assert req.headers["content-type"] == "application/merge-patch+json"
    assert dict(req.url.params) == {"fieldManager": "aim-engine"}
    assert json.loads(req.content) == {
        "metadata": {"resourceVersion": "5"},
        "status": {"phase": "Ready", "observedSize": 1, "configValue": None},
    }
    # Equal to the cached status: nothing sent.
    cached = store.get(Gadget, "g", "ns")
    assert cached is not None and cached.status == GadgetStatus(phase="Ready", observed_size=1)
    await store.apply_status(
        cached.model_copy(update={"status": GadgetStatus(phase="Ready", observed_size=1)})
    )
    assert len(rec.requests) == 1
    rec.responses.append(
        httpx2.Response(
            409, json={"kind": "Status", "code": 409, "reason": "Conflict", "message": "modified"}
        )
    )
    with pytest.raises(Conflict, match="modified"):
        await store.apply_status(cached.model_copy(update={"status": GadgetStatus(phase="Other")}))


async def test_reads_of_unwatched_kinds_fail_and_secrets_are_read_directly() -> None:
    rec = Recorder()
    store = make_store(rec)
    with pytest.raises(KindNotWatched):
        store.get(Secret, "s", "ns")
    with pytest.raises(ValueError, match="never cached"):
        store.watch(Secret)
    rec.responses.append(
        httpx2.Response(200, json={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})
    )
    rec.responses.append(httpx2.Response(404, json={"kind": "Status", "code": 404, "reason": "NotFound"}))
    assert (await store.read_secret("ns", "s")) is not None
    assert (await store.read_secret("ns", "missing")) is None
    assert [r.url.path for r in rec.requests] == [
        "/api/v1/namespaces/ns/secrets/s",
        "/api/v1/namespaces/ns/secrets/missing",
    ]


async def test_delete_and_events() -> None:
    rec = Recorder()
    store = make_store(rec)
    rec.responses.append(httpx2.Response(404, json={"kind": "Status", "code": 404, "reason": "NotFound"}))
    assert not await store.delete(ConfigMap, "gone", "ns")
    assert await store.delete(ConfigMap, "c", "ns")
    assert rec.requests[-1].url.params["propagationPolicy"] == "Background"
    await store.start()
    try:
        g = owner()
        store.record_event(g, "Normal", "Synced", "all good")
        store.record_event(g, "Normal", "Synced", "all good")  # identical: sent once
        for _ in range(100):
            if any(r.url.path.endswith("/events") for r in rec.requests):
                break
            await asyncio.sleep(0.01)
    finally:
        await store.stop()
    posts = [r for r in rec.requests if r.url.path == "/api/v1/namespaces/ns/events"]
    assert len(posts) == 1
    event = json.loads(posts[0].content)
    assert event["involvedObject"]["uid"] == "owner-uid"
    assert event["source"]["component"] == "aim-engine"


class DefaultedStatus(ApiModel):
    phase: str = "Pending"
    conditions: list[str] = Field(default_factory=list)


class Defaulted(KubeObject):
    API_VERSION: ClassVar[str] = "runtime.aim-engine.test/v1"
    KIND: ClassVar[str] = "Defaulted"
    PLURAL: ClassVar[str] = "defaulteds"
    NAMESPACED: ClassVar[bool] = True

    status: DefaultedStatus | None = None


async def test_status_fields_at_their_default_compare_equal_to_absent_ones() -> None:
    rec = Recorder()
    store = make_store(rec)
    store.watch(Defaulted)
    # As the server returns it: the defaulted fields are not in the JSON at all.
    live = Defaulted.model_validate(
        {
            "apiVersion": Defaulted.API_VERSION,
            "kind": "Defaulted",
            "metadata": {"name": "d", "namespace": "ns", "resourceVersion": "3"},
            "status": {},
        }
    )
    store._caches[Defaulted].put(live)
    await store.apply_status(live.model_copy(update={"status": DefaultedStatus()}))
    await store.apply_status(
        live.model_copy(update={"status": DefaultedStatus(phase="Pending", conditions=[])})
    )
    assert rec.requests == []


async def test_status_write_of_a_deleted_object_is_a_conflict() -> None:
    """Deleted while it was reconciled: requeued like a stale write (the next reconcile finds it
    gone), not logged as a reconcile error."""
    rec = Recorder()
    store = make_store(rec)
    rec.responses.append(httpx2.Response(404, json={"kind": "Status", "code": 404, "reason": "NotFound"}))
    gone = ConfigMap.new("gone", "ns")
    with pytest.raises(Conflict, match="was deleted"):
        await store.apply_status(gone)
