"""The informer against a scripted API server (httpx2 mock transport): list paging, watch
events, bookmarks, 410 Gone relists with delete detection, unparseable objects, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from prometheus_client import CollectorRegistry

from aim_engine.api.core import SecretMetadata
from aim_engine.api.meta import ObjectKey
from aim_engine.runtime.cache import KindCache
from aim_engine.runtime.informer import PARTIAL_LIST, Informer, shared_field_set, slim_managed_fields
from aim_engine.runtime.kube_api import KubeApi
from aim_engine.runtime.metrics import RuntimeMetrics
from aim_engine.runtime.store import ChangeEvent
from aim_engine.runtime.transport import HttpxTransport
from aim_engine.runtime.workqueue import ExponentialBackoff
from tests.support.gadgets import Gadget


class FakeServer:
    """Just enough of the API server for one collection of gadgets."""

    def __init__(self) -> None:
        self.rv = 10
        self.objects: dict[str, dict[str, Any]] = {}
        self.history: list[tuple[int, str, dict[str, Any]]] = []
        self.compacted = 0
        self.down = False
        self.requests: list[str] = []
        self.changed = asyncio.Event()

    def put(self, name: str, size: Any, event: str | None = None) -> None:
        self.rv += 1
        obj = {
            "apiVersion": Gadget.API_VERSION,
            "kind": "Gadget",
            "metadata": {
                "name": name,
                "namespace": "ns",
                "resourceVersion": str(self.rv),
                "managedFields": [
                    {"manager": "aim-engine", "operation": "Apply", "fieldsV1": {"f:spec": {}}, "time": "t"},
                    {"manager": "aim-engine", "operation": "Update", "subresource": "status", "fieldsV1": {}},
                    {"manager": "kubectl", "operation": "Apply", "fieldsV1": {}},
                    {
                        "manager": "kubectl-create",
                        "operation": "Update",
                        "apiVersion": "example.com/v2",
                        "time": "t",
                        "fieldsV1": {"f:spec": {"f:size": {}}, "f:metadata": {}},
                    },
                ],
            },
            "spec": {"size": size},
        }
        kind = event or ("MODIFIED" if name in self.objects else "ADDED")
        self.objects[name] = obj
        self.history.append((self.rv, kind, obj))
        self.changed.set()

    def delete(self, name: str) -> None:
        self.rv += 1
        obj = self.objects.pop(name)
        self.history.append((self.rv, "DELETED", obj))
        self.changed.set()

    def compact(self) -> None:
        self.compacted = self.rv

    async def handle(self, request: httpx2.Request) -> httpx2.Response:
        params = request.url.params
        self.requests.append(
            f"{request.method} watch={params.get('watch')} rv={params.get('resourceVersion')}"
        )
        if self.down:
            raise httpx2.ConnectError("connection refused", request=request)
        if params.get("watch"):
            return httpx2.Response(200, content=self._watch(int(params["resourceVersion"])))
        limit = int(params.get("limit", "500"))
        start = int(params.get("continue") or 0)
        items = sorted(self.objects.values(), key=lambda o: o["metadata"]["name"])
        page = items[start : start + limit]
        more = start + limit < len(items)
        body = {
            "metadata": {
                "resourceVersion": str(self.rv),
                **({"continue": str(start + limit)} if more else {}),
            },
            "items": page,
        }
        return httpx2.Response(200, json=body)

    async def _watch(self, since: int) -> AsyncIterator[bytes]:
        if since < self.compacted:
            status = {
                "kind": "Status",
                "code": 410,
                "reason": "Expired",
                "message": "too old resource version",
            }
            yield json.dumps({"type": "ERROR", "object": status}).encode() + b"\n"
            return
        sent = since
        for _ in range(3):  # a short-lived stream: the informer must re-watch from where it was
            for rv, kind, obj in self.history:
                if rv > sent:
                    yield json.dumps({"type": kind, "object": obj}).encode() + b"\n"
                    sent = rv
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 0.4)
        bookmark = {
            "kind": "Gadget",
            "apiVersion": Gadget.API_VERSION,
            "metadata": {"resourceVersion": str(self.rv)},
        }
        yield json.dumps({"type": "BOOKMARK", "object": bookmark}).encode() + b"\n"


class Harness:
    def __init__(self, server: FakeServer) -> None:
        self.server = server
        client = httpx2.AsyncClient(transport=httpx2.MockTransport(server.handle), base_url="http://fake")
        self.api = KubeApi(HttpxTransport(client))
        self.cache: KindCache[Gadget] = KindCache(Gadget)
        self.events: list[tuple[str, str, int]] = []
        self.cache.subscribe(self._record)
        self.metrics = RuntimeMetrics(CollectorRegistry())
        self.informer = Informer(
            self.api,
            self.cache,
            field_manager="aim-engine",
            metrics=self.metrics,
            page_size=2,
            backoff=ExponentialBackoff(initial=0.01, cap=0.05),
        )
        self.task: asyncio.Task[None] | None = None

    def _record(self, event: ChangeEvent[Gadget]) -> None:
        self.events.append((event.type, event.obj.name, event.obj.spec.size))

    async def __aenter__(self) -> Harness:
        self.task = asyncio.create_task(self.informer.run())
        await asyncio.wait_for(self.informer.synced.wait(), 2)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task
        await self.api.close()

    async def until(self, check: Any, within: float = 3.0) -> None:
        deadline = asyncio.get_running_loop().time() + within
        while not check():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"not reached; events: {self.events}; requests: {self.server.requests[-5:]}"
                )
            await asyncio.sleep(0.01)


async def test_list_pages_then_watch_events_update_the_cache() -> None:
    server = FakeServer()
    for i in range(5):
        server.put(f"g{i}", i + 1)
    async with Harness(server) as h:
        assert len(h.cache) == 5
        assert sum(r.startswith("GET watch=None") for r in server.requests) == 3  # 5 items, pages of 2
        assert h.informer.resource_version == "15"
        g0 = h.cache.get(ObjectKey("ns", "g0"))
        assert g0 is not None
        # Our own field manager's Apply entry, with only what apply compares; of the others,
        # who wrote in which version and whether they own spec (no subresources, no fields).
        assert g0.dump()["metadata"]["managedFields"] == [
            {"manager": "aim-engine", "operation": "Apply", "fieldsV1": {"f:spec": {}}},
            {"manager": "kubectl", "operation": "Apply"},
            {
                "manager": "kubectl-create",
                "operation": "Update",
                "apiVersion": "example.com/v2",
                "time": "t",
                "fieldsV1": {"f:spec": {}},
            },
        ]
        h.events.clear()
        server.put("g0", 10)
        server.put("new", 1)
        server.delete("g1")
        await h.until(lambda: len(h.events) == 3)
        assert h.events == [("MODIFIED", "g0", 10), ("ADDED", "new", 1), ("DELETED", "g1", 2)]
        assert h.cache.get(ObjectKey("ns", "g1")) is None


async def test_watch_resumes_from_the_last_version_after_a_stream_ends_and_after_bookmarks() -> None:
    server = FakeServer()
    server.put("a", 1)
    async with Harness(server) as h:
        await h.until(lambda: any("BOOKMARK" in r or "watch=1 rv=11" in r for r in server.requests))
        server.put("b", 2)
        await h.until(lambda: ("ADDED", "b", 2) in h.events)
        # The stream ends (server timeout); the next watch continues after the last event.
        await h.until(lambda: any(r == "GET watch=1 rv=12" for r in server.requests), within=5)
        server.put("c", 3)
        await h.until(lambda: ("ADDED", "c", 3) in h.events)
        assert h.informer.resource_version == "13"
        assert (
            h.metrics.registry.get_sample_value("aim_engine_informer_lists_total", {"kind": h.cache.label})
            == 1
        )


async def test_gone_relists_and_reports_deletions_it_missed() -> None:
    server = FakeServer()
    server.put("kept", 1)
    server.put("deleted-while-away", 1)
    async with Harness(server) as h:
        server.down = True
        await h.until(lambda: server.requests[-1].endswith("rv=12") and len(server.requests) > 3)
        server.delete("deleted-while-away")
        server.put("kept", 2)
        server.put("created-while-away", 1)
        server.compact()
        server.down = False
        await h.until(lambda: h.cache.get(ObjectKey("ns", "deleted-while-away")) is None)
        await h.until(lambda: len(h.cache) == 2)
        assert ("DELETED", "deleted-while-away", 1) in h.events
        assert ("MODIFIED", "kept", 2) in h.events
        assert ("ADDED", "created-while-away", 1) in h.events
        assert (
            h.metrics.registry.get_sample_value("aim_engine_informer_lists_total", {"kind": h.cache.label})
            == 2
        )
        assert (
            h.metrics.registry.get_sample_value(
                "aim_engine_informer_watch_errors_total", {"kind": h.cache.label}
            )
            or 0
        ) >= 1


async def test_objects_that_do_not_parse_are_logged_and_kept_out(caplog: pytest.LogCaptureFixture) -> None:
    server = FakeServer()
    server.put("bad-from-start", "not-a-number")
    server.put("good", 1)
    with caplog.at_level(logging.ERROR):
        async with Harness(server) as h:
            assert [g.name for g in h.cache.select()] == ["good"]
            server.put("good", "broken-now")
            server.put("other", 2)
            await h.until(lambda: ("ADDED", "other", 2) in h.events)
            assert h.cache.get(ObjectKey("ns", "good")) is None
            assert h.task is not None and not h.task.done()
    logged = [r for r in caplog.records if "does not match its schema" in r.getMessage()]
    assert {getattr(r, "object", None) for r in logged} == {"ns/bad-from-start", "ns/good"}


async def test_own_writes_already_in_the_cache_do_not_notify_twice() -> None:
    server = FakeServer()
    server.put("a", 1)
    async with Harness(server) as h:
        h.events.clear()
        server.put("a", 5)
        newer = server.objects["a"]
        # The write's response reached the cache first (write-through) ...
        assert h.cache.put(Gadget.model_validate(newer)) is not None
        await asyncio.sleep(0.2)
        # ... so the watch event for the same version is not a change.
        assert h.events == [("MODIFIED", "a", 5)]


def test_a_late_write_response_does_not_resurrect_a_deleted_object() -> None:
    """A status write answered after the watch reported the object deleted (a template
    pruned while its status was being written) must not leave a ghost in the cache."""

    def gadget(version: int) -> Gadget:
        return Gadget.model_validate(
            {
                "metadata": {"name": "a", "namespace": "ns", "resourceVersion": str(version)},
                "spec": {"size": 1},
            }
        )

    cache: KindCache[Gadget] = KindCache(Gadget)
    cache.put(gadget(5))
    cache.remove(gadget(5).key, gadget(7))  # DELETED at 7
    assert cache.put(gadget(6)) is None  # the write's response, older than the deletion
    assert cache.get(gadget(6).key) is None
    assert cache.put(gadget(8)) is not None  # created again later: taken
    assert cache.get(gadget(8).key) is not None


async def test_metadata_only_kinds_ask_for_metadata_and_keep_no_annotations() -> None:
    """Secrets are watched as PartialObjectMetadata; `kubectl apply` copies a secret's values
    into an annotation, so the informer keeps only names and versions."""
    seen: list[str] = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers["accept"])
        item = {
            "apiVersion": "meta.k8s.io/v1",
            "kind": "PartialObjectMetadata",
            "metadata": {
                "name": "pull",
                "namespace": "ml-team",
                "resourceVersion": "7",
                "labels": {"a": "b"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"data":"c2VjcmV0"}'},
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:data": {}}}],
            },
        }
        return httpx2.Response(
            200, json={"kind": "PartialObjectMetadataList", "metadata": {}, "items": [item]}
        )

    api = KubeApi(
        HttpxTransport(httpx2.AsyncClient(transport=httpx2.MockTransport(handle), base_url="http://fake"))
    )
    cache: KindCache[SecretMetadata] = KindCache(SecretMetadata)
    informer = Informer(api, cache, field_manager="aim-engine", metrics=RuntimeMetrics(CollectorRegistry()))
    await informer._list()
    await api.close()
    assert seen == [PARTIAL_LIST]
    secret = cache.get(ObjectKey("ml-team", "pull"))
    assert secret is not None
    assert (secret.kind, secret.namespace, secret.name) == ("Secret", "ml-team", "pull")
    assert "c2VjcmV0" not in secret.model_dump_json()
    assert secret.metadata.annotations is None and secret.metadata.labels is None


def test_equal_field_sets_of_parsed_objects_are_one_object() -> None:
    """The templates of one model own the same fields: the cache keeps one tree for them."""
    fields = {"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:size": {}}}
    parsed = []
    for name in ("a", "b"):
        data = {
            "metadata": {
                "name": name,
                "managedFields": [
                    {
                        "manager": "aim-engine",
                        "operation": "Apply",
                        "fieldsV1": json.loads(json.dumps(fields)),
                    },
                    {"manager": "aim-engine", "operation": "Update", "subresource": "status"},
                ],
            }
        }
        slim_managed_fields(data, "aim-engine")
        parsed.append(data["metadata"]["managedFields"])
    first, second = parsed
    assert first == second == [{"manager": "aim-engine", "operation": "Apply", "fieldsV1": fields}]
    assert first[0]["fieldsV1"] is second[0]["fieldsV1"]
    other: dict[str, Any] = {"f:spec": {"f:other": {}}}
    assert shared_field_set(json.loads(json.dumps(other))) is not first[0]["fieldsV1"]
    assert shared_field_set("not a tree") == "not a tree"
