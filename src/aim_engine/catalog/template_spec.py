"""Building blocks of the templates a model plans: the desired object, hardware and env merges,
and the canonical form written to the API server. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aim_engine.api.meta import EnvVar
from aim_engine.api.v1alpha1 import AIMModelSpec, Hardware
from aim_engine.api.v1alpha1.common import CPURequirements, GPURequirements
from aim_engine.api.v1alpha1.template import AIMServiceTemplateSpec

M = TypeVar("M", GPURequirements, CPURequirements)


@dataclass(frozen=True)
class DesiredTemplate:
    name: str
    spec: AIMServiceTemplateSpec
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def discovery_enabled(spec: AIMModelSpec) -> bool:
    return spec.discovery is None or spec.discovery.extract_metadata is not False


def creates_templates(spec: AIMModelSpec) -> bool:
    return spec.discovery is None or spec.discovery.create_service_templates is not False


def gpu_models_of(hardware: Hardware | None) -> list[str]:
    if hardware is None or hardware.gpu is None:
        return []
    models = list(hardware.gpu.models or [])
    if hardware.gpu.model and hardware.gpu.model not in models:
        models.append(hardware.gpu.model)
    return models


def merge_hardware(base: Hardware | None, override: Hardware | None) -> Hardware | None:
    """Field-by-field: anything the override sets wins; the rest comes from the base."""
    if base is None or override is None:
        return override or base
    gpu = _merge_model(base.gpu, override.gpu, GPURequirements)
    cpu = _merge_model(base.cpu, override.cpu, CPURequirements)
    return Hardware(gpu=gpu, cpu=cpu)


def _merge_model(base: M | None, override: M | None, cls: type[M]) -> M | None:
    if base is None or override is None:
        return override or base
    merged = {**base.model_dump(exclude_unset=True), **override.model_dump(exclude_unset=True)}
    return cls.model_validate(merged)


def merge_env(base: Sequence[EnvVar] | None, override: Sequence[EnvVar] | None) -> list[EnvVar] | None:
    """By name: the override's entries replace the base's; order is the base's, then new names."""
    if not base and not override:
        return None
    merged = {e.name: e for e in base or ()}
    for entry in override or ():
        merged[entry.name] = entry
    return list(merged.values())


def canonical_hardware(hardware: Hardware | None) -> Hardware | None:
    """`gpu.models` sorted and without duplicates: the list means "any of these", so its order
    carries nothing, and a reordering must not change an immutable field of a template."""
    if hardware is None or hardware.gpu is None or not hardware.gpu.models:
        return hardware
    gpu = hardware.gpu.model_copy(update={"models": sorted(set(hardware.gpu.models))})
    return hardware.model_copy(update={"gpu": gpu})


def hardware_identity(hardware: Hardware | None) -> dict[str, Any] | None:
    """Every hardware field (in canonical form), for name hashes: `spec.hardware` is immutable, so
    any change of it must give a template of another name."""
    canonical = canonical_hardware(hardware)
    return canonical.dump() if canonical is not None else None


def normalized(spec: AIMServiceTemplateSpec) -> AIMServiceTemplateSpec:
    """The spec as it is applied: canonical hardware, and re-parsed so that only fields with a
    value count as set (None means absent on the wire)."""
    spec = spec.model_copy(update={"hardware": canonical_hardware(spec.hardware)})
    return AIMServiceTemplateSpec.model_validate(
        spec.model_dump(by_alias=True, exclude_none=True, mode="json")
    )
