"""A loopback HTTP proxy in front of a real test registry that injects faults on purpose: scripted
error responses (5xx, 429 with Retry-After, 401/403 with their bodies), a rewritten response body
(to corrupt or truncate a blob), a response that never comes (timeout) or stops halfway, and, with
`tls=`, a certificate of the test's choosing. Everything else is forwarded unchanged.

Used only for what a real registry cannot be made to do; it runs in a thread of the test process.
"""

from __future__ import annotations

import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


@dataclass
class Fault:
    """For requests whose path matches `path` (regex) and method is in `methods`: answer `status`
    (with `headers`) the next `times` times, or sleep `hang` seconds first when it is set."""

    path: str
    status: int = 503
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    methods: tuple[str, ...] = ("GET", "HEAD")
    hang: float = 0.0
    payload: bytes = b'{"errors":[{"code":"UNAVAILABLE","message":"injected fault"}]}'
    stall_halfway: bool = False
    """Forward the request, then send the real headers and half of the real body, and stall for
    `hang` seconds (a body that stops coming); `status` is ignored."""


@dataclass
class Rewrite:
    """Replace the body of forwarded responses whose path matches `path`."""

    path: str
    body: Callable[[bytes], bytes]


class _Handler(BaseHTTPRequestHandler):
    server: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        proxy = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with proxy.lock:
            proxy.requests.append((self.command, self.path))
            fault = next(
                (
                    f
                    for f in proxy.faults
                    if f.times > 0 and self.command in f.methods and re.search(f.path, self.path)
                ),
                None,
            )
            if fault is not None:
                fault.times -= 1
        if fault is not None and fault.stall_halfway:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream = proxy.upstream.request(self.command, self.path, headers=headers, content=body)
            self.send_response(upstream.status_code)
            for name, value in upstream.headers.multi_items():
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(upstream.content)))
            self.end_headers()
            self.wfile.write(upstream.content[: len(upstream.content) // 2])
            self.wfile.flush()
            time.sleep(fault.hang)
            self.close_connection = True
            return
        if fault is not None:
            if fault.hang:
                time.sleep(fault.hang)
            payload = fault.payload
            self.send_response(fault.status)
            for name, value in fault.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = proxy.upstream.request(self.command, self.path, headers=headers, content=body)
        content = upstream.content
        for rewrite in proxy.rewrites:
            if re.search(rewrite.path, self.path) and self.command == "GET":
                content = rewrite.body(content)
        self.send_response(upstream.status_code)
        for name, value in upstream.headers.multi_items():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _handle


class FaultServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream_url: str, *, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        if tls is not None:  # serve HTTPS with this context's certificate
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.upstream = httpx2.Client(base_url=upstream_url, timeout=30.0)
        self.faults: list[Fault] = []
        self.rewrites: list[Rewrite] = []
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, name="fault-server", daemon=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up on purpose (timeouts) or probe with TLS are expected here.
        pass

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self.upstream.close()
        self._thread.join(timeout=5)

    def add(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def count(self, method: str, path_regex: str) -> int:
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and re.search(path_regex, p))
