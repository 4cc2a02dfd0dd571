"""The process around the Manager: probes and metrics over HTTP, JSON logs, the event rate
limiter, the `run` command line."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from aim_engine.cli import run as cli_run
from aim_engine.runtime.events import EventRecorder, TokenBucket
from aim_engine.runtime.health import HealthServer, LoopHeartbeat, parse_address
from aim_engine.runtime.logs import configure_logging
from aim_engine.runtime.metrics import RuntimeMetrics
from tests.support.gadgets import Gadget, GadgetSpec


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging replaces the root logger's handlers: put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def fetch(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_parse_address() -> None:
    assert parse_address("0.0.0.0:8080") == ("0.0.0.0", 8080)
    assert parse_address(":9090") == ("0.0.0.0", 9090)
    assert parse_address("8081") == ("0.0.0.0", 8081)
    assert parse_address("[::1]:80") == ("::1", 80)
    assert parse_address("0") is None
    assert parse_address(None) is None


async def test_probes_and_metrics() -> None:
    metrics = RuntimeMetrics(CollectorRegistry())
    metrics.api_writes.labels("apply", "Gadget").inc()
    heartbeat = LoopHeartbeat(interval=0.05)
    heartbeat.start()
    ready = False
    server = HealthServer(
        ("127.0.0.1", 0), heartbeat=heartbeat, ready=lambda: ready, registry=metrics.registry
    )
    server.start()
    try:
        assert await asyncio.to_thread(fetch, server.port, "/healthz") == (200, "ok\n")
        assert (await asyncio.to_thread(fetch, server.port, "/readyz"))[0] == 503
        ready = True
        assert (await asyncio.to_thread(fetch, server.port, "/readyz"))[0] == 200
        status, text = await asyncio.to_thread(fetch, server.port, "/metrics")
        assert status == 200
        assert 'aim_engine_api_writes_total{kind="Gadget",verb="apply"} 1.0' in text
        assert (await asyncio.to_thread(fetch, server.port, "/nope"))[0] == 404
        heartbeat.last -= 60  # as if the loop had been stuck for a minute
        assert (await asyncio.to_thread(fetch, server.port, "/healthz"))[0] == 500
    finally:
        await heartbeat.stop()
        await asyncio.to_thread(server.stop)


@pytest.mark.usefixtures("restore_logging")
def test_json_logs() -> None:
    stream = io.StringIO()
    configure_logging("debug", stream=stream)
    logging.getLogger("x").info("hello %s", "world", extra={"object": "ns/a"})
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("x").exception("failed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["msg"] == "hello world" and first["level"] == "info" and first["object"] == "ns/a"
    assert "controller" not in first
    assert second["level"] == "error" and "ValueError: boom" in second["error"]


def test_token_bucket() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=1.0, burst=2, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    now[0] += 1.0
    assert bucket.take()
    assert not bucket.take()


async def test_event_recorder_drops_duplicates_and_floods_and_never_raises() -> None:
    posted: list[dict[str, object]] = []

    async def sink(namespace: str, body: dict[str, object]) -> None:
        if body["reason"] == "Explode":
            raise RuntimeError("API down")
        posted.append(body)

    metrics = RuntimeMetrics(CollectorRegistry())
    recorder = EventRecorder(sink, metrics=metrics, rate=0.001, burst=3)
    recorder.start()
    g = Gadget.new("g", "ns", spec=GadgetSpec(size=1))
    recorder.record(g, "Normal", "A", "same")
    recorder.record(g, "Normal", "A", "same")
    recorder.record(g, "Warning", "Explode", "x")
    recorder.record(g, "Normal", "B", "other")
    recorder.record(g, "Normal", "C", "over the limit")
    await recorder.stop()
    assert [e["reason"] for e in posted] == ["A", "B"]

    def dropped(reason: str) -> float:
        return metrics.registry.get_sample_value("aim_engine_events_dropped_total", {"reason": reason}) or 0

    assert (dropped("duplicate"), dropped("rate_limited"), dropped("api_error")) == (1, 1, 1)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli_run.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["run", *argv])


def test_run_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIM_SYSTEM_NAMESPACE", raising=False)
    args = parse()
    assert (args.namespace, args.concurrency, args.leader_elect, args.metrics_address) == (
        "aim-system",
        4,
        True,
        "0.0.0.0:8080",
    )
    assert args.func is cli_run.run_command
    monkeypatch.setenv("AIM_SYSTEM_NAMESPACE", "from-env")
    assert parse().namespace == "from-env"
    assert parse("--namespace", "flag").namespace == "flag"
    args = parse("--no-leader-elect", "--concurrency", "8", "--metrics-address", "0", "--log-level", "debug")
    assert (args.leader_elect, args.concurrency, args.metrics_address, args.log_level) == (
        False,
        8,
        "0",
        "debug",
    )


@pytest.mark.usefixtures("restore_logging")
def test_run_without_controllers_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run.main(["run", "--reconcilers", "aim_engine.no_such_module:build"]) == 2
    assert "cannot load the reconcilers" in capsys.readouterr().err


@pytest.mark.usefixtures("restore_logging")
def test_run_with_an_unusable_kubeconfig_fails_cleanly() -> None:
    argv = [
        "run",
        "--kubeconfig",
        "/nonexistent/kubeconfig",
        "--reconcilers",
        "tests.support.gadgets:build",
    ]
    assert cli_run.main(argv) == 2
