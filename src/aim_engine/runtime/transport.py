"""How `KubeApi`'s requests reach the API server: aiohttp for the operator, httpx2 to share a
lightkube client's connection.

The operator's requests go over aiohttp (HTTP/1.1, C-accelerated parsing on asyncio's own TLS
transport). Against a real kube-apiserver on this project's 2-core benchmark machine a GET cost
the client about 0.3 ms of CPU over aiohttp, 1.4-1.7 ms over httpx2 (HTTP/1.1 or HTTP/2) and
1.2 ms over httpcore's pool used directly; the operator spent about 40 % less CPU for the same
300 models (`bench/bench_http.py`, docs/benchmarks.md, "The HTTP transport").

Credentials still come from lightkube's kubeconfig handling: its httpx2 `Auth` flows (token,
token file, exec plugin, basic) are run for the Authorization header only, and again after a
401, which is when a rotated token file is re-read or an exec plugin re-run.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import httpx2

from aim_engine.runtime.errors import ApiUnreachable

# Over HTTP/1.1 each request in flight holds a connection, and each TLS connection costs about
# 256 KiB of memory (asyncio's SSL protocol buffer): requests beyond this many wait for one.
# Watches hold theirs for minutes, so they have their own pool (one connection per informer).
MAX_CONNECTIONS = 32

# What aiohttp raises when no answer came: its own errors, and its timeouts (TimeoutError).
_AIOHTTP_ERRORS = (aiohttp.ClientError, TimeoutError)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes


@dataclass(slots=True)
class Stream:
    """A streaming response: its status, and its body as lines (an error's body on `read`)."""

    status: int
    lines: AsyncIterator[bytes]
    _read: AsyncIterator[bytes]

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self._read])


class Transport(Protocol):
    async def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
    ) -> Answer: ...

    def stream(
        self, path: str, *, params: dict[str, str], headers: dict[str, str], read_timeout: float | None
    ) -> AbstractAsyncContextManager[Stream]: ...

    async def close(self) -> None: ...


async def split_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Newline-delimited records (a watch's events) from arbitrary chunks, without the newline.
    No line length limit: one event holds one object, which the API server already bounds."""
    pending = b""
    async for chunk in chunks:
        if b"\n" not in chunk:
            pending += chunk
            continue
        *complete, rest = (pending + chunk).split(b"\n")
        pending = rest
        for line in complete:
            yield line
    if pending:
        yield pending


class HeaderAuth:
    """The Authorization header of a lightkube/httpx2 auth flow, cached until a 401 asks for a
    fresh one (a rotated service account token, an expired exec-plugin token)."""

    def __init__(self, auth: httpx2.Auth | None, url: str) -> None:
        self._auth = auth
        self._url = url
        self._value: str | None = None
        self._lock = asyncio.Lock()

    async def header(self) -> str | None:
        if self._auth is not None and self._value is None:
            async with self._lock:
                if self._value is None:
                    flow, first = await self._start()
                    self._value = first.headers.get("Authorization")
                    await flow.aclose()
        return self._value

    async def _start(self) -> tuple[AsyncGenerator[httpx2.Request, httpx2.Response], httpx2.Request]:
        """A new run of the auth flow, and the request it first sends (with the header)."""
        assert self._auth is not None
        flow = self._auth.async_auth_flow(httpx2.Request("GET", self._url))
        return flow, await anext(flow)

    async def refresh(self, rejected: str | None) -> bool:
        """After a 401 answered `rejected`: whether a different header is now to be tried."""
        if self._auth is None:
            return False
        async with self._lock:
            if self._value != rejected:
                return True  # another request refreshed it meanwhile
            flow, first = await self._start()
            try:
                retry = await flow.asend(httpx2.Response(401, request=first))
            except StopAsyncIteration:
                return False  # a static token or password: nothing to refresh
            finally:
                await flow.aclose()
            self._value = retry.headers.get("Authorization")
            return self._value != rejected


class AiohttpTransport:
    """The operator's transport. The session is made on first use, inside the running loop."""

    def __init__(
        self,
        base_url: str,
        ssl_context: ssl.SSLContext | bool,
        auth: HeaderAuth,
        *,
        timeout: float,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._extra = headers or {}
        """Sent with every request (impersonation, in tests)."""
        self._ssl = ssl_context
        self._auth = auth
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._stream_session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=self._ssl, limit=MAX_CONNECTIONS)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    def _streams(self) -> aiohttp.ClientSession:
        if self._stream_session is None:
            connector = aiohttp.TCPConnector(ssl=self._ssl, limit=0)  # one per watch, no cap
            self._stream_session = aiohttp.ClientSession(connector=connector)
        return self._stream_session

    async def _headers(self, headers: dict[str, str]) -> dict[str, str]:
        value = await self._auth.header()
        sent = {**headers, **self._extra}
        if value:
            sent["Authorization"] = value
        return sent

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
    ) -> Answer:
        url = self._base + path
        for _ in range(2):  # once more after a 401 that refreshed the credentials
            sent = await self._headers(headers)
            try:
                async with self._client().request(
                    method, url, params=params, data=content, headers=sent
                ) as response:
                    body = await response.read()
            except _AIOHTTP_ERRORS as exc:
                raise unreachable(method, url, exc) from exc
            if response.status != 401 or not await self._auth.refresh(sent.get("Authorization")):
                break
        return Answer(response.status, body)

    @asynccontextmanager
    async def stream(
        self, path: str, *, params: dict[str, str], headers: dict[str, str], read_timeout: float | None
    ) -> AsyncIterator[Stream]:
        url = self._base + path
        timeout = aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=read_timeout)
        sent = await self._headers(headers)
        try:
            response = await self._streams().get(url, params=params, headers=sent, timeout=timeout)
        except _AIOHTTP_ERRORS as exc:
            raise unreachable("GET", url, exc) from exc
        try:
            if response.status == 401:
                await self._auth.refresh(sent.get("Authorization"))  # for the next attempt
            chunks = _guarded(response.content.iter_any(), "GET", url, _AIOHTTP_ERRORS)
            yield Stream(response.status, split_lines(chunks), chunks)
        finally:
            # A stream given up midway (a cancelled watch) cannot go back to the pool.
            if response.content.at_eof():
                response.release()
            else:
                response.close()

    async def close(self) -> None:
        for session in (self._session, self._stream_session):
            if session is not None:
                await session.close()
        self._session = self._stream_session = None


