"""AIMRuntimeConfig and AIMClusterRuntimeConfig: platform settings shared by models and services."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from aim_engine.api.meta import ApiModel, Conditions, EnvVar, KubeObject, LocalObjectReference
from aim_engine.api.v1alpha1.groupversion import GROUP_VERSION


class StorageConfig(ApiModel):
    default_storage_class_name: str | None = None
    pvc_headroom_percent: Annotated[int, Field(ge=0, le=1000)] | None = None


class GatewayRef(ApiModel):
    name: str
    namespace: str | None = None
    group: str | None = None
    kind: str | None = None
    section_name: str | None = None


class RoutingConfig(ApiModel):
    enabled: bool | None = None
    gateway_ref: GatewayRef | None = None
    path_template: str | None = None
    request_timeout: str | None = None
    annotations: dict[str, str] | None = None


class ModelConfig(ApiModel):
    auto_discovery: bool | None = None
    """Whether models created for services (spec.model.image) run discovery (default true)."""


class LabelPropagation(ApiModel):
    enabled: bool | None = None
    match: list[str] | None = None


class AIMRuntimeConfigSpec(ApiModel):
    image_pull_secrets: list[LocalObjectReference] | None = None
    """Pull secrets added to those of every model that uses this config."""
    service_account_name: str | None = None
    storage: StorageConfig | None = None
    routing: RoutingConfig | None = None
    env: list[EnvVar] | None = None
    model: ModelConfig | None = None
    label_propagation: LabelPropagation | None = None
    default_storage_class_name: str | None = None
    """Deprecated: use storage.defaultStorageClassName."""
    pvc_headroom_percent: Annotated[int, Field(ge=0, le=1000)] | None = None
    """Deprecated: use storage.pvcHeadroomPercent."""


class AIMRuntimeConfigStatus(ApiModel):
    observed_generation: int | None = None
    conditions: Conditions | None = None


class AIMRuntimeConfig(KubeObject):
    API_VERSION: ClassVar[str] = GROUP_VERSION
    KIND: ClassVar[str] = "AIMRuntimeConfig"
    PLURAL: ClassVar[str] = "aimruntimeconfigs"
    NAMESPACED: ClassVar[bool] = True

    spec: AIMRuntimeConfigSpec = Field(default_factory=AIMRuntimeConfigSpec)
    status: AIMRuntimeConfigStatus | None = None


class AIMClusterRuntimeConfig(KubeObject):
    API_VERSION: ClassVar[str] = GROUP_VERSION
    KIND: ClassVar[str] = "AIMClusterRuntimeConfig"
    PLURAL: ClassVar[str] = "aimclusterruntimeconfigs"
    NAMESPACED: ClassVar[bool] = False

    spec: AIMRuntimeConfigSpec = Field(default_factory=AIMRuntimeConfigSpec)
    status: AIMRuntimeConfigStatus | None = None
