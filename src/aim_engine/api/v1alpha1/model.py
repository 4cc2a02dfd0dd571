"""AIMModel and AIMClusterModel: the catalog entries that map a model id to a container image."""

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
from aim_engine.api.schema import cel
from aim_engine.api.v1alpha1.common import (
    DNS_LABEL_PATTERN,
    CustomProfile,
    Hardware,
    ImageMetadata,
    ModelId,
    ModelSource,
    ObjectStatus,
    ProfileSelector,
    ResolvedReference,
    SourceType,
    TemplateType,
    VersionPolicy,
)
from aim_engine.api.v1alpha1.groupversion import GROUP_VERSION


class Discovery(ApiModel):
    extract_metadata: bool | None = None
    """Inspect the image in its registry and record its labels in status.imageMetadata (default true)."""
    create_service_templates: bool | None = None
    """Create a service template per deployment the image recommends (default true)."""


class CustomTemplate(
    ApiModel,
    json_schema_extra=cel(
        "!has(self.customProfile) || (has(self.aimId) && has(self.modelId) && has(self.hardware)"
        " && has(self.profile) && has(self.profile.metric) && has(self.profile.precision))",
        "a custom template with customProfile needs aimId, modelId, hardware, profile.metric and "
        "profile.precision; add the missing fields or remove customProfile",
    ),
):
    name: Annotated[str, Field(max_length=40, pattern=DNS_LABEL_PATTERN)] | None = None
    """Short name, used inside the generated template's name (lowercase letters, digits, '-')."""
    type: TemplateType | None = None
    """Optimization level of the generated template; defaults to spec.custom.type."""
    hardware: Hardware | None = None
    """Overrides spec.custom.hardware field by field."""
    profile: ProfileSelector | None = None
    env: list[EnvVar] | None = None
    aim_id: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    """The model family this tuned profile belongs to (e.g. meta-llama/Llama-3-8B)."""
    model_id: ModelId | None = None
    custom_profile: CustomProfile | None = None
    """Engine arguments and environment that tune the inference engine for this template."""


class CustomModelSpec(ApiModel):
    type: TemplateType | None = None
    """Optimization level of generated templates (default unoptimized)."""
    version_policy: VersionPolicy | None = None
    """Fine-tuned models: which base-model template versions to inherit (default pinned)."""
    hardware: Hardware | None = None
    """Hardware every generated template needs unless a template overrides it."""
    templates: Annotated[list[CustomTemplate], Field(max_length=16)] | None = None
    """One generated template per entry; one template from `hardware` when omitted."""


class AIMModelSpec(
    ApiModel,
    json_schema_extra=cel(
        "has(self.image) || (has(self.modelSources) && size(self.modelSources) > 0)",
        "spec.image is required unless spec.modelSources is set (custom and fine-tuned models)",
        (
            "!(has(self.aimId) && has(self.modelSources) && size(self.modelSources) > 0)"
            " || has(self.image)"
            " || (has(self.custom) && has(self.custom.versionPolicy)"
            " && self.custom.versionPolicy != 'pinned')",
            "spec.image is required for a fine-tuned model (spec.aimId with spec.modelSources) when "
            "spec.custom.versionPolicy is pinned (the default); set spec.image or set "
            "spec.custom.versionPolicy to latest or any",
        ),
        (
            # A custom model is not discovered: without hardware its template would ask for no
            # GPU at all and run a large model on CPU.
            "!has(self.modelSources) || size(self.modelSources) == 0 || has(self.aimId)"
            " || (has(self.custom) && has(self.custom.hardware))"
            " || ((has(self.customTemplates) && size(self.customTemplates) > 0"
            " || has(self.custom) && has(self.custom.templates) && size(self.custom.templates) > 0)"
            " && (!has(self.customTemplates) || self.customTemplates.all(t, has(t.hardware)))"
            " && (!has(self.custom) || !has(self.custom.templates)"
            " || self.custom.templates.all(t, has(t.hardware))))",
            "a custom model (spec.modelSources without spec.aimId) needs explicit hardware: set "
            "spec.custom.hardware (e.g. gpu.requests: 1), or hardware on every entry of "
            "spec.customTemplates and spec.custom.templates",
        ),
    ),
):
    image: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    """Container image that serves this model; inspected during discovery."""
    discovery: Discovery | None = None
    default_service_template: Annotated[str, Field(max_length=253)] | None = None
    """Template used by services that name this model without choosing a template."""
    image_pull_secrets: list[LocalObjectReference] | None = None
    """Pull secrets, in the model's namespace (the operator namespace for cluster models)."""
    service_account_name: str | None = None
    resources: ResourceRequirements | None = None
    """Baseline resources; templates and services override them."""
    runtime_config_name: str | None = None
    """Runtime config to use (default: the config named `default`)."""
    env: list[EnvVar] | None = None
    image_metadata: ImageMetadata | None = None
    """Metadata to use instead of inspecting the image (air-gapped clusters)."""
    model_sources: Annotated[list[ModelSource], Field(max_length=16)] | None = None
    """Weights downloaded from hf:// or s3:// (custom and fine-tuned models)."""
    custom: CustomModelSpec | None = None
    custom_templates: Annotated[list[CustomTemplate], Field(max_length=16)] | None = None
    aim_id: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    """Base model family of a fine-tuned model (e.g. qwen/qwen3-32b)."""


class AIMModelStatus(ApiModel):
    observed_generation: int | None = None
    status: ObjectStatus | None = None
    conditions: Conditions | None = None
    resolved_runtime_config: ResolvedReference | None = None
    image_metadata: ImageMetadata | None = None
    inspected_image: str | None = None
    """The spec.image that imageMetadata was read from; a different spec.image is inspected again."""
    image_digest: str | None = None
    """Digest of the image manifest that was inspected."""
    source_type: SourceType | None = None
    template_count: int | None = None
    """Number of service templates that belong to this model."""


class AIMModel(KubeObject):
    API_VERSION: ClassVar[str] = GROUP_VERSION
    KIND: ClassVar[str] = "AIMModel"
    PLURAL: ClassVar[str] = "aimmodels"
    NAMESPACED: ClassVar[bool] = True

    spec: AIMModelSpec
    status: AIMModelStatus | None = None


class AIMClusterModel(KubeObject):
    API_VERSION: ClassVar[str] = GROUP_VERSION
    KIND: ClassVar[str] = "AIMClusterModel"
    PLURAL: ClassVar[str] = "aimclustermodels"
    NAMESPACED: ClassVar[bool] = False

    spec: AIMModelSpec
    status: AIMModelStatus | None = None
