"""Structures shared by several v1alpha1 kinds: enums, hardware, model sources, image metadata,
profiles and resolved references."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from aim_engine.api.meta import ApiModel, EnvVar, FreeObject
from aim_engine.api.quantity import Quantity
from aim_engine.api.schema import cel

TemplateType = Literal["optimized", "preview", "unoptimized"]
Metric = Literal["latency", "throughput"]
Precision = Literal["auto", "fp4", "fp8", "fp16", "fp32", "bf16", "int4", "int8"]
VersionPolicy = Literal["pinned", "latest", "any", "all"]
"""`all` is another spelling of `any`."""
ObjectStatus = Literal["Pending", "Progressing", "Ready", "Degraded", "Failed", "NotAvailable"]
SourceType = Literal["Image", "Custom"]
Scope = Literal["Namespace", "Cluster", "Merged", "Unknown"]

MODEL_ID_PATTERN = r"^[a-zA-Z0-9_-]+/[a-zA-Z0-9._-]+$"
SOURCE_URI_PATTERN = r"^(hf|s3)://[^ \t\r\n]+$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

ModelId = Annotated[str, Field(pattern=MODEL_ID_PATTERN, max_length=256)]
GPUModelName = Annotated[str, Field(min_length=1, max_length=64)]


class GPURequirements(ApiModel):
    requests: Annotated[int, Field(ge=0, le=1024)] | None = None
    """Number of GPUs per replica. 0 targets GPU nodes without consuming a GPU."""
    models: Annotated[list[GPUModelName], Field(max_length=16)] | None = None
    """Acceptable GPU models (e.g. MI300X, MI325X); any GPU when empty."""
    model: GPUModelName | None = None
    """A single GPU model; the same as a one-entry `models` list."""
    min_vram: Quantity | None = None
    """Minimum memory per GPU (e.g. 64Gi); nodes with less are not considered."""
    resource_name: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    """Extended resource that carries the GPUs (default amd.com/gpu)."""


class CPURequirements(ApiModel):
    requests: Quantity
    """CPU requested per replica."""
    limits: Quantity | None = None
    """CPU limit per replica."""


class Hardware(
    ApiModel,
    json_schema_extra=cel(
        "has(self.gpu) || has(self.cpu)",
        "hardware needs gpu or cpu (or both); e.g. hardware: {gpu: {requests: 1}}",
    ),
):
    gpu: GPURequirements | None = None
    cpu: CPURequirements | None = None


class ModelSource(ApiModel):
    model_id: ModelId
    """Canonical model id in {org}/{name} form; it sets the cache mount path."""
    source_uri: Annotated[str, Field(pattern=SOURCE_URI_PATTERN, max_length=2048)]
    """Where the weights are downloaded from: hf://org/model or s3://bucket/key."""
    size: Quantity | None = None
    """Storage to provision for the weights; discovered by the download job when omitted."""
    env: list[EnvVar] | None = None
    """Per-source credentials (HF_TOKEN, AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL, ...)."""


class ProfileSelector(ApiModel):
    metric: Metric | None = None
    precision: Precision | None = None


class CustomProfile(ApiModel):
    engine_args: FreeObject | None = None
    """Inference engine arguments; values may be strings, numbers or booleans."""
    env_vars: dict[str, str] | None = None
    """Environment variables for the inference engine."""


class RecommendedDeployment(ApiModel):
    gpu_model: str | None = None
    gpu_count: int | None = None
    precision: str | None = None
    metric: str | None = None
    profile_id: str | None = None
    model_id: str | None = None
    """The model id this deployment serves (e.g. a quantized variant); default: the canonical name."""
    engine: str | None = None
    """The inference engine of this deployment (e.g. vllm), when the image says."""
    description: str | None = None


class ModelMetadata(ApiModel):
    canonical_name: str | None = None
    source: str | None = None
    tags: list[str] | None = None
    versions: list[str] | None = None
    variants: list[str] | None = None
    hf_token_required: bool | None = None
    title: str | None = None
    description_full: str | None = None
    release_notes: str | None = None
    recommended_deployments: list[RecommendedDeployment] | None = None


class OCIMetadata(ApiModel):
    title: str | None = None
    description: str | None = None
    licenses: str | None = None
    vendor: str | None = None
    authors: str | None = None
    source: str | None = None
    documentation: str | None = None
    created: str | None = None
    revision: str | None = None
    version: str | None = None


class ImageMetadata(ApiModel):
    model: ModelMetadata | None = None
    """What the image's com.amd.aim.* labels say about the model it serves."""
    oci: OCIMetadata | None = None
    """The image's org.opencontainers.image.* labels."""
    original_labels: dict[str, str] | None = None
    """Every label of the image, unchanged."""
    base_image_ref: str | None = None
    """The base image the AIM image was built from (AIM_BASE_IMAGE_REF in its config)."""


class ProfileMetadata(ApiModel):
    engine: str | None = None
    gpu: str | None = None
    gpu_count: int | None = Field(default=None, alias="gpu_count")
    metric: str | None = None
    precision: str | None = None
    type: str | None = None


class TemplateProfile(ApiModel):
    metadata: ProfileMetadata | None = None
    engine_args: FreeObject | None = None
    env_vars: dict[str, str] | None = None


class ResolvedReference(ApiModel):
    name: str
    namespace: str | None = None
    kind: str | None = None
    scope: Scope | None = None
    uid: str | None = None
