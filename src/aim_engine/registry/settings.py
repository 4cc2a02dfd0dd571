"""Registry client settings (operator flags and CLI options end up here)."""

from __future__ import annotations

from dataclasses import dataclass, field

from aim_engine.api.image_reference import is_loopback_host, normalize_registry_host
from aim_engine.registry.manifest import Platform

MiB = 1024 * 1024


@dataclass(frozen=True)
class RegistrySettings:
    insecure_registries: tuple[str, ...] = ()
    """Hosts (host or host:port) that may be reached over plain HTTP or HTTPS without certificate
    verification, as Docker's `insecure-registries`. Loopback hosts may always use plain HTTP."""
    ca_bundle: str | None = None
    """Extra PEM file of CA certificates trusted in addition to the system ones."""
    platform: Platform = field(default_factory=lambda: Platform("linux", "amd64"))
    """Which image of a multi-platform index is inspected."""
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_manifest_bytes: int = 4 * MiB
    max_config_bytes: int = 8 * MiB
    retries: int = 3
    """Extra attempts after the first on 429, 5xx and connection errors."""
    backoff_base: float = 0.5
    """First retry delay in seconds; doubles per attempt, with jitter, up to backoff_max."""
    backoff_max: float = 8.0
    retry_after_max: float = 30.0
    """Longest Retry-After we wait inside one inspection; longer ones fail as unavailable and
    carry `retry_after` so the caller can requeue instead of blocking."""
    token_expiry_margin: float = 10.0
    """Bearer tokens are renewed this many seconds before they expire (at most half their life)."""
    reference_ttl: float = 300.0
    """How long a tag → digest resolution is reused without asking the registry again."""
    cache_size: int = 4096
    """Entries per cache (resolutions, indexes, inspected images); least recently used evicted."""
    user_agent: str = "aim-engine"

    def __post_init__(self) -> None:
        if isinstance(self.platform, str):
            object.__setattr__(self, "platform", Platform.parse(self.platform))
        hosts = tuple(normalize_registry_host(h.strip()) for h in self.insecure_registries if h.strip())
        object.__setattr__(self, "insecure_registries", hosts)
        if self.retries < 0 or self.cache_size < 1:
            raise ValueError("retries must be >= 0 and cache_size >= 1")

    def is_insecure(self, host: str) -> bool:
        """Listed as insecure: HTTPS without verification or plain HTTP are allowed."""
        return normalize_registry_host(host) in self.insecure_registries

    def allows_plain_http(self, host: str) -> bool:
        return is_loopback_host(host) or self.is_insecure(host)
