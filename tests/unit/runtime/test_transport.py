"""KubeApi's aiohttp transport against a real HTTP server on loopback (aiohttp's own): the
Authorization header from lightkube's auth flows and its refresh after a 401, watch lines of
any length across chunk boundaries, and errors that say which request got no answer."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from lightkube.config.client_adapter import BearerAuth, BearerTokenFileAuth

from aim_engine.runtime import KubeApi, NotFound
from aim_engine.runtime.errors import ApiError, ApiUnreachable
from aim_engine.runtime.transport import AiohttpTransport, HeaderAuth, split_lines


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def collect(lines: AsyncIterator[bytes]) -> list[bytes]:
    return [line async for line in lines]


async def test_lines_are_split_across_chunks_of_any_size() -> None:
    assert await collect(split_lines(chunks(b'{"a":', b"1}\n{", b'"b":2}\n\n{"c"', b":3}"))) == [
        b'{"a":1}',
        b'{"b":2}',
        b"",
        b'{"c":3}',
    ]
    assert await collect(split_lines(chunks())) == []


class Server:
    """An HTTP server on a free loopback port that records each request's Authorization."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.runner = web.AppRunner(app)
        self.port = 0

    async def __aenter__(self) -> Server:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def api_for(url: str, auth: HeaderAuth) -> KubeApi:
    return KubeApi(AiohttpTransport(url, False, auth, timeout=5.0))


async def test_a_rotated_token_file_is_read_again_after_a_401(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("old\n")
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") != "Bearer new":
            return web.json_response({"code": 401, "reason": "Unauthorized", "message": "no"}, status=401)
        return web.json_response({"body": json.loads(await request.read())})

    app = web.Application()
    app.router.add_route("*", "/api/v1/things", handle)
    async with Server(app) as server:
        api = api_for(server.url, HeaderAuth(BearerTokenFileAuth(str(token)), server.url))
        try:
            # The file still holds the token the server no longer takes: one try, one re-read.
            with pytest.raises(ApiError, match="401 Unauthorized"):
                await api.request("POST", "/api/v1/things", body={"n": 1})
            token.write_text("new\n")  # the kubelet rotated it
            answer = await api.request("POST", "/api/v1/things", body={"n": 2})
        finally:
            await api.close()
    assert json.loads(answer) == {"body": {"n": 2}}
    # The second call sent the cached old token, got 401, re-read the file, sent the body again.
    assert seen == ["Bearer old", "Bearer old", "Bearer new"]


async def test_a_static_token_is_sent_once_per_request_and_not_retried() -> None:
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers["Authorization"])
        return web.json_response({"code": 404, "reason": "NotFound", "message": "things x"}, status=404)

    app = web.Application()
    app.router.add_get("/api/v1/things/x", handle)
    async with Server(app) as server:
        api = api_for(server.url, HeaderAuth(BearerAuth("t0ken"), server.url))
        try:
            with pytest.raises(NotFound, match="things x"):
                await api.request("GET", "/api/v1/things/x")
        finally:
            await api.close()
    assert seen == ["Bearer t0ken"]


async def test_a_watch_delivers_lines_longer_than_aiohttps_line_limit() -> None:
    big = {"type": "ADDED", "object": {"data": "x" * 300_000}}

    async def handle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        line = json.dumps(big).encode() + b"\n"
        for start in range(0, len(line), 70_000):  # in pieces, as a slow network delivers it
            await response.write(line[start : start + 70_000])
            await asyncio.sleep(0)
        await response.write(b'{"type":"BOOKMARK"}\n')
        return response

    app = web.Application()
    app.router.add_get("/api/v1/things", handle)
    async with Server(app) as server:
        api = api_for(server.url, HeaderAuth(None, server.url))
        try:
            async with api.stream("/api/v1/things", {"watch": "1"}, read_timeout=5) as lines:
                got = [json.loads(line) async for line in lines]
        finally:
            await api.close()
    assert got == [big, {"type": "BOOKMARK"}]


async def test_no_answer_names_the_request_and_the_reason() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens on it once closed
    url = f"http://127.0.0.1:{port}"
    api = api_for(url, HeaderAuth(None, url))
    try:
        with pytest.raises(ApiUnreachable, match=rf"GET {url}/api/v1/things: no answer from the API server"):
            await api.request("GET", "/api/v1/things")
        with pytest.raises(ApiUnreachable, match="no answer"):
            async with api.stream("/api/v1/things", {"watch": "1"}, read_timeout=1):
                pass
    finally:
        await api.close()


async def test_a_timeout_is_reported_as_such() -> None:
    answered = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        await answered.wait()
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/slow", handle)
    async with Server(app) as server:
        api = KubeApi(AiohttpTransport(server.url, False, HeaderAuth(None, server.url), timeout=0.2))
        try:
            with pytest.raises(
                ApiUnreachable, match=r"GET .*/slow: no answer from the API server \(.*Timeout"
            ):
                await api.request("GET", "/slow")
        finally:
            answered.set()
            await api.close()
