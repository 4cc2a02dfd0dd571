"""The few raw API requests the runtime makes, on lightkube's configuration (see `transport`
for how they travel).

lightkube's own watch cannot ask for bookmarks and hides 410 Gone inside a retry loop, and
its typed models are not our pydantic types, so the runtime issues requests itself: the
connection (server, TLS, credentials incl. token-file rotation and exec plugins) still comes
from lightkube's kubeconfig handling, and responses are decoded with msgspec/pydantic.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import lightkube
import msgspec
from lightkube.config.client_adapter import ConnectionParams
from lightkube.config.kubeconfig import KubeConfig, SingleConfig

from aim_engine import __version__
from aim_engine.runtime.errors import ApiError, api_error
from aim_engine.runtime.transport import AiohttpTransport, HeaderAuth, HttpxTransport, Transport

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


class KubeApi:
    """A thin async client: JSON in, bytes out, errors as `ApiError` subclasses."""

    def __init__(self, transport: Transport, *, user_agent: str | None = None) -> None:
        self._transport = transport
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
    ) -> KubeApi:
        """Connect with a lightkube configuration (None: as `load_config()`): its server, TLS
        (CA, client certificate) and credentials, over aiohttp (see `transport`)."""
        if config is None:
            config = load_config()
        elif isinstance(config, KubeConfig):
            single = config.get()
            if single is None:
                raise ValueError("kubeconfig has no usable context")
            config = single
        params = ConnectionParams(trust_env=False).httpx_params(config)
        server: str = params["base_url"]
        auth = HeaderAuth(params["auth"], server)
        return cls(AiohttpTransport(server, params["verify"], auth, timeout=timeout), user_agent=user_agent)

    @classmethod
    def from_lightkube(cls, client: lightkube.AsyncClient) -> KubeApi:
        """Share the connection pool of an existing lightkube client (closing stays its job).

        Uses lightkube's internal httpx2 client (`client._client._client`), which carries
        the base URL, TLS and authentication of the client's configuration.
        """
        inner: httpx2.AsyncClient = client._client._client
        return cls(HttpxTransport(inner, close_client=False))

    async def close(self) -> None:
        await self._transport.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str | None = None,
    ) -> bytes:
        """Send one request; the response body on 2xx, else raise the matching ApiError
        (`ApiUnreachable` when no answer came)."""
        headers = dict(self._headers)
        if accept:
            headers["Accept"] = accept
        content = None
        if body is not None:
            content = _encode(body)
            headers["Content-Type"] = content_type
        answer = await self._transport.send(method, path, params=params, content=content, headers=headers)
        if answer.status >= 400:
            raise status_error(answer.status, answer.body)
        return answer.body

    @asynccontextmanager
    async def stream(
        self, path: str, params: dict[str, str], *, read_timeout: float | None, accept: str | None = None
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """A streaming GET (a watch): its body as lines without the newline. Raises the
        matching ApiError on an error status."""
        headers = {**self._headers, "Accept": accept} if accept else self._headers
        async with self._transport.stream(
            path, params=params, headers=headers, read_timeout=read_timeout
        ) as s:
            if s.status >= 400:
                raise status_error(s.status, await s.read())
            yield s.lines
