"""Async OCI distribution API client (manifests and blobs only) on httpx2.

One instance serves the whole process (one connection pool). Per registry host it remembers the
URL scheme and the authentication scheme it saw, so after the first exchange credentials are sent
up front instead of after a 401 round trip. Bearer tokens are cached per (registry, realm, service,
scope, credentials); a 401 on a cached token drops it and retries once with a fresh one.

Security rules:
* plain HTTP only for loopback registries and those listed as insecure (after trying HTTPS);
  TLS is verified everywhere else, with an optional extra CA bundle;
* credentials are never sent to a plain-HTTP token realm unless that host may use plain HTTP;
* tokens are never shared between different credentials (or with anonymous callers);
* error messages never contain credentials or tokens.
"""

from __future__ import annotations

import asyncio
import collections
import email.utils
import json
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx2
from prometheus_client import Counter

from aim_engine.api.image_reference import ImageReference, validate_digest
from aim_engine.registry.auth import TokenCache, TokenKey, parse_challenges, repository_scope
from aim_engine.registry.cache import SingleFlight
from aim_engine.registry.credentials import Credentials, fingerprint
from aim_engine.registry.errors import (
    ImageNotFoundError,
    InvalidMetadataError,
    RegistryAuthError,
    RegistryError,
    RegistryUnavailableError,
)
from aim_engine.registry.manifest import (
    ACCEPT,
    ImageIndex,
    ImageManifest,
    compute_digest,
    parse_manifest,
    verify_digest,
)
from aim_engine.registry.settings import RegistrySettings

REQUESTS_TOTAL = Counter(
    "aim_engine_registry_requests",
    "HTTP requests made to OCI registries and their token endpoints, by host and outcome "
    "(status class 2xx..5xx, or error when no response arrived).",
    ["registry", "outcome"],
)

_ERROR_BODY_LIMIT = 64 * 1024
_TOKEN_BODY_LIMIT = 1024 * 1024
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 507, 508, 509, 520, 521, 522, 523, 524})


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: httpx2.Headers
    body: bytes


@dataclass(frozen=True, slots=True)
class ManifestResult:
    digest: str
    media_type: str
    document: ImageIndex | ImageManifest


class _HostState:
    """What we learned about one registry host."""

    __slots__ = ("basic", "bearer", "discovering", "scheme")

    def __init__(self) -> None:
        self.scheme: str | None = None  # "https" or "http" once a response came back
        # Held by the one request that finds out the scheme: concurrent first requests to a
        # plain-HTTP registry would each try HTTPS first (one failed request apiece) otherwise.
        self.discovering = asyncio.Lock()
        self.basic = False  # the registry asked for Basic: send it up front
        self.bearer: tuple[str, str] | None = None  # (realm, service) of its Bearer challenge


