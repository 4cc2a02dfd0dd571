"""pytest plugin: the real OCI registries (tests/support/registries.py), started once per test run.

* Without xdist the registries start on first use of the `registries` fixture, in this process.
* With xdist they start in the controller (`pytest_sessionstart`), unless the run cannot contain
  integration tests (`-m "not integration"`, or only tests/unit and tests/harness paths), and the
  endpoints reach the workers through `workerinput` (`pytest_configure_node`).
* They are stopped by PID in the controller at the end of the session.

A missing `docker-registry` binary fails every test that needs a registry, loudly, naming the
install script; it is never a skip.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.registries import Registries, RegistryFleet

WORKERINPUT_KEY = "aim_engine_registries"
_FLEET = pytest.StashKey[RegistryFleet]()
_ERROR = pytest.StashKey[str]()


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _is_xdist_controller(config: pytest.Config) -> bool:
    return config.pluginmanager.has_plugin("dsession")


def _may_run_integration(config: pytest.Config) -> bool:
    markexpr = str(config.getoption("markexpr", "") or "")
    if re.search(r"\bnot\s+integration\b", markexpr):
        return False
    if config.getoption("collectonly", False):
        return False
    offline = [(config.rootpath / "tests" / folder).resolve() for folder in ("unit", "harness")]
    base = config.invocation_params.dir
    paths = [(base / str(arg).split("::", 1)[0]).resolve() for arg in config.args]
    return not paths or not all(any(path == d or d in path.parents for d in offline) for path in paths)


def _start(config: pytest.Config) -> None:
    try:
        config.stash[_FLEET] = RegistryFleet.start()
    except Exception as exc:
        config.stash[_ERROR] = f"the test OCI registries could not be started: {exc}"


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if _is_worker(config) or not _is_xdist_controller(config):
        return
    if _may_run_integration(config):
        _start(config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    config: pytest.Config = node.config
    payload: dict[str, str] = {}
    if _FLEET in config.stash and config.stash[_FLEET].registries is not None:
        registries = config.stash[_FLEET].registries
        assert registries is not None
        payload["registries"] = registries.to_json()
    elif _ERROR in config.stash:
        payload["error"] = config.stash[_ERROR]
    node.workerinput[WORKERINPUT_KEY] = payload


def _stop(config: pytest.Config) -> None:
    if _is_worker(config) or _FLEET not in config.stash:
        return
    fleet = config.stash[_FLEET]
    del config.stash[_FLEET]
    fleet.stop()


def pytest_sessionfinish(session: pytest.Session) -> None:
    _stop(session.config)


def pytest_unconfigure(config: pytest.Config) -> None:
    _stop(config)  # in case the session never finished normally


@pytest.fixture(scope="session")
def registries(pytestconfig: pytest.Config) -> Registries:
    """The four test registries (noauth, basic, tls, token), their CA bundle and credentials."""
    config = pytestconfig
    if _is_worker(config):
        payload: dict[str, str] = config.workerinput.get(WORKERINPUT_KEY, {})  # type: ignore[attr-defined]
        if "registries" in payload:
            return Registries.from_json(payload["registries"])
        if "error" in payload:
            pytest.fail(payload["error"], pytrace=False)
        pytest.fail(
            "the test OCI registries were not started: the xdist controller judged this run to hold "
            "no integration tests (-m 'not integration' or only tests/unit and tests/harness paths)",
            pytrace=False,
        )
    if _FLEET not in config.stash and _ERROR not in config.stash:
        _start(config)
    if _ERROR in config.stash:
        pytest.fail(config.stash[_ERROR], pytrace=False)
    registries = config.stash[_FLEET].registries
    assert registries is not None
    return registries
