"""The few raw API requests the runtime makes, on lightkube's configuration and httpx2 stack.

lightkube's own watch cannot ask for bookmarks and hides 410 Gone inside a retry loop, and
its typed models are not our pydantic types, so the runtime issues requests itself: the
connection (server, TLS, credentials incl. token-file rotation and exec plugins) still comes
from lightkube's kubeconfig handling, and responses are decoded with msgspec/pydantic.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import lightkube
import msgspec
from lightkube.config.client_adapter import ConnectionParams
from lightkube.config.kubeconfig import KubeConfig, SingleConfig

from aim_engine import __version__
from aim_engine.runtime.errors import ApiError, api_error

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"

_encode = msgspec.json.encode


class _Status(msgspec.Struct):
    code: int = 0
    reason: str = ""
    message: str = ""


def load_config(kubeconfig: str | os.PathLike[str] | None = None, context: str | None = None) -> SingleConfig:
    """The kubeconfig file given, else in-cluster config, else $KUBECONFIG or ~/.kube/config."""
    config = KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
    single = config.get(context_name=context)
    if single is None:
        raise ValueError(f"no usable context in kubeconfig {kubeconfig or '(auto)'}")
    return single


def status_error(code: int, body: bytes) -> ApiError:
    """An ApiError from a failed response (or a watch ERROR event's Status object)."""
    try:
        status = msgspec.json.decode(body, type=_Status)
    except msgspec.DecodeError:
        return api_error(code, "", body[:200].decode(errors="replace"))
    return api_error(status.code or code, status.reason, status.message)


# Keep as many connections alive as run at once: with httpx's default (20 kept alive) a burst
# of concurrent writes (workers x a model's templates) closed the surplus connections after
# each request and paid a TLS handshake for the next one: about 900 handshakes for 300 models.
POOL_LIMITS = httpx2.Limits(max_connections=128, max_keepalive_connections=128)


class KubeApi:
    """A thin async client: JSON in, bytes out, errors as `ApiError` subclasses."""

    def __init__(
        self,
        client: httpx2.AsyncClient,
        *,
        close_client: bool = True,
        user_agent: str | None = None,
        stream_client: httpx2.AsyncClient | None = None,
    ) -> None:
        self._client = client
        self._stream_client = stream_client or client
        """Watches: long-lived streams, kept off the HTTP/2 connection (see `from_config`)."""
        self._close_client = close_client
        # The API server names the field manager of writes without `fieldManager` after the
        # user agent's first word: keep it "aim-engine" for the operator.
        agent = user_agent or f"aim-engine/{__version__}"
        self._headers = {"User-Agent": agent, "Accept": "application/json"}

    @classmethod
    def from_config(
        cls,
        config: SingleConfig | KubeConfig | None = None,
        *,
        timeout: float = 10.0,
        user_agent: str | None = None,
        http2: bool = True,
    ) -> KubeApi:
        """Connect with a lightkube configuration (None: as `load_config()`)."""
        if config is None:
            config = load_config()
        elif isinstance(config, KubeConfig):
            single = config.get()
            if single is None:
                raise ValueError("kubeconfig has no usable context")
            config = single
        params = ConnectionParams(timeout=httpx2.Timeout(timeout), trust_env=False, http2=http2)
        # Requests over HTTP/2 share one TLS connection. Over HTTP/1.1 each concurrent request
        # needs its own, and picking one from a pool of a hundred cost about 15 % of the
        # operator's CPU at 1,000 models (py-spy). Watches stay on HTTP/1.1, one connection
        # each: long-lived streams multiplexed with everything else stalled other responses
        # on httpcore's HTTP/2 connection (LISTs never completed at 100 models).
        client = httpx2.AsyncClient(**params.httpx_params(config), limits=POOL_LIMITS)
        if not http2:
            return cls(client, user_agent=user_agent)
        streams = dataclasses.replace(params, http2=False)
        stream_client = httpx2.AsyncClient(**streams.httpx_params(config), limits=POOL_LIMITS)
        return cls(client, user_agent=user_agent, stream_client=stream_client)

    @classmethod
    def from_lightkube(cls, client: lightkube.AsyncClient) -> KubeApi:
        """Share the connection pool of an existing lightkube client (closing stays its job).

        Uses lightkube's internal httpx2 client (`client._client._client`), which carries
        the base URL, TLS and authentication of the client's configuration.
        """
        inner: httpx2.AsyncClient = client._client._client
        return cls(inner, close_client=False)

    async def close(self) -> None:
        if self._close_client:
            await self._client.aclose()
            if self._stream_client is not self._client:
                await self._stream_client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str | None = None,
    ) -> bytes:
        """Send one request; the response body on 2xx, else raise the matching ApiError."""
        headers = dict(self._headers)
        if accept:
            headers["Accept"] = accept
        content = None
        if body is not None:
            content = _encode(body)
            headers["Content-Type"] = content_type
        response = await self._client.request(method, path, params=params, content=content, headers=headers)
        if response.status_code >= 400:
            raise status_error(response.status_code, response.content)
        return response.content

    @asynccontextmanager
    async def stream(
        self, path: str, params: Mapping[str, str], *, read_timeout: float | None, accept: str | None = None
    ) -> AsyncIterator[httpx2.Response]:
        """A streaming GET (watch); raises the matching ApiError on an error status."""
        timeout = httpx2.Timeout(10.0, read=read_timeout)
        headers = {**self._headers, "Accept": accept} if accept else self._headers
        async with self._stream_client.stream(
            "GET", path, params=params, headers=headers, timeout=timeout
        ) as response:
            if response.status_code >= 400:
                raise status_error(response.status_code, await response.aread())
            yield response
