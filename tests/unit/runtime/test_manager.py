"""Manager over MemoryStore: wiring (owns, watches, indexes), outcomes, workers, fixpoint."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from aim_engine.api.meta import ObjectKey
from aim_engine.runtime import (
    Conflict,
    Manager,
    MemoryStore,
    NotConverged,
    Reconciler,
    Result,
    RuntimeMetrics,
    Watch,
    run_until_idle,
)
from aim_engine.runtime.logs import ContextFilter, JsonFormatter
from aim_engine.runtime.manager import owner_keys
from aim_engine.runtime.workqueue import ExponentialBackoff
from tests.support.gadgets import (
    ConfigMap,
    Gadget,
    GadgetReconciler,
    GadgetSpec,
    GadgetStatus,
    child_name,
)


def setup(**kwargs: Any) -> tuple[MemoryStore, GadgetReconciler, Manager]:
    store = MemoryStore()
    reconciler = GadgetReconciler(store, **kwargs)
    metrics = RuntimeMetrics(CollectorRegistry())
    return store, reconciler, Manager(store, [reconciler], metrics=metrics)


def gadget(name: str = "g", ns: str = "ns", size: int = 1, **spec: Any) -> Gadget:
    return Gadget.new(name, ns, spec=GadgetSpec(size=size, **spec))


def metric(manager: Manager, name: str, **labels: str) -> float:
    return manager.metrics.registry.get_sample_value(name, labels) or 0.0


async def test_a_reconciler_converges_and_a_second_pass_writes_nothing() -> None:
    store, _, manager = setup()
    store.create(gadget("a", size=2))
    store.create(gadget("b", size=3))
    report = await run_until_idle(manager)
    assert report.converged and not report.pending
    a = store.get(Gadget, "a", "ns")
    assert a is not None and a.status == GadgetStatus(phase="Ready", observed_size=2)
    child = store.get(ConfigMap, child_name("a"), "ns")
    assert child is not None and child.data == {"size": "2"}
    writes = sum(store.writes.values())
    report = await run_until_idle(manager)  # a full resync
    assert report.reconciles == 2
    assert sum(store.writes.values()) == writes


async def test_spec_change_owned_child_change_and_mapped_watch_requeue_the_right_keys() -> None:
    store, reconciler, manager = setup()
    store.create(ConfigMap.new("cfg", "ns", data={"value": "one"}))
    store.create(gadget("a", config_ref="cfg"))
    store.create(gadget("b"))
    await run_until_idle(manager)
    reconciler.calls.clear()

    # A change of the referenced config requeues only the gadget using it.
    cfg = store.get(ConfigMap, "cfg", "ns")
    assert cfg is not None
    store.update(cfg.model_copy(update={"data": {"value": "two"}}))
    await run_until_idle(manager, requeue_all=False)
    assert set(reconciler.calls) == {ObjectKey("ns", "a")}
    a = store.get(Gadget, "a", "ns")
    assert a is not None and a.status is not None and a.status.config_value == "two"

    # A change of an owned child requeues its owner, which repairs it.
    reconciler.calls.clear()
    child = store.get(ConfigMap, child_name("b"), "ns")
    assert child is not None
    store.update(child.model_copy(update={"data": {"size": "tampered"}}))
    await run_until_idle(manager, requeue_all=False)
    assert set(reconciler.calls) == {ObjectKey("ns", "b")}
    child = store.get(ConfigMap, child_name("b"), "ns")
    assert child is not None and child.data == {"size": "1"}


async def test_deleted_objects_are_still_reconciled_and_children_are_collected() -> None:
    store, reconciler, manager = setup()
    store.create(gadget("a"))
    await run_until_idle(manager)
    reconciler.calls.clear()
    await store.delete(Gadget, "a", "ns")
    assert store.get(ConfigMap, child_name("a"), "ns") is None
    await run_until_idle(manager, requeue_all=False)
    assert reconciler.calls[ObjectKey("ns", "a")] == 1


def test_owner_keys_match_kind_and_group_across_versions() -> None:
    owner = Gadget.new("o", "ns", spec=GadgetSpec(size=1))
    owner.metadata.uid = "u"
    child = ConfigMap.new("c", "ns")
    ref = owner.owner_reference()
    child.metadata.owner_references = [
        ref.model_copy(update={"api_version": "runtime.aim-engine.test/v2"}),
        ref.model_copy(update={"name": "not-controller", "controller": False}),
        ref.model_copy(update={"name": "other-group", "api_version": "other.example/v1"}),
    ]
    assert owner_keys(Gadget, child) == [ObjectKey("ns", "o")]


async def test_errors_back_off_per_key_and_success_resets() -> None:
    store, reconciler, manager = setup(fail_times=3)
    manager.queue.backoff = ExponentialBackoff(initial=0.001, cap=0.004)
    store.create(gadget("a"))
    report = await run_until_idle(manager)
    assert report.outcomes["error"] == 1
    item = ("gadget", ObjectKey("ns", "a"))
    assert report.errors == {item: "RuntimeError: induced failure"}
    assert item in report.pending
    # With workers, the retries happen by themselves and the key converges.
    task = asyncio.create_task(manager.run())
    await wait_for(lambda: store.get(Gadget, "a", "ns").status is not None)  # type: ignore[union-attr]
    manager.stop()
    await asyncio.wait_for(task, 5)
    assert reconciler.calls[ObjectKey("ns", "a")] >= 4
    assert manager.queue.failures(item) == 0
    assert metric(manager, "aim_engine_reconcile_errors_total", controller="gadget") == 3
    assert metric(manager, "aim_engine_workqueue_retries_total", controller="gadget") == 3


async def wait_for(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)


class Scripted(Reconciler):
    kind = Gadget

    def __init__(self, outcomes: list[Any]) -> None:
        self.outcomes = outcomes
        self.calls = 0

    async def reconcile(self, key: ObjectKey) -> Result | None:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


async def test_conflict_requeues_at_once_without_an_error() -> None:
    store = MemoryStore()
    rec = Scripted([Conflict(409, "Conflict", "stale")])
    manager = Manager(store, [rec], metrics=RuntimeMetrics(CollectorRegistry()))
    store.create(gadget("a"))
    report = await run_until_idle(manager)
    assert rec.calls == 2
    assert report.outcomes == {"conflict": 1, "success": 1}
    assert metric(manager, "aim_engine_reconcile_errors_total", controller="gadget") == 0


async def test_requeue_after_is_honoured_by_workers() -> None:
    store = MemoryStore()
    rec = Scripted([Result.after(0.05)])
    manager = Manager(store, [rec], metrics=RuntimeMetrics(CollectorRegistry()))
    store.create(gadget("a"))
    report = await run_until_idle(manager)
    assert 0 < report.pending[("gadget", ObjectKey("ns", "a"))] <= 0.05
    task = asyncio.create_task(manager.run())
    await wait_for(lambda: rec.calls >= 2)
    manager.stop()
    await asyncio.wait_for(task, 5)


async def test_retry_results_follow_their_schedule_per_key_and_any_other_outcome_resets_it() -> None:
    from aim_engine.runtime import Backoff
    from aim_engine.runtime.workqueue import WorkQueue

    store = MemoryStore()
    schedule = Backoff(2.0, 5.0)
    rec = Scripted([Result.retry(schedule)] * 3 + [Result.retry(schedule, at_least=60.0), None])
    manager = Manager(store, [rec], metrics=RuntimeMetrics(CollectorRegistry()))
    clock = [0.0]
    manager.queue = WorkQueue(clock=lambda: clock[0])  # time moves only when the test says
    store.create(gadget("a"))
    item = ("gadget", ObjectKey("ns", "a"))
    delays = []
    for _ in range(5):
        due = manager.queue.get_nowait()
        assert due == item
        await manager.process(due)
        manager.queue.done(due)
        if item in manager.queue.waiting:
            delays.append(manager.queue.waiting[item] - clock[0])
            clock[0] = manager.queue.waiting[item]
    assert delays == [2.0, 4.0, 5.0, 60.0]  # doubling, capped, and never before a Retry-After
    assert item not in manager.retries and not manager.queue.waiting  # the success forgot the count
    assert metric(manager, "aim_engine_reconcile_total", controller="gadget", result="retry") == 4


async def test_terminal_results_wait_for_a_change() -> None:
    store = MemoryStore()
    rec = Scripted([Result.terminal("spec.size is impossible"), None])
    manager = Manager(store, [rec], metrics=RuntimeMetrics(CollectorRegistry()))
    store.create(gadget("a"))
    report = await run_until_idle(manager)
    assert (rec.calls, report.outcomes, report.pending) == (1, {"terminal": 1}, {})
    store.update(gadget("a", size=2))
    await run_until_idle(manager, requeue_all=False)
    assert rec.calls == 2


async def test_a_paused_object_is_not_reconciled_until_the_annotation_goes() -> None:
    store, reconciler, manager = setup()
    paused = gadget("a")
    paused.metadata.annotations = {"aim.eai.amd.com/reconciliation-paused": "true"}
    store.create(paused)
    report = await run_until_idle(manager)
    assert report.outcomes == {"paused": 1} and reconciler.calls[ObjectKey("ns", "a")] == 0
    assert store.get(Gadget, "a", "ns").status is None  # type: ignore[union-attr]
    store.update(gadget("a"))  # annotation removed: a change of metadata, so news
    await run_until_idle(manager, requeue_all=False)
    assert store.get(Gadget, "a", "ns").status is not None  # type: ignore[union-attr]


class FilteredWatch(Reconciler):
    """Watches ConfigMaps through a predicate that passes only a change of data["value"]."""

    kind = Gadget

    def __init__(self, store: MemoryStore) -> None:
        from aim_engine.runtime.predicates import field_changed

        self.store = store
        self.mapped: list[str] = []
        self.watches = (Watch(ConfigMap, self.everyone, field_changed("data")),)

    def everyone(self, config: ConfigMap) -> list[ObjectKey]:
        self.mapped.append(config.name)
        return [g.key for g in self.store.list(Gadget)]

    async def reconcile(self, key: ObjectKey) -> Result | None:
        return None


async def test_a_watch_predicate_runs_before_its_mapper_on_old_and_new() -> None:
    store = MemoryStore()
    rec = FilteredWatch(store)
    manager = Manager(store, [rec], metrics=RuntimeMetrics(CollectorRegistry()))
    store.create(gadget("a"))
    await run_until_idle(manager)
    store.create(ConfigMap.new("c", "ns", data={"value": "1"}))
    assert rec.mapped == ["c"]  # a create passes
    relabelled = ConfigMap.new("c", "ns", data={"value": "1"})
    relabelled.metadata.labels = {"x": "y"}
    store.update(relabelled)
    assert rec.mapped == ["c"]  # filtered before the mapper ran
    store.update(ConfigMap.new("c", "ns", data={"value": "2"}))
    assert rec.mapped == ["c", "c", "c"]  # mapped for the old and the new version
    await store.delete(ConfigMap, "c", "ns")
    assert rec.mapped == ["c", "c", "c", "c"]  # a delete passes


class PingPong(Reconciler):
    """Flips a label on every reconcile: never converges."""

    kind = Gadget

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    async def reconcile(self, key: ObjectKey) -> Result | None:
        g = self.store.get(Gadget, key.name, key.namespace)
        assert g is not None
        flip = gadget(g.name, g.namespace or "")
        flip.metadata.labels = {"flip": "a" if g.labels.get("flip") != "a" else "b"}
        await self.store.apply(flip)
        return None


async def test_a_fixpoint_that_never_comes_is_reported_with_the_busy_keys() -> None:
    store = MemoryStore()
    manager = Manager(store, [PingPong(store)], metrics=RuntimeMetrics(CollectorRegistry()))
    store.create(gadget("spinning"))
    store.create(gadget("calm"))
    with pytest.raises(
        NotConverged, match=r"gadget ns/spinning x\d+.*most written: Gadget ns/spinning"
    ) as info:
        await run_until_idle(manager, max_reconciles=50)
    assert info.value.busiest[0][0] == ("gadget", ObjectKey("ns", "spinning"))


async def test_workers_run_keys_concurrently_but_never_one_key_twice() -> None:
    store = MemoryStore()

    class Slow(GadgetReconciler):
        async def _reconcile(self, key: ObjectKey) -> Result | None:
            await asyncio.sleep(0.002)
            return await super()._reconcile(key)

    reconciler = Slow(store)
    manager = Manager(store, [reconciler], concurrency=4, metrics=RuntimeMetrics(CollectorRegistry()))
    for i in range(20):
        store.create(gadget(f"g{i}"))
    task = asyncio.create_task(manager.run())
    for _ in range(5):  # a burst of events while reconciles run
        for i in range(20):
            manager.enqueue("gadget", ObjectKey("ns", f"g{i}"))
        await asyncio.sleep(0.003)
    await wait_for(
        lambda: all((g.status is not None) for g in store.list(Gadget)) and manager.queue.is_idle()
    )
    manager.stop()
    await asyncio.wait_for(task, 5)
    assert reconciler.overlaps == 0
    assert metric(manager, "aim_engine_reconcile_total", controller="gadget", result="success") >= 20


async def test_two_reconcilers_with_one_name_are_refused() -> None:
    store = MemoryStore()
    with pytest.raises(ValueError, match="named"):
        Manager(store, [Scripted([]), Scripted([])])


async def test_log_lines_during_a_reconcile_carry_controller_key_and_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()

    class Chatty(Reconciler):
        kind = Gadget

        async def reconcile(self, key: ObjectKey) -> Result | None:
            logging.getLogger("tests.chatty").warning("working on it", extra={"detail": 1})
            return None

    manager = Manager(store, [Chatty()], metrics=RuntimeMetrics(CollectorRegistry()))
    store.create(gadget("a"))
    caplog.handler.addFilter(ContextFilter())
    with caplog.at_level(logging.INFO):
        await run_until_idle(manager)
    (record,) = [r for r in caplog.records if r.name == "tests.chatty"]
    line = json.loads(JsonFormatter().format(record))
    assert line["controller"] == "gadget"
    assert line["key"] == "ns/a" and line["namespace"] == "ns" and line["name"] == "a"
    assert len(line["reconcileID"]) == 12
    assert line["detail"] == 1 and line["msg"] == "working on it" and line["level"] == "warning"


def test_the_default_predicate_tells_status_only_changes_from_everything_a_reconcile_reads() -> None:
    from aim_engine.api.core import Node
    from aim_engine.api.v1alpha1 import AIMClusterModel
    from aim_engine.runtime.predicates import beyond_status

    def model(**meta: Any) -> AIMClusterModel:
        body = {"name": "m", "generation": 1, **meta}
        return AIMClusterModel.model_validate(
            {
                "apiVersion": "aim.eai.amd.com/v1alpha1",
                "kind": "AIMClusterModel",
                "metadata": body,
                "spec": {"image": "i:1"},
            }
        )

    assert not beyond_status(model(), model(resourceVersion="9"))
    assert beyond_status(model(), model(generation=2))
    assert beyond_status(model(), model(labels={"a": "b"}))
    assert beyond_status(model(), model(annotations={"aim.eai.amd.com/reconciliation-paused": "true"}))
    assert beyond_status(model(), model(deletionTimestamp="2026-01-01T00:00:00Z"))
    assert beyond_status(None, model()) and beyond_status(model(), None)  # created, deleted
    node = Node.model_validate({"metadata": {"name": "n"}})
    assert beyond_status(node, node)  # no generation: cannot tell, so it counts
