"""Watches survive an API server restart: changes made right after it comes back (before the
informers have reconnected) are still seen and reconciled."""

from __future__ import annotations

import asyncio
import time

import pytest

from aim_engine.api.meta import ObjectKey
from aim_engine.runtime import KubeApi
from aim_engine.runtime.resources import object_path
from tests.support.gadgets import ConfigMap, Gadget, GadgetReconciler, child_name
from tests.support.kube import KubeCluster
from tests.support.runtime_cluster import (
    admin_fixture,  # noqa: F401 - the `admin` fixture
    create,
    gadget_body,
    observed_size,
    operator,
    read_gadget,
)
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.kube_exclusive, pytest.mark.slow]

MERGE = "application/merge-patch+json"


@pytest.mark.parametrize("graceful", [True, False], ids=["sigterm", "sigkill"])
async def test_watches_resume_after_an_api_server_restart(
    kube: KubeCluster, namespace: str, admin: KubeApi, graceful: bool
) -> None:
    key = ObjectKey(namespace, "g")
    await create(admin, gadget_body("g", namespace, 1))
    async with operator(kube, GadgetReconciler, namespace) as op:
        await eventually(
            lambda: read_gadget(admin, key), lambda g: observed_size(g) == 1, what="first status"
        )
        await op.idle()
        took = await kube.restart_apiserver(graceful=graceful)
        # Right away, while the informers are still backing off from the outage.
        changed_at = time.monotonic()
        await admin.request("PATCH", object_path(Gadget, key), body={"spec": {"size": 2}}, content_type=MERGE)
        await create(admin, gadget_body("born-after-restart", namespace, 5))
        await eventually(
            lambda: read_gadget(admin, key), lambda g: observed_size(g) == 2, what="change after restart"
        )
        await eventually(
            lambda: read_gadget(admin, ObjectKey(namespace, "born-after-restart")),
            lambda g: observed_size(g) == 5,
            what="object created after restart",
        )
        seen_after = time.monotonic() - changed_at
        # Deleting a child while nobody watches it closely: the owner must still hear of it.
        await admin.request("DELETE", object_path(ConfigMap, ObjectKey(namespace, child_name("g"))))
        await eventually(
            lambda: asyncio.sleep(0, op.store.get(ConfigMap, child_name("g"), namespace)),
            lambda c: c is not None and c.data == {"size": "2"},
            what="child recreated",
        )
        how = "SIGTERM" if graceful else "SIGKILL"
        print(f"\napiserver restart ({how}) took {took:.1f}s; change reconciled {seen_after:.1f}s later")
