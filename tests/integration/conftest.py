"""Fixtures for the operator's integration tests (see tests/support/aim_operator.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from aim_engine.runtime.kube_api import KubeApi
from tests.support.aim_operator import RunningOperator, start_operator
from tests.support.api import admin_api
from tests.support.kube import KubeCluster
from tests.support.registries import Registries


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def operator(kube: KubeCluster, registries: Registries) -> AsyncIterator[RunningOperator]:
    """The operator, once per session (in the one worker of xdist group "aim-operator").

    Session fixtures are set up before the per-test API lock is taken, so the start holds the
    shared lock itself: a `kube_exclusive` test in another worker may be restarting the API
    server at that moment (the operator's informers ride out a restart; its start-up does not)."""
    with kube.api_lock(exclusive=False):
        running = await start_operator(kube, registries)
    try:
        yield running
    finally:
        await running.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def api(kube: KubeCluster) -> AsyncIterator[KubeApi]:
    """An admin API client, as a user with kubectl would have."""
    client = admin_api(kube)
    yield client
    await client.close()
