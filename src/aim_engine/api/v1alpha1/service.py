"""AIMService: a running inference endpoint for a model, deployed through KServe."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from aim_engine.api.meta import (
    ApiModel,
    Conditions,
    EnvVar,
    KubeObject,
    LocalObjectReference,
    ResourceRequirements,
)
from aim_engine.api.schema import cel
from aim_engine.api.v1alpha1.common import Hardware, Metric, ModelSource, Precision, ResolvedReference
from aim_engine.api.v1alpha1.groupversion import GROUP_VERSION

ServiceStatus = Literal["Pending", "Starting", "Running", "Degraded", "Failed"]


class ServiceCustomModel(ApiModel):
    base_image: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    """Inference base image (default amdenterpriseai/aim-base:latest)."""
    model_sources: Annotated[list[ModelSource], Field(min_length=1, max_length=16)]
    hardware: Hardware


class ServiceModel(
    ApiModel,
    json_schema_extra=cel(
        "(has(self.name) ? 1 : 0) + (has(self.image) ? 1 : 0) + (has(self.custom) ? 1 : 0) == 1",
        "spec.model needs exactly one of name, image or custom",
    ),
):
    name: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    """An AIMModel in the service's namespace, else an AIMClusterModel of that name."""
    image: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    """A model image; a model is created for it when none exists."""
    custom: ServiceCustomModel | None = None
    """Weights from hf:// or s3://; a custom model is created for them."""


class ServiceTemplateSelector(ApiModel):
    name: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    """Template to use; chosen automatically when omitted."""
    allow_unoptimized: bool | None = None
    """Let automatic selection pick unoptimized and preview templates."""


class ServiceOverrides(ApiModel):
    metric: Metric | None = None
    precision: Precision | None = None
    hardware: Hardware | None = None


class AIMServiceSpec(ApiModel):
    model: ServiceModel
    template: ServiceTemplateSelector | None = None
    resources: ResourceRequirements | None = None
    replicas: Annotated[int, Field(ge=0, le=10000)] | None = None
    runtime_config_name: str | None = None
    overrides: ServiceOverrides | None = None
    env: list[EnvVar] | None = None
    image_pull_secrets: list[LocalObjectReference] | None = None
    service_account_name: str | None = None


class AIMServiceStatus(ApiModel):
    observed_generation: int | None = None
    status: ServiceStatus | None = None
    conditions: Conditions | None = None
    resolved_model: ResolvedReference | None = None
    resolved_template: ResolvedReference | None = None
    resolved_image: str | None = None


class AIMService(KubeObject):
    API_VERSION: ClassVar[str] = GROUP_VERSION
    KIND: ClassVar[str] = "AIMService"
    PLURAL: ClassVar[str] = "aimservices"
    NAMESPACED: ClassVar[bool] = True

    spec: AIMServiceSpec
    status: AIMServiceStatus | None = None
