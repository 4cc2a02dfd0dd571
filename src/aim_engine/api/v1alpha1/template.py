"""AIMServiceTemplate and AIMClusterServiceTemplate: one runnable deployment of a model."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from aim_engine.api.meta import (
    ApiModel,
    Conditions,
    EnvVar,
    KubeObject,
    LocalObjectReference,
    ResourceRequirements,
)
from aim_engine.api.v1alpha1.common import (
    CustomProfile,
    Hardware,
    Metric,
    ModelId,
    ModelSource,
    ObjectStatus,
    Precision,
    ResolvedReference,
    TemplateProfile,
    TemplateType,
)
from aim_engine.api.v1alpha1.groupversion import GROUP_VERSION


def _immutable(field: str) -> dict[str, list[dict[str, str]]]:
    return {"x-kubernetes-validations": [{"rule": "self == oldSelf", "message": f"{field} is immutable"}]}


class AIMServiceTemplateSpec(ApiModel):
    model_name: Annotated[
        str, Field(min_length=1, max_length=253, json_schema_extra=_immutable("spec.modelName"))
    ]
    """The AIMModel (or AIMClusterModel) this template deploys."""
    aim_id: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    """Model family, used to match fine-tuned models to this template."""
    model_id: ModelId | None = None
    """The model id this template serves, used to match fine-tuned models."""
    metric: Annotated[Metric, Field(json_schema_extra=_immutable("spec.metric"))] | None = None
    precision: Annotated[Precision, Field(json_schema_extra=_immutable("spec.precision"))] | None = None
    profile_id: Annotated[str, Field(max_length=253)] | None = None
    type: TemplateType | None = None
    hardware: Annotated[Hardware, Field(json_schema_extra=_immutable("spec.hardware"))] | None = None
    resources: ResourceRequirements | None = None
    env: list[EnvVar] | None = None
    model_sources: Annotated[list[ModelSource], Field(max_length=16)] | None = None
    custom_profile: CustomProfile | None = None
    image_pull_secrets: list[LocalObjectReference] | None = None
    service_account_name: str | None = None
    runtime_config_name: str | None = None


class AIMServiceTemplateStatus(ApiModel):
    observed_generation: int | None = None
    status: ObjectStatus | None = None
    conditions: Conditions | None = None
    profile: TemplateProfile | None = None
    resolved_model: ResolvedReference | None = None
    resolved_hardware: Hardware | None = None
    hardware_summary: str | None = None
    """Human summary of the hardware, e.g. "2 x MI300X" or "CPU"."""
    version: str | None = None
    """Version of the model image (its tag), used for fine-tuned version policies."""
    deployment_image: str | None = None
    """Image an AIMService deploys for this template."""
    # No copy of spec.modelSources: their env may hold a literal credential, and status is
    # readable by everyone who may read templates. Readers take them from the spec.


class AIMServiceTemplate(KubeObject):
    API_VERSION: ClassVar[str] = GROUP_VERSION
    KIND: ClassVar[str] = "AIMServiceTemplate"
    PLURAL: ClassVar[str] = "aimservicetemplates"
    NAMESPACED: ClassVar[bool] = True

    spec: AIMServiceTemplateSpec
    status: AIMServiceTemplateStatus | None = None


class AIMClusterServiceTemplate(KubeObject):
    API_VERSION: ClassVar[str] = GROUP_VERSION
    KIND: ClassVar[str] = "AIMClusterServiceTemplate"
    PLURAL: ClassVar[str] = "aimclusterservicetemplates"
    NAMESPACED: ClassVar[bool] = False

    spec: AIMServiceTemplateSpec
    status: AIMServiceTemplateStatus | None = None
