"""pytest plugin: one real Kubernetes control plane per test session (see ``tests/support/kube.py``).

The control plane (etcd, kube-apiserver, kube-controller-manager) starts in ``pytest_sessionstart``
of the process that owns the session: the xdist controller with ``-n N``, or the only process. Its
connection details reach the xdist workers through ``workerinput["aim_kube"]``. It is stopped by
PID at the end of the session, on Ctrl-C or SIGTERM too (atexit fallback; the processes also die
with the pytest process that started them).

It is not started when the run cannot contain integration tests: ``-m`` containing
"not integration", only ``tests/unit`` and ``tests/harness`` paths, or ``--collect-only``. If a
test asks for ``kube`` anyway, that process starts its own. Missing binaries are built by
``tests/k8sbin/build.sh`` (once, several minutes, cached); if that fails (no Go), every test
using ``kube`` fails with the reason.

Fixtures
--------
``kube`` (session)          ``KubeCluster``: server, ca_file, admin_token, operator_token,
                            kubeconfig_path, operator_kubeconfig_path, audit (``AuditLog``), crds,
                            client(user), restart_apiserver(), log_path(component)
``kube_client`` (session)   lightkube ``AsyncClient`` as the admin (system:masters)
``namespace`` (function)    a fresh namespace, deleted afterwards (deletion is not awaited)
``gpu_nodes`` (function)    ``await gpu_nodes(gpu_model="MI300X", count=8, ...)`` -> Node; deleted
                            afterwards (see ``kube.make_gpu_node`` for the helper itself)

Tests that must not overlap with any other API test (restarting the API server, counting
cluster-wide writes, listing all Nodes) are marked ``@pytest.mark.kube_exclusive``: every test that
uses ``kube`` holds a session-wide shared lock, a ``kube_exclusive`` test holds it exclusively, so
under ``-n N`` the other workers wait for it (plain ``--dist load`` is fine; no xdist_group needed).
"""

from __future__ import annotations

import atexit
import contextlib
import re
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import pytest_asyncio
from lightkube import ApiError, AsyncClient
from lightkube.models.core_v1 import Node as NodeModel
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace

from tests.support.kube import (
    REPO,
    ClusterInfo,
    ControlPlane,
    ControlPlaneError,
    GpuNode,
    KubeCluster,
    delete_nodes,
    make_gpu_node,
)

WORKERINPUT_KEY = "aim_kube"
WORKERINPUT_ERROR_KEY = "aim_kube_error"
TEST_NAMESPACE_LABEL = "aim-engine.test/namespace"


@dataclass
class _State:
    plane: ControlPlane | None = None
    info: ClusterInfo | None = None
    error: str | None = None
    not_started: str | None = None
    previous_sigterm: Any = None
    cleanups: list[Any] = field(default_factory=list)


_STATE = pytest.StashKey[_State]()


def _state(config: pytest.Config) -> _State:
    if _STATE not in config.stash:
        config.stash[_STATE] = _State()
    return config.stash[_STATE]


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _why_not_start(config: pytest.Config) -> str | None:
    """A reason when this run cannot contain integration tests, else None."""
    opt = config.option
    if getattr(opt, "collectonly", False) or getattr(opt, "showfixtures", False):
        return "collect-only run"
    if getattr(opt, "show_fixtures_per_test", False):
        return "collect-only run"
    markexpr = " ".join(str(getattr(opt, "markexpr", "") or "").split())
    if "not integration" in markexpr:
        return f"-m {markexpr!r} excludes integration tests"
    offline = [(REPO / "tests" / folder).resolve() for folder in ("unit", "harness")]
    base = Path(config.invocation_params.dir)
    paths = [(base / arg.split("::", 1)[0]).resolve() for arg in config.args]
    if paths and all(any(p == d or d in p.parents for d in offline) for p in paths):
        return "only tests/unit and tests/harness selected"
    return None


def _say(config: pytest.Config, text: str) -> None:
    capman = config.pluginmanager.getplugin("capturemanager")
    ctx = capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext()
    with ctx:
        sys.stderr.write(f"aim-kube: {text}\n")
        sys.stderr.flush()


def _start(config: pytest.Config, state: _State) -> None:
    plane = ControlPlane()
    state.plane = plane
    atexit.register(plane.stop)
    capman = config.pluginmanager.getplugin("capturemanager")
    ctx = capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext()
    try:
        with ctx:  # a cold build.sh prints its progress straight to the terminal
            info = plane.start()
    except ControlPlaneError as exc:
        state.error = f"the Kubernetes control plane could not be started: {exc}"
        _say(config, state.error)
        return
    state.info = info
    t = info.timings
    _say(
        config,
        f"control plane ready in {t['total']:.1f}s (apiserver {t['apiserver_ready']:.1f}s, "
        f"CRDs {t['crds'] - t['apiserver_ready']:.1f}s) at {info.server}, {len(info.crds)} CRDs, "
        f"workdir {info.workdir}",
    )


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "kube_exclusive: no other test uses the Kubernetes API while this one runs "
        "(required for kube.restart_apiserver())",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if _is_worker(config):
        return
    state = _state(config)
    reason = _why_not_start(config)
    if reason is not None:
        state.not_started = reason
        return
    # Turn SIGTERM into KeyboardInterrupt so pytest's own teardown (and ours) runs.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        state.previous_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
    _start(config, state)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: hand the controller's control plane to each worker."""
    state = _state(node.config)
    node.workerinput[WORKERINPUT_KEY] = state.info.to_json() if state.info else ""
    node.workerinput[WORKERINPUT_ERROR_KEY] = state.error or ""


