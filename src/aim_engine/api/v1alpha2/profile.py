"""AIMProfile / AIMClusterProfile: one tuned way to run a model on given accelerators."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from aim_engine.api.meta import (
    ApiModel,
    Conditions,
    EnvVar,
    FreeObject,
    KubeObject,
    LocalObjectReference,
    ResourceRequirements,
)
from aim_engine.api.v1alpha1.common import (
    Metric,
    ModelId,
    ModelSource,
    ObjectStatus,
    Precision,
    TemplateType,
)
from aim_engine.api.v1alpha2.groupversion import GROUP_VERSION


class AIMProfileSpec(ApiModel):
    aim_id: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    model_id: ModelId | None = None
    profile_id: Annotated[str, Field(max_length=253)] | None = None
    engine: Annotated[str, Field(max_length=64)] | None = None
    """Inference engine, e.g. vllm."""
    metric: Metric | None = None
    precision: Precision | None = None
    type: TemplateType | None = None
    primary: bool | None = None
    """The profile services pick first among equals."""
    accelerator_model: Annotated[str, Field(max_length=64)] | None = None
    """GPU model, e.g. MI300X."""
    accelerator_type: Annotated[str, Field(max_length=64)] | None = None
    """Accelerator kind, e.g. gpu."""
    accelerator_count: Annotated[int, Field(ge=0, le=1024)] | None = None
    resources: ResourceRequirements | None = None
    image: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    engine_args: FreeObject | None = None
    engine_env: dict[str, str] | None = None
    model_sources: Annotated[list[ModelSource], Field(max_length=16)] | None = None
    container_env: list[EnvVar] | None = None
    image_pull_secrets: list[LocalObjectReference] | None = None
    service_account_name: str | None = None


class AIMProfileStatus(ApiModel):
    observed_generation: int | None = None
    status: ObjectStatus | None = None
    version: str | None = None
    matching_nodes: Annotated[int, Field(ge=0)] | None = None
    """Nodes whose accelerators can run this profile."""
    hardware_summary: str | None = None
    resources: ResourceRequirements | None = None
    conditions: Conditions | None = None


class AIMProfile(KubeObject):
    API_VERSION: ClassVar[str] = GROUP_VERSION
    KIND: ClassVar[str] = "AIMProfile"
    PLURAL: ClassVar[str] = "aimprofiles"
    NAMESPACED: ClassVar[bool] = True

    spec: AIMProfileSpec
    status: AIMProfileStatus | None = None


class AIMClusterProfile(KubeObject):
    API_VERSION: ClassVar[str] = GROUP_VERSION
    KIND: ClassVar[str] = "AIMClusterProfile"
    PLURAL: ClassVar[str] = "aimclusterprofiles"
    NAMESPACED: ClassVar[bool] = False

    spec: AIMProfileSpec
    status: AIMProfileStatus | None = None
