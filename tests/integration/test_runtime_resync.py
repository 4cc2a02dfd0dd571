"""A resync of an unchanged world writes nothing: 1,000 gadgets converge, then a full requeue
and a restart of the operator (fresh caches) cause 0 writes, counted by the API server's
audit log."""

from __future__ import annotations

import asyncio
import collections
import time

import pytest

from aim_engine.runtime import KubeApi
from tests.support.gadgets import ConfigMap, Gadget, GadgetReconciler
from tests.support.kube import KubeCluster
from tests.support.runtime_cluster import (
    Running,
    admin_fixture,  # noqa: F401 - the `admin` fixture
    create,
    gadget_body,
    operator,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COUNT = 1000


async def settle(op: Running, namespace: str, *, reconciles_at_least: int, within: float = 180.0) -> float:
    """Seconds until every gadget has a status and child, `reconciles_at_least` reconciles have
    run, and the queue is idle."""
    start = time.monotonic()
    while True:
        gadgets = op.store.list(Gadget, namespace)
        done = (
            len(gadgets) == COUNT
            and all(g.status is not None for g in gadgets)
            and len(op.store.list(ConfigMap, namespace)) >= COUNT
            and sum(op.reconciler.calls.values()) >= reconciles_at_least
            and op.manager.queue.is_idle()
        )
        if done:
            return time.monotonic() - start
        if time.monotonic() - start > within:
            raise AssertionError(
                f"not settled: {sum(g.status is not None for g in gadgets)}/{len(gadgets)} ready"
            )
        await asyncio.sleep(0.1)


async def test_a_full_resync_of_1000_unchanged_objects_writes_nothing(
    kube: KubeCluster, namespace: str, admin: KubeApi
) -> None:
    started = time.monotonic()
    limit = asyncio.Semaphore(32)

    async def make(i: int) -> None:
        async with limit:
            await create(admin, gadget_body(f"g{i:04d}", namespace, i % 7 + 1))

    await asyncio.gather(*(make(i) for i in range(COUNT)))
    created = time.monotonic() - started

    async with operator(kube, GadgetReconciler, namespace) as op:
        converge = await settle(op, namespace, reconciles_at_least=COUNT)
        await op.idle()
        first = kube.audit.writes(user=kube.operator_user, namespace=namespace)
        first_writes = len(first)
        kinds = collections.Counter((w.verb, w.resource, w.subresource, w.code) for w in first)
        mark = kube.audit.mark()
        before = sum(op.reconciler.calls.values())
        op.manager.requeue_all()
        resync = await settle(op, namespace, reconciles_at_least=before + COUNT)
        await op.idle()

    async with operator(kube, GadgetReconciler, namespace) as fresh:
        restart = await settle(fresh, namespace, reconciles_at_least=COUNT)
        await fresh.idle()
        skipped = fresh.store.metrics.registry.get_sample_value(
            "aim_engine_api_writes_skipped_total", {"verb": "apply", "kind": "ConfigMap"}
        )

    # Only this namespace: under -n 2 another test's operator (leader election) may be writing
    # as the same user at the same time.
    writes = kube.audit.writes(user=kube.operator_user, namespace=namespace, since=mark)
    print(
        f"\n{COUNT} gadgets: created in {created:.1f}s; converged in {converge:.1f}s "
        f"({COUNT / converge:.0f}/s, {first_writes} writes); full requeue settled in {resync:.1f}s; "
        f"restarted operator settled in {restart:.1f}s; writes after convergence: {len(writes)}"
    )
    assert first_writes == 2 * COUNT, kinds  # one child apply and one status write per gadget
    assert writes == [], writes[:10]
    assert skipped is not None and skipped >= COUNT
