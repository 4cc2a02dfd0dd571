"""Settings the controllers need from the operator's command line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aim_engine.api.image_reference import split_host_port
from aim_engine.registry.settings import RegistrySettings

DEFAULT_OPERATOR_NAMESPACE = "aim-system"


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ControllerSettings:
    operator_namespace: str = DEFAULT_OPERATOR_NAMESPACE
    """Where cluster-scoped models read their pull secrets."""
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    allowed_registries: tuple[str, ...] = ()
    """When not empty, discovery contacts only these registries, written as in image references
    (host:port, or a host alone for every port of it); other images fail with a message saying so."""
    kserve: bool = True
    """Whether the cluster serves KServe's InferenceService API. Without it, services resolve
    their model and template and say that KServe is missing; nothing watches InferenceServices."""
    clock: Callable[[], datetime] = wall_clock
    """The time stamped on condition transitions (UTC). The only clock reconcilers read: a fixed
    one makes their output reproducible (offline render, tests)."""

    def allows(self, registry: str) -> bool:
        if not self.allowed_registries:
            return True
        host, _ = split_host_port(registry)
        if registry.startswith("["):
            host = f"[{host}]"  # an IPv6 literal is written in brackets, as in image references
        return registry in self.allowed_registries or host in self.allowed_registries