def _shutdown(config: pytest.Config) -> None:
    state = _state(config)
    if state.plane is not None:
        state.plane.stop()
    if state.previous_sigterm is not None:
        signal.signal(signal.SIGTERM, state.previous_sigterm)
        state.previous_sigterm = None


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    _shutdown(session.config)


def pytest_unconfigure(config: pytest.Config) -> None:
    _shutdown(config)


# --------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def kube(request: pytest.FixtureRequest) -> KubeCluster:
    """The session's control plane (see ``KubeCluster``)."""
    config = request.config
    state = _state(config)
    if _is_worker(config):
        workerinput: dict[str, Any] = config.workerinput  # type: ignore[attr-defined]
        raw = str(workerinput.get(WORKERINPUT_KEY) or "")
        error = str(workerinput.get(WORKERINPUT_ERROR_KEY) or "")
        if raw and state.info is None:
            state.info = ClusterInfo.from_json(raw)
        if error:
            state.error = error
    if state.error:
        pytest.fail(state.error, pytrace=False)
    if state.info is None:
        # Not started for this run (see _why_not_start), yet a test needs it: start one here.
        _start(config, state)
        if state.error:
            pytest.fail(state.error, pytrace=False)
    assert state.info is not None
    return KubeCluster(state.info)


@pytest.fixture(autouse=True)
def _kube_api_lock(request: pytest.FixtureRequest) -> Iterator[None]:
    """Shared session-wide lock for tests using ``kube``; exclusive for ``kube_exclusive`` ones."""
    if "kube" not in request.fixturenames:
        yield
        return
    cluster: KubeCluster = request.getfixturevalue("kube")
    exclusive = request.node.get_closest_marker("kube_exclusive") is not None
    with cluster.api_lock(exclusive=exclusive):
        yield


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def kube_client(kube: KubeCluster) -> AsyncIterator[AsyncClient]:
    """A lightkube AsyncClient for the admin user (group system:masters), field manager
    ``aim-engine-tests``. For the operator's identity use ``kube.client("operator")``."""
    client = kube.client()
    try:
        yield client
    finally:
        await client.close()


def unique_name(hint: str, *, prefix: str = "t-", max_len: int = 63) -> str:
    """A DNS-label name from ``hint`` plus a random suffix, e.g. ``t-test-gc-works-3fa9c1``."""
    slug = re.sub(r"[^a-z0-9]+", "-", hint.lower()).strip("-") or "x"
    suffix = secrets.token_hex(3)
    room = max_len - len(prefix) - len(suffix) - 1
    return f"{prefix}{slug[:room].rstrip('-')}-{suffix}"


@pytest_asyncio.fixture(loop_scope="session")
async def namespace(kube_client: AsyncClient, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A fresh namespace for this test (name from the test's name plus a random suffix); deleted
    afterwards without waiting for the namespace controller to finish."""
    name = unique_name(request.node.name.removeprefix("test_"))
    await kube_client.create(Namespace(metadata=ObjectMeta(name=name, labels={TEST_NAMESPACE_LABEL: "true"})))
    try:
        yield name
    finally:
        with contextlib.suppress(ApiError):
            await kube_client.delete(Namespace, name)


class GpuNodes:
    """Factory behind the ``gpu_nodes`` fixture: ``await gpu_nodes(gpu_model="MI300X")``."""

    def __init__(self, client: AsyncClient, hint: str) -> None:
        self.client = client
        self.hint = hint
        self.names: list[str] = []

    async def __call__(
        self,
        name: str | None = None,
        *,
        gpu_model: str | None = None,
        device_id: str | None = None,
        count: int = 8,
        vram: str | None = "auto",
        family: str | None = None,
        extra_labels: dict[str, str] | None = None,
        spec: GpuNode | None = None,
    ) -> NodeModel:
        name = (spec.name if spec else name) or unique_name(
            (gpu_model or device_id or "gpu") + "-" + self.hint, prefix="node-"
        )
        self.names.append(name)
        return await make_gpu_node(
            self.client,
            name,
            gpu_model=gpu_model,
            device_id=device_id,
            count=count,
            vram=vram,
            family=family,
            extra_labels=extra_labels,
            spec=spec,
        )

    async def cleanup(self) -> None:
        await delete_nodes(self.client, self.names)
        self.names.clear()


@pytest_asyncio.fixture(loop_scope="session")
async def gpu_nodes(kube_client: AsyncClient, request: pytest.FixtureRequest) -> AsyncIterator[GpuNodes]:
    """Creates GPU Nodes for this test and deletes them afterwards. Nodes are cluster-wide: other
    xdist workers see them too (select by name or label, or mark the test ``kube_exclusive``)."""
    factory = GpuNodes(kube_client, request.node.name.removeprefix("test_")[:20])
    try:
        yield factory
    finally:
        await factory.cleanup()
