"""The runtime on the real API server: convergence, owned and mapped watches, garbage
collection, and a stale status write (409) that is retried from fresh cache state."""

from __future__ import annotations

import asyncio

import pytest

from aim_engine.api.meta import ObjectKey
from aim_engine.runtime import KubeApi, Result
from aim_engine.runtime.resources import object_path
from tests.support.gadgets import ConfigMap, Gadget, GadgetReconciler, GadgetStatus, child_name
from tests.support.kube import KubeCluster
from tests.support.runtime_cluster import (
    admin_fixture,  # noqa: F401 - the `admin` fixture
    create,
    gadget_body,
    observed_size,
    operator,
    read_gadget,
    status_of,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

MERGE = "application/merge-patch+json"


async def test_reconciler_converges_and_secondary_watches_requeue_their_keys(
    kube: KubeCluster, namespace: str, admin: KubeApi
) -> None:
    await create(
        admin,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cfg", "namespace": namespace},
            "data": {"value": "one"},
        },
    )
    await create(admin, gadget_body("a", namespace, 2, configRef="cfg"))
    await create(admin, gadget_body("b", namespace, 3))
    a, b = ObjectKey(namespace, "a"), ObjectKey(namespace, "b")

    async with operator(kube, GadgetReconciler, namespace) as op:
        got = await eventually(
            lambda: read_gadget(admin, a),
            lambda g: g is not None and g.status is not None and g.status.config_value == "one",
            what="a Ready",
        )
        assert got is not None and got.status is not None and got.status.observed_size == 2
        await eventually(lambda: read_gadget(admin, b), lambda g: status_of(g) is not None, what="b Ready")
        child = op.store.get(ConfigMap, child_name("b"), namespace)
        assert child is not None and child.data == {"size": "3"}
        assert [r.name for r in child.metadata.owner_references or ()] == ["b"]
        await op.idle()

        # Mapped watch: the config change requeues the gadget that refers to it, only that one.
        op.reconciler.calls.clear()
        await admin.request(
            "PATCH",
            object_path(ConfigMap, ObjectKey(namespace, "cfg")),
            body={"data": {"value": "two"}},
            content_type=MERGE,
        )
        await eventually(
            lambda: read_gadget(admin, a),
            lambda g: g is not None and g.status is not None and g.status.config_value == "two",
            what="a sees config two",
        )
        await op.idle()
        assert set(op.reconciler.calls) == {a}

        # Owned object: tampering with b's child requeues b, which repairs it.
        op.reconciler.calls.clear()
        child_key = ObjectKey(namespace, child_name("b"))
        await admin.request(
            "PATCH",
            object_path(ConfigMap, child_key),
            body={"data": {"size": "tampered"}},
            content_type=MERGE,
        )
        await eventually(
            lambda: admin.request("GET", object_path(ConfigMap, child_key)),
            lambda raw: b'"size":"3"' in raw,
            what="child repaired",
        )
        await op.idle()
        assert set(op.reconciler.calls) == {b}

        # Deleting a gadget: its key is still reconciled, and GC removes the child.
        op.reconciler.calls.clear()
        await admin.request("DELETE", object_path(Gadget, b))
        await eventually(
            lambda: asyncio.sleep(0, op.reconciler.calls[b]), lambda n: n >= 1, what="deleted key reconciled"
        )
        await eventually(
            lambda: asyncio.sleep(0, op.store.get(ConfigMap, child_name("b"), namespace)),
            lambda c: c is None,
            what="child collected",
            within=60,
        )


class StaleWriter(GadgetReconciler):
    """On its first run, changes the gadget behind the cache's back, then writes a status
    computed from the (now stale) object it read: the write must fail with 409."""

    admin: KubeApi
    sabotaged = False

    async def _reconcile(self, key: ObjectKey) -> Result | None:
        if not self.sabotaged:
            self.sabotaged = True
            stale = self.store.get(Gadget, key.name, key.namespace)
            assert stale is not None
            await self.admin.request(
                "PATCH", object_path(Gadget, key), body={"spec": {"size": 7}}, content_type=MERGE
            )
            stale_status = GadgetStatus(phase="Stale", observed_size=stale.spec.size)
            await self.store.apply_status(stale.model_copy(update={"status": stale_status}))
            raise AssertionError("the stale status write was accepted")
        return await super()._reconcile(key)


async def test_a_stale_status_write_conflicts_and_is_retried_from_fresh_state(
    kube: KubeCluster, namespace: str, admin: KubeApi
) -> None:
    key = ObjectKey(namespace, "g")
    mark = kube.audit.mark()
    StaleWriter.admin = admin
    await create(admin, gadget_body("g", namespace, 1))
    async with operator(kube, StaleWriter, namespace) as op:
        final = await eventually(
            lambda: read_gadget(admin, key),
            lambda g: observed_size(g) == 7,
            what="status from fresh state",
        )
        assert final is not None and final.status is not None and final.status.phase == "Ready"
        conflicts = op.store.metrics.registry.get_sample_value(
            "aim_engine_reconcile_total", {"controller": "gadget", "result": "conflict"}
        )
        assert conflicts is not None and conflicts >= 1
        errors = op.store.metrics.registry.get_sample_value(
            "aim_engine_reconcile_errors_total", {"controller": "gadget"}
        )
        assert not errors
    rejected = kube.audit.writes(
        user=kube.operator_user, resource="gadgets/status", namespace=namespace, since=mark, succeeded=False
    )
    assert [e.code for e in rejected][:1] == [409]
