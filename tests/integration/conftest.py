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
    """The operator, once per session (in the one worker of xdist group "aim-operator")."""
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
