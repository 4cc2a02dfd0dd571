"""The AIM API: typed resources for every kind, from which the CRDs are generated."""

from __future__ import annotations

from typing import Any

from aim_engine.api import v1alpha1, v1alpha2
from aim_engine.api.meta import KubeObject

AIM_KINDS: tuple[type[KubeObject], ...] = (
    v1alpha1.AIMModel,
    v1alpha1.AIMClusterModel,
    v1alpha1.AIMServiceTemplate,
    v1alpha1.AIMClusterServiceTemplate,
    v1alpha1.AIMRuntimeConfig,
    v1alpha1.AIMClusterRuntimeConfig,
    v1alpha1.AIMService,
    v1alpha2.AIMModel,
    v1alpha2.AIMClusterModel,
    v1alpha2.AIMProfile,
    v1alpha2.AIMClusterProfile,
)

_BY_TYPE = {(cls.API_VERSION, cls.KIND): cls for cls in AIM_KINDS}


def kind_class(api_version: str, kind: str) -> type[KubeObject] | None:
    """The typed class for an apiVersion/kind pair, or None if it is not an AIM kind."""
    return _BY_TYPE.get((api_version, kind))


def parse_object(document: dict[str, Any]) -> KubeObject:
    """Parse one AIM object from its JSON/YAML form; raises ValueError naming what is wrong."""
    api_version, kind = document.get("apiVersion"), document.get("kind")
    cls = kind_class(str(api_version), str(kind))
    if cls is None:
        raise ValueError(f"apiVersion {api_version!r} kind {kind!r} is not an AIM kind")
    return cls.model_validate(document)
