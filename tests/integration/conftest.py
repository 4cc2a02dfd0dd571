"""Fixtures for the operator's integration tests (see tests/support/aim_operator.py)."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from aim_engine import __version__
from aim_engine.runtime.kube_api import KubeApi
from tests.support.aim_operator import RunningOperator, start_operator
from tests.support.api import admin_api
from tests.support.kube import KubeCluster
from tests.support.operator_image import BUILD_SCRIPT, Archive, ImageBuildError, can_contain
from tests.support.registries import Registries

IMAGE_GROUP = "operator-image"
"""xdist group of the tests that build or run the operator image: they share one build."""


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


@dataclass(frozen=True)
class BuiltImage:
    archive: Archive
    rootfs: Path  # unpacked once; tests that run it mount it read-only
    pushed: str  # REGISTRY/aim-engine:VERSION in the test registry (plain HTTP on loopback)
    build_log: str


@pytest.fixture(scope="session")
def operator_image(registries: Registries, tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    """`scripts/build-image OUTPUT --push REGISTRY/aim-engine`, as a user runs it (once per session,
    in the worker of xdist group "operator-image"), and the archive unpacked."""
    if reason := can_contain():
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("image")
    repository = f"{registries.noauth.host}/aim-engine"
    proc = subprocess.run(
        [str(BUILD_SCRIPT), str(out / "aim-engine.oci.tar"), "--push", repository, "--dest-tls-verify=false"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ImageBuildError(f"scripts/build-image exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    archive = Archive(out / "aim-engine.oci.tar")
    return BuiltImage(archive, archive.unpack(out / "rootfs"), f"{repository}:{__version__}", proc.stderr)