def _is_cert_error(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _retry_after(headers: httpx2.Headers) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_code(body: bytes) -> str | None:
    """The first `errors[].code` of a distribution error body (NAME_UNKNOWN, DENIED, ...)."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    errors = document.get("errors") if isinstance(document, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = errors[0].get("code")
        return code if isinstance(code, str) else None
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class RegistryClient:
    """Low-level client. Most callers want `ImageInspector` (inspector.py) instead."""

    def __init__(
        self,
        settings: RegistrySettings | None = None,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings or RegistrySettings()
        self.request_count = 0
        """Every HTTP request sent (registry and token endpoints, redirects and retries included)."""
        self.requests_by_host: collections.Counter[str] = collections.Counter()
        self.token_requests = 0
        timeout = httpx2.Timeout(
            self.settings.read_timeout,
            connect=self.settings.connect_timeout,
            pool=self.settings.connect_timeout,
        )
        context = httpx2.create_ssl_context(True)
        if self.settings.ca_bundle:
            context.load_verify_locations(cafile=self.settings.ca_bundle)
        common: dict[str, Any] = {
            "timeout": timeout,
            # Blob downloads may redirect to object storage; httpx drops Authorization on
            # cross-origin redirects.
            "follow_redirects": True,
            "headers": {"User-Agent": self.settings.user_agent},
        }
        self._http = httpx2.AsyncClient(verify=context, transport=transport, **common)
        # Only for hosts listed as insecure (Docker's semantics: HTTPS without verification).
        self._http_unverified: httpx2.AsyncClient | None = None
        self._transport = transport
        self._common = common
        self._hosts: dict[str, _HostState] = {}
        self._tokens = TokenCache(
            margin=self.settings.token_expiry_margin, max_entries=self.settings.cache_size
        )
        self._token_flights: SingleFlight[TokenKey, str] = SingleFlight()

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._http_unverified is not None:
            await self._http_unverified.aclose()

    # ----------------------------------------------------------------------------- public API

    async def get_manifest(
        self, ref: ImageReference, credentials: Credentials | None, *, reference: str | None = None
    ) -> ManifestResult:
        """GET a manifest or index by tag or digest (default: the reference's own), verifying
        that the content matches its digest."""
        target = reference or ref.manifest_reference
        response = await self._registry_request(
            "GET",
            ref,
            f"/v2/{ref.repository}/manifests/{target}",
            credentials,
            accept=ACCEPT,
            max_bytes=self.settings.max_manifest_bytes,
            what="manifest",
        )
        # distribution answers MANIFEST_UNKNOWN for a tag of a repository that does not exist
        # either; the tag list tells them apart (only on this error path).
        if (
            response.status == 404
            and _error_code(response.body) != "NAME_UNKNOWN"
            and not await self._repository_exists(ref, credentials)
        ):
            raise ImageNotFoundError(
                f"repository {ref.repository} not found", what="repository", status_code=404
            )
        if response.status != 200:
            self._raise_for_status(response, ref, target, what="manifest")
        body = response.body
        by_digest = target.startswith(("sha256:", "sha512:"))
        if by_digest:
            verify_digest(body, target, what="manifest")
            digest = target
        else:
            digest = compute_digest(body)
            header = response.headers.get("docker-content-digest")
            if header:
                try:
                    validate_digest(header)
                except ValueError:
                    header = None
            if header:
                verify_digest(body, header, what=f"manifest of tag {target!r}")
                digest = header
        document = parse_manifest(body, response.headers.get("content-type"))
        return ManifestResult(digest=digest, media_type=document.media_type, document=document)

    async def _repository_exists(self, ref: ImageReference, credentials: Credentials | None) -> bool:
        """False only when the registry says the repository is unknown."""
        try:
            response = await self._registry_request(
                "GET",
                ref,
                f"/v2/{ref.repository}/tags/list?n=1",
                credentials,
                accept="application/json",
                max_bytes=_ERROR_BODY_LIMIT,
                what="tag list",
            )
        except RegistryError:
            return True
        return response.status != 404

    async def head_manifest(self, ref: ImageReference, credentials: Credentials | None) -> str | None:
        """The digest the reference points at now, without downloading the manifest; None when
        the registry does not say (the caller then GETs)."""
        target = ref.manifest_reference
        response = await self._registry_request(
            "HEAD",
            ref,
            f"/v2/{ref.repository}/manifests/{target}",
            credentials,
            accept=ACCEPT,
            max_bytes=0,
            what="manifest",
        )
        if response.status != 200:
            return None
        header = response.headers.get("docker-content-digest")
        try:
            return validate_digest(header) if header else None
        except ValueError:
            return None

    async def get_blob(
        self, ref: ImageReference, digest: str, credentials: Credentials | None, *, size: int, max_bytes: int
    ) -> bytes:
        """GET a blob (the image config), verifying its digest and declared size."""
        if size > max_bytes:
            raise InvalidMetadataError(
                f"config blob {digest} is {size} bytes, more than the {max_bytes} allowed"
            )
        response = await self._registry_request(
            "GET",
            ref,
            f"/v2/{ref.repository}/blobs/{digest}",
            credentials,
            accept=None,
            max_bytes=max_bytes,
            what="config blob",
        )
        if response.status != 200:
            self._raise_for_status(response, ref, digest, what="blob")
        verify_digest(response.body, digest, what="config blob")
        if len(response.body) != size:
            raise InvalidMetadataError(
                f"config blob {digest} is {len(response.body)} bytes, the manifest says {size}"
            )
        return response.body

    # ----------------------------------------------------------------------- authentication

    async def _registry_request(
        self,
        method: str,
        ref: ImageReference,
        path: str,
        credentials: Credentials | None,
        *,
        accept: str | None,
        max_bytes: int,
        what: str,
    ) -> Response:
        host = ref.api_host
        state = self._hosts.setdefault(host, _HostState())
        scope = repository_scope(ref.repository)
        headers: dict[str, str] = {}
        if accept:
            headers["Accept"] = accept
        sent_auth, token_key = await self._upfront_auth(state, host, scope, credentials)
        if sent_auth:
            headers["Authorization"] = sent_auth
        response = await self._send(method, host, path, headers, max_bytes=max_bytes)
        if response.status != 401:
            return response

        if token_key is not None:
            self._tokens.discard(token_key)  # rejected: never offer it again
        challenges = parse_challenges(response.headers.get_list("www-authenticate"))
        bearer = next((c for c in challenges if c.scheme == "bearer" and c.realm), None)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        if bearer is not None and bearer.realm:
            state.bearer, state.basic = (bearer.realm, bearer.service or ""), False
            token_key = TokenKey(
                host, bearer.realm, bearer.service or "", bearer.scope or scope, fingerprint(credentials)
            )
            token = await self._token(token_key, credentials)
            headers["Authorization"] = f"Bearer {token}"
        elif basic is not None:
            state.basic, state.bearer = True, None
            token_key = None
            if credentials is None:
                raise RegistryAuthError(
                    f"the registry requires authentication for the {what} and no credentials match it",
                    status_code=401,
                )
            if sent_auth == credentials.basic_header():
                raise RegistryAuthError(
                    f"the registry rejected the credentials for the {what} (HTTP 401)", status_code=401
                )
            headers["Authorization"] = credentials.basic_header()
        else:
            schemes = ", ".join(sorted({c.scheme for c in challenges})) or "none"
            raise RegistryAuthError(
                f"HTTP 401 for the {what} with an unsupported authentication challenge ({schemes})",
                status_code=401,
            )

        response = await self._send(method, host, path, headers, max_bytes=max_bytes)
        if response.status == 401:
            if token_key is not None:
                self._tokens.discard(token_key)
            code = _error_code(response.body)
            who = "anonymous access" if credentials is None else "the credentials"
            raise RegistryAuthError(
                f"the registry refused {who} to the {what} (HTTP 401{', ' + code if code else ''}); "
                "check the pull secret and that the repository exists",
                status_code=401,
            )
        return response

    async def _upfront_auth(
        self, state: _HostState, host: str, scope: str, credentials: Credentials | None
    ) -> tuple[str | None, TokenKey | None]:
        if state.basic and credentials is not None:
            return credentials.basic_header(), None
        if state.bearer is not None:
            realm, service = state.bearer
            key = TokenKey(host, realm, service, scope, fingerprint(credentials))
            return f"Bearer {await self._token(key, credentials)}", key
        return None, None

    async def _token(self, key: TokenKey, credentials: Credentials | None) -> str:
        cached = self._tokens.get(key)
        if cached is not None:
            return cached
        # Concurrent inspections of one repository share one token request.
        return await self._token_flights.run(key, lambda: self._fetch_token(key, credentials))

    async def _fetch_token(self, key: TokenKey, credentials: Credentials | None) -> str:
        try:
            realm = httpx2.URL(key.realm)
        except httpx2.InvalidURL:
            raise RegistryAuthError("the registry's token realm is not a valid URL") from None
        realm_host = realm.netloc.decode("ascii", "replace")
        if realm.scheme not in ("https", "http") or not realm.host:
            raise RegistryAuthError(
                f"the registry's token realm {realm_host or key.realm!r} is not an http(s) URL"
            )
        if (
            realm.scheme == "http"
            and credentials is not None
            and not self.settings.allows_plain_http(realm_host)
        ):
            raise RegistryAuthError(
                f"refusing to send credentials to the plain-HTTP token endpoint {realm_host} "
                "(list it as an insecure registry to allow this)"
            )
        params = {k: v for k, v in (("service", key.service), ("scope", key.scope)) if v}
        headers = {"Authorization": credentials.basic_header()} if credentials is not None else {}
        self.token_requests += 1
        response = await self._send_url(
            "GET", realm.copy_merge_params(params), realm_host, headers, _TOKEN_BODY_LIMIT
        )
        if response.status in (401, 403):
            who = "anonymous access" if credentials is None else "the credentials"
            raise RegistryAuthError(
                f"the token endpoint {realm_host} refused {who} (HTTP {response.status})",
                status_code=response.status,
            )
        if response.status != 200:
            raise RegistryAuthError(
                f"the token endpoint {realm_host} answered HTTP {response.status}",
                status_code=response.status,
            )
        try:
            document = json.loads(response.body)
        except (ValueError, UnicodeDecodeError):
            document = None
        token = None
        expires_in: float | None = None
        if isinstance(document, dict):
            token = document.get("token") or document.get("access_token")
            raw_expiry = document.get("expires_in")
            if isinstance(raw_expiry, int | float) and not isinstance(raw_expiry, bool):
                expires_in = float(raw_expiry)
        if not isinstance(token, str) or not token:
            raise RegistryAuthError(f"the token endpoint {realm_host} returned no token")
        self._tokens.put(key, token, expires_in)
        return token

    # ------------------------------------------------------------------- transport, retries

    def _client_for(self, host: str, scheme: str) -> httpx2.AsyncClient:
        if scheme == "https" and self.settings.is_insecure(host):
            if self._http_unverified is None:
                self._http_unverified = httpx2.AsyncClient(
                    verify=False, transport=self._transport, **self._common
                )
            return self._http_unverified
        return self._http

    async def _send(
        self, method: str, host: str, path: str, headers: dict[str, str], *, max_bytes: int
    ) -> Response:
        """One logical registry request with retries; picks (and remembers) the URL scheme."""
        state = self._hosts.setdefault(host, _HostState())

        async def attempt() -> Response:
            if state.scheme is not None:
                schemes = [state.scheme]
            elif self.settings.allows_plain_http(host):
                schemes = ["https", "http"]
            else:
                schemes = ["https"]
            for index, scheme in enumerate(schemes):
                client = self._client_for(host, scheme)
                try:
                    response = await self._fetch(
                        client,
                        method,
                        f"{scheme}://{host}{path}",
                        host=host,
                        headers=headers,
                        max_bytes=max_bytes,
                    )
                except httpx2.ConnectError as exc:
                    # Fall back to plain HTTP only when HTTPS failed for a reason other than a
                    # certificate we do not trust (an HTTP-only server fails the TLS handshake).
                    if index + 1 < len(schemes) and not _is_cert_error(exc):
                        continue
                    raise
                state.scheme = scheme
                return response
            raise AssertionError("unreachable")  # pragma: no cover

        async def first_attempt() -> Response:
            if state.scheme is not None:
                return await attempt()
            async with state.discovering:
                return await attempt()  # the scheme may have been learned while waiting

        return await self._with_retries(first_attempt, host)

    async def _send_url(
        self, method: str, url: httpx2.URL, host: str, headers: dict[str, str], max_bytes: int
    ) -> Response:
        client = self._client_for(host, url.scheme)
        return await self._with_retries(
            lambda: self._fetch(client, method, str(url), host=host, headers=headers, max_bytes=max_bytes),
            host,
        )

    async def _with_retries(self, attempt: Callable[[], Awaitable[Response]], host: str) -> Response:
        settings = self.settings
        tries = 0
        while True:
            failure: str
            retry_after: float | None = None
            try:
                response: Response = await attempt()
            except httpx2.TransportError as exc:
                if _is_cert_error(exc):
                    raise RegistryUnavailableError(
                        f"TLS certificate of {host} is not trusted ({_describe(exc)}); "
                        "add its CA with a CA bundle or list the registry as insecure",
                        registry=host,
                    ) from None
                failure = f"cannot reach {host}: {_describe(exc)}"
            else:
                if response.status not in _RETRY_STATUSES:
                    return response
                retry_after = _retry_after(response.headers)
                label = "rate limited (HTTP 429)" if response.status == 429 else f"HTTP {response.status}"
                failure = f"{host} answered {label}"
            if tries >= settings.retries:
                raise RegistryUnavailableError(
                    f"{failure} after {tries + 1} attempts", retry_after=retry_after, registry=host
                )
            if retry_after is not None and retry_after > settings.retry_after_max:
                raise RegistryUnavailableError(
                    f"{failure}; it asks to retry after {retry_after:.0f} s",
                    retry_after=retry_after,
                    registry=host,
                )
            delay = min(settings.backoff_max, settings.backoff_base * (2**tries)) * random.uniform(0.5, 1.0)
            if retry_after is not None:
                delay = max(delay, retry_after)
            tries += 1
            await asyncio.sleep(delay)

    async def _fetch(
        self,
        client: httpx2.AsyncClient,
        method: str,
        url: str,
        *,
        host: str,
        headers: dict[str, str],
        max_bytes: int,
    ) -> Response:
        """One HTTP exchange, reading at most `max_bytes` of a success body (streamed, so an
        oversized answer is cut off instead of filling memory)."""
        self.request_count += 1
        self.requests_by_host[host] += 1
        try:
            async with client.stream(method, url, headers=headers) as response:
                extra = len(response.history)  # redirects followed are requests too
                self.request_count += extra
                self.requests_by_host[host] += extra
                REQUESTS_TOTAL.labels(host, f"{response.status_code // 100}xx").inc(1 + extra)
                success = 200 <= response.status_code < 300
                limit = max_bytes if success else _ERROR_BODY_LIMIT
                declared = response.headers.get("content-length", "")
                if success and declared.isdigit() and int(declared) > limit and method != "HEAD":
                    raise InvalidMetadataError(
                        f"{host} sent {declared} bytes for {response.url.path}, more than the {limit} allowed"
                    )
                body = bytearray()
                if method != "HEAD":
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > limit:
                            if not success:
                                del body[limit:]
                                break
                            raise InvalidMetadataError(
                                f"{host} sent more than the {limit} bytes allowed for {response.url.path}"
                            )
                return Response(response.status_code, response.headers, bytes(body))
        except httpx2.TransportError:
            REQUESTS_TOTAL.labels(host, "error").inc()
            raise

    # ------------------------------------------------------------------------------ errors

    def _raise_for_status(self, response: Response, ref: ImageReference, target: str, *, what: str) -> None:
        code = _error_code(response.body)
        status = response.status
        if status == 404:
            if code == "NAME_UNKNOWN":
                raise ImageNotFoundError(
                    f"repository {ref.repository} not found", what="repository", status_code=404
                )
            if what == "blob":
                raise ImageNotFoundError(f"config blob {target} not found", what="blob", status_code=404)
            if target.startswith(("sha256:", "sha512:")):
                raise ImageNotFoundError(f"manifest {target} not found", what="manifest", status_code=404)
            raise ImageNotFoundError(
                f"tag {target!r} not found in repository {ref.repository}", what="tag", status_code=404
            )
        if status == 403:
            raise RegistryAuthError(
                f"access to the {what} denied (HTTP 403{', ' + code if code else ''})", status_code=403
            )
        if status == 406 or code == "MANIFEST_INVALID":
            raise InvalidMetadataError(
                f"the registry cannot serve the {what} in a supported format (HTTP {status})"
            )
        raise RegistryError(
            f"unexpected HTTP {status} for the {what}{' (' + code + ')' if code else ''}", status_code=status
        )
