"""A service template's status: which model it deploys, on what hardware, whether the cluster
has that hardware, and the profile services select on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aim_engine.api.v1alpha1 import Hardware, ResolvedReference
from aim_engine.api.v1alpha1.common import ObjectStatus, ProfileMetadata, TemplateProfile
from aim_engine.api.v1alpha1.template import AIMServiceTemplateSpec
from aim_engine.catalog import labels
from aim_engine.catalog.conditions import READY, Cond
from aim_engine.catalog.gpu import DEFAULT_RESOURCE, NodeGPUs, fits
from aim_engine.catalog.images import image_tag
from aim_engine.catalog.model_view import ModelView
from aim_engine.catalog.template_spec import gpu_models_of, merge_hardware

MODEL_FOUND = "ModelFound"
GPU_READY = "GPUReady"


@dataclass(frozen=True, kw_only=True)
class TemplateVerdict:
    status: ObjectStatus
    conditions: list[Cond]
    profile: TemplateProfile
    resolved_model: ResolvedReference | None
    resolved_hardware: Hardware | None
    hardware_summary: str
    version: str | None
    deployment_image: str | None


def hardware_summary(hardware: Hardware | None) -> str:
    gpu = hardware.gpu if hardware else None
    if gpu is None:
        return "CPU"
    models = gpu_models_of(hardware)
    model = "/".join(models) if models else "GPU"
    return f"{gpu.requests} x {model}" if gpu.requests else model


def evaluate(
    spec: AIMServiceTemplateSpec,
    annotations: Mapping[str, str],
    model: ModelView | None,
    inventory: Iterable[NodeGPUs],
) -> TemplateVerdict:
    hardware = merge_hardware(
        model.spec.custom.hardware if model and model.spec.custom else None, spec.hardware
    )
    summary = hardware_summary(hardware)
    profile = _profile(spec, hardware)
    if model is None:
        message = (
            f"spec.modelName {spec.model_name!r} names no AIMModel in this namespace and no "
            "AIMClusterModel; create the model or fix the name"
        )
        conditions = [
            Cond(MODEL_FOUND, "False", "ModelNotFound", message),
            Cond(READY, "False", "ModelNotFound", message),
        ]
        return TemplateVerdict(
            status="Failed",
            conditions=conditions,
            profile=profile,
            resolved_model=None,
            resolved_hardware=hardware,
            hardware_summary=summary,
            version=None,
            deployment_image=None,
        )
    where = f"{model.namespace}/{model.name}" if model.namespace else model.name
    found = Cond(MODEL_FOUND, "True", "ModelFound", f"Deploys {model.kind} {where}")
    reference = ResolvedReference(
        name=model.name,
        namespace=model.namespace,
        kind=model.kind,
        scope="Namespace" if model.namespace else "Cluster",
        uid=model.uid,
    )
    image = annotations.get(labels.DEPLOYMENT_IMAGE) or model.spec.image
    # A fine-tuned copy has the version of the template it was copied from.
    version = annotations.get(labels.SOURCE_VERSION) or image_tag(model.spec.image)
    gpu = hardware.gpu if hardware else None
    if gpu is None:
        gpu_cond = Cond(GPU_READY, "True", "NoGPURequired", "The template needs no GPU")
    else:
        fit = fits(
            inventory,
            count=gpu.requests or 0,
            models=gpu_models_of(hardware),
            min_vram=gpu.min_vram,
            resource=gpu.resource_name or DEFAULT_RESOURCE,
        )
        gpu_cond = Cond(GPU_READY, "True" if fit.available else "False", fit.reason, fit.message)
    if not gpu_cond.ok:
        ready = Cond(READY, "False", gpu_cond.reason, gpu_cond.message)
        status: ObjectStatus = "NotAvailable"
    else:
        ready = Cond(READY, "True", "TemplateReady", f"{summary} for {where}")
        status = "Ready"
    return TemplateVerdict(
        status=status,
        conditions=[found, gpu_cond, ready],
        profile=profile,
        resolved_model=reference,
        resolved_hardware=hardware,
        hardware_summary=summary,
        version=version,
        deployment_image=image,
    )


def _profile(spec: AIMServiceTemplateSpec, hardware: Hardware | None) -> TemplateProfile:
    models = gpu_models_of(hardware)
    gpu = hardware.gpu if hardware else None
    metadata = ProfileMetadata(
        gpu=models[0] if len(models) == 1 else None,
        gpu_count=gpu.requests if gpu else None,
        metric=spec.metric,
        precision=spec.precision,
        type=spec.type or "unoptimized",
    )
    custom = spec.custom_profile
    return TemplateProfile(
        metadata=ProfileMetadata.model_validate(metadata.model_dump(by_alias=True, exclude_none=True)),
        engine_args=custom.engine_args if custom else None,
        env_vars=custom.env_vars if custom else None,
    )