async def _guarded(
    chunks: AsyncIterator[bytes], method: str, url: str, errors: tuple[type[BaseException], ...]
) -> AsyncIterator[bytes]:
    """`chunks`, with the transport's errors while reading them as `ApiUnreachable`."""
    try:
        async for chunk in chunks:
            yield chunk
    except errors as exc:
        raise unreachable(method, url, exc) from exc


def unreachable(method: str, url: str, exc: BaseException) -> ApiUnreachable:
    # aiohttp's timeouts carry no message of their own.
    what = str(exc) or type(exc).__name__
    return ApiUnreachable(f"{method} {url}: no answer from the API server ({what})")


class HttpxTransport:
    """Over an httpx2 client: a lightkube client's own pool (`KubeApi.from_lightkube`), or a
    mock transport in unit tests. It carries its own base URL and authentication."""

    def __init__(self, client: httpx2.AsyncClient, *, close_client: bool = True) -> None:
        self._client = client
        self._close_client = close_client

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
    ) -> Answer:
        try:
            response = await self._client.request(
                method, path, params=params, content=content, headers=headers
            )
        except httpx2.TransportError as exc:
            raise unreachable(method, path, exc) from exc
        return Answer(response.status_code, response.content)

    @asynccontextmanager
    async def stream(
        self, path: str, *, params: dict[str, str], headers: dict[str, str], read_timeout: float | None
    ) -> AsyncIterator[Stream]:
        timeout = httpx2.Timeout(10.0, read=read_timeout)
        request = self._client.build_request("GET", path, params=params, headers=headers, timeout=timeout)
        try:
            response = await self._client.send(request, stream=True)
        except httpx2.TransportError as exc:
            raise unreachable("GET", path, exc) from exc
        try:
            chunks = _guarded(response.aiter_bytes(), "GET", path, (httpx2.TransportError,))
            yield Stream(response.status_code, split_lines(chunks), chunks)
        finally:
            await response.aclose()

    async def close(self) -> None:
        if self._close_client:
            await self._client.aclose()
