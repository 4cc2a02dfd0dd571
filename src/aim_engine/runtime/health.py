"""HTTP endpoints for probes and scraping: /healthz, /readyz, /metrics.

Served from a thread (stdlib ThreadingHTTPServer), not from the event loop, so that a busy or
stuck loop cannot hide itself: /healthz answers 500 when the loop's heartbeat is older than
`stall_after` seconds, which is exactly what a liveness probe should catch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger(__name__)


def parse_address(value: str | None, default_host: str = "0.0.0.0") -> tuple[str, int] | None:
    """ "HOST:PORT", ":PORT" or "PORT" -> (host, port); "0", "" or None -> disabled."""
    if value is None or value.strip() in ("", "0"):
        return None
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "", value
    return (host.strip("[]") or default_host), int(port)


class LoopHeartbeat:
    """Updated by a task every `interval` seconds; read from the HTTP thread."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.last = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._beat(), name="loop-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _beat(self) -> None:
        while True:
            self.last = time.monotonic()
            await asyncio.sleep(self.interval)

    def age(self) -> float:
        return time.monotonic() - self.last


class HealthServer:
    """Serves any of /healthz, /readyz and /metrics on one address."""

    def __init__(
        self,
        address: tuple[str, int],
        *,
        heartbeat: LoopHeartbeat | None = None,
        ready: Callable[[], bool] | None = None,
        registry: CollectorRegistry | None = REGISTRY,
        stall_after: float = 30.0,
    ) -> None:
        self._heartbeat = heartbeat
        self._ready = ready
        self._registry = registry
        self._stall_after = stall_after
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, content_type, body = server.respond(self.path.split("?", 1)[0])
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # probes every few seconds would drown the logs

        self._httpd = ThreadingHTTPServer(address, Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="health-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def respond(self, path: str) -> tuple[int, str, bytes]:
        text = "text/plain; charset=utf-8"
        if path == "/healthz" and self._heartbeat is not None:
            age = self._heartbeat.age()
            if age > self._stall_after:
                return 500, text, f"event loop stalled for {age:.0f}s\n".encode()
            return 200, text, b"ok\n"
        if path == "/readyz" and self._ready is not None:
            return (200, text, b"ok\n") if self._ready() else (503, text, b"caches not synced\n")
        if path == "/metrics" and self._registry is not None:
            return 200, CONTENT_TYPE_LATEST, generate_latest(self._registry)
        return 404, text, b"not found\n"

    def start(self) -> None:
        self._thread.start()
        log.info("serving %s", self.describe())

    def describe(self) -> str:
        host, port = self._httpd.server_address[:2]
        paths = [
            p
            for p, on in (
                ("/healthz", self._heartbeat),
                ("/readyz", self._ready),
                ("/metrics", self._registry),
            )
            if on is not None
        ]
        return f"{','.join(paths)} on {host!s}:{port}"

    def stop(self) -> None:
        """Blocking (up to half a second): call it through `asyncio.to_thread` from a loop."""
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()
