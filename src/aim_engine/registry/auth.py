"""Registry authentication pieces: `WWW-Authenticate` challenges and the bearer token cache.

Pure (no I/O); the client (client.py) does the requests. The challenge parser is generic rather
than tuned to one registry: schemes are case-insensitive, parameter values may be quoted (with
backslash escapes) or bare tokens, several challenges may share one header, and `scope` may be
missing. (A token68 value such as `Negotiate abc==` is read as a parameter; no registry
scheme we answer uses one.) (some registries leave it out of the challenge for the /v2/ ping).
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

_SCHEME_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_PARAM_RE = re.compile(r'([!#$%&\'*+.^_`|~0-9A-Za-z-]+)[ \t]*=[ \t]*("(?:[^"\\]|\\.)*"|[^,\s]*)')
_UNESCAPE_RE = re.compile(r"\\(.)")

DEFAULT_TOKEN_LIFETIME = 60.0  # the Docker token spec's default when expires_in is missing


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # lower-case: "basic", "bearer", ...
    params: dict[str, str] = field(default_factory=dict)  # keys lower-case

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")


def parse_challenges(headers: Iterable[str]) -> list[Challenge]:
    """Parse every challenge in one or more WWW-Authenticate header values."""
    challenges: list[Challenge] = []
    for header in headers:
        pos, length = 0, len(header)
        current: Challenge | None = None
        while pos < length:
            while pos < length and header[pos] in " \t,":
                pos += 1
            if pos >= length:
                break
            param = _PARAM_RE.match(header, pos)
            if param and current is not None:
                value = param.group(2)
                if value.startswith('"'):
                    value = _UNESCAPE_RE.sub(r"\1", value[1:-1])
                current.params[param.group(1).lower()] = value
                pos = param.end()
                continue
            scheme = _SCHEME_RE.match(header, pos)
            if not scheme:
                pos += 1  # garbage: skip a character rather than give up on the whole header
                continue
            current = Challenge(scheme=scheme.group(0).lower())
            challenges.append(current)
            pos = scheme.end()
    return challenges


def repository_scope(repository: str, actions: str = "pull") -> str:
    return f"repository:{repository}:{actions}"


@dataclass(frozen=True, slots=True)
class TokenKey:
    registry: str
    realm: str
    service: str
    scope: str
    credentials: str  # credential fingerprint or "anonymous": tokens are never shared across them


class TokenCache:
    """Bearer tokens per (registry, realm, service, scope, credentials) until shortly before expiry.

    Bounded (least recently used evicted) because an operator sees an open-ended set of repositories.
    """

    def __init__(
        self, *, margin: float = 10.0, max_entries: int = 4096, clock: Callable[[], float] = time.monotonic
    ):
        self._margin = margin
        self._max = max_entries
        self._clock = clock
        self._tokens: OrderedDict[TokenKey, tuple[str, float]] = OrderedDict()

    def get(self, key: TokenKey) -> str | None:
        entry = self._tokens.get(key)
        if entry is None:
            return None
        token, expires_at = entry
        if self._clock() >= expires_at:
            del self._tokens[key]
            return None
        self._tokens.move_to_end(key)
        return token

    def put(self, key: TokenKey, token: str, expires_in: float | None) -> None:
        lifetime = DEFAULT_TOKEN_LIFETIME if expires_in is None or expires_in <= 0 else expires_in
        # Renew early (clock skew, request latency), but never spend more than half the lifetime on
        # the margin, so short-lived tokens are still reused.
        usable = lifetime - min(self._margin, lifetime / 2)
        self._tokens[key] = (token, self._clock() + usable)
        self._tokens.move_to_end(key)
        while len(self._tokens) > self._max:
            self._tokens.popitem(last=False)

    def discard(self, key: TokenKey) -> None:
        self._tokens.pop(key, None)

    def __len__(self) -> int:
        return len(self._tokens)
