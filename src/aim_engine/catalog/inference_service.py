"""The KServe InferenceService an AIMService deploys, built from the service, its model and its
template. Pure.

- Image: the template's `aim.eai.amd.com/deployment-image-ref` annotation (fine-tuned copies),
  else the model's `spec.image`, else (a custom model that names none) the default base image.
- Pull secrets: the service's, the runtime config's and the model's, each name once; service
  account: the service's, the runtime config's, the template's, the model's.
- Resources: `catalog.resources` (service > template > model, then the GPU count of the
  template's profile and the CPU of its hardware where still unset).
- Env, merged by name, lowest level first (a higher level replaces a variable and it keeps its
  place): the runtime config's env, the AIM variables below, the model sources' env
  (credentials stay `valueFrom` references, as written), the model's env, the template's
  (`customProfile.envVars`, then `spec.env`), the service's.
- AIM variables the runtime container reads: `AIM_PROFILE_ID`, `AIM_METRIC`, `AIM_PRECISION`,
  `AIM_MODEL_ID`, `AIM_MODEL_SOURCE_URI` (the first source), `AIM_MODEL_SOURCES` (every source,
  as JSON `[{"modelId", "sourceUri"[, "size"]}]`) and `AIM_ENGINE_ARGS` (the template's
  `customProfile.engineArgs` as a JSON object).
- Placement: a node affinity on the GPU labels the template's GPU models map to, and a
  toleration of the `amd.com/gpu` taint, when the template needs GPUs.
- Shared memory: a memory-backed `/dev/shm` of 8 Gi (`dshm`, as the published engine mounts):
  the container runtime's default of 64 Mi is too small for the engine's processes to exchange
  tensors, which multi-GPU vLLM does through it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aim_engine.api.meta import EnvVar
from aim_engine.api.v1alpha1 import AIMModelSpec, ModelSource
from aim_engine.api.v1alpha1.runtime_config import AIMRuntimeConfigSpec
from aim_engine.api.v1alpha1.service import AIMServiceSpec
from aim_engine.catalog import labels
from aim_engine.catalog.gpu import DEVICE_LABELS, DEVICE_MODELS, FAMILY_LABEL, normalize_model
from aim_engine.catalog.model_view import ModelView
from aim_engine.catalog.naming import derived_name
from aim_engine.catalog.resources import GPU_RESOURCE, MergedResources, merge_resources
from aim_engine.catalog.service_model import DEFAULT_BASE_IMAGE
from aim_engine.catalog.service_templates import TemplateView
from aim_engine.catalog.template_spec import gpu_models_of

CONTAINER = "kserve-container"
"""The container name KServe requires for a custom predictor."""
PORT = 8000
"""The port the AIM runtime serves its OpenAI-compatible API on."""
GPU_TAINT = GPU_RESOURCE  # AMD's GPU operator taints GPU nodes with the resource's name
SHM_SIZE = "8Gi"
MAX_KSERVE_NAME = 63 - len("-predictor")
"""KServe names the predictor's Service (or Knative Service) `{name}-predictor`, which must fit
one DNS label."""


@dataclass(frozen=True)
class EnvEntry:
    var: EnvVar
    level: str
    """Where the value came from: runtime config, aim-engine, model source, model, template,
    service."""


@dataclass(frozen=True)
class DesiredInferenceService:
    name: str
    labels: dict[str, str]
    image: str
    image_from: str
    resources: MergedResources
    env: list[EnvEntry]
    pull_secrets: list[PullSecret]
    spec: dict[str, Any]


def inference_service_name(service: str) -> str:
    """The service's own name when KServe can use it; else shortened, with a hash of the whole."""
    if len(service) <= MAX_KSERVE_NAME:
        return service
    return derived_name([service], [service], max_length=MAX_KSERVE_NAME)


def deployment_image(model: ModelView, template: TemplateView) -> tuple[str, str]:
    annotated = template.annotations.get(labels.DEPLOYMENT_IMAGE)
    if annotated:
        return annotated, f"annotation {labels.DEPLOYMENT_IMAGE} of {template.where}"
    if model.spec.image:
        return model.spec.image, f"spec.image of {model.where}"
    # A custom model without spec.image runs the base image an inline custom model defaults to.
    return DEFAULT_BASE_IMAGE, f"the default base image ({model.where} sets no spec.image)"


def _sources(model: AIMModelSpec, template: TemplateView) -> list[ModelSource]:
    return list(template.spec.model_sources or model.model_sources or [])


def aim_variables(model: AIMModelSpec, template: TemplateView) -> list[EnvVar]:
    spec = template.spec
    profile = template.status.profile if template.status and template.status.profile else None
    meta = profile.metadata if profile else None
    sources = _sources(model, template)
    values: list[tuple[str, str | None]] = [
        ("AIM_PROFILE_ID", spec.profile_id),
        ("AIM_METRIC", spec.metric or (meta.metric if meta else None)),
        ("AIM_PRECISION", spec.precision or (meta.precision if meta else None)),
        ("AIM_MODEL_ID", spec.model_id or (sources[0].model_id if sources else None)),
    ]
    if sources:
        listed = [
            {"modelId": s.model_id, "sourceUri": s.source_uri, **({"size": str(s.size)} if s.size else {})}
            for s in sources
        ]
        values += [
            ("AIM_MODEL_SOURCE_URI", sources[0].source_uri),
            ("AIM_MODEL_SOURCES", _json(listed)),
        ]
    engine_args = spec.custom_profile.engine_args if spec.custom_profile else None
    engine_args = engine_args or (profile.engine_args if profile else None)
    if engine_args:
        values.append(("AIM_ENGINE_ARGS", _json(engine_args)))
    return [EnvVar(name=n, value=v) for n, v in values if v]


def merged_env(
    runtime: AIMRuntimeConfigSpec | None, model: ModelView, template: TemplateView, service: AIMServiceSpec
) -> list[EnvEntry]:
    custom = template.spec.custom_profile
    profile_env = (
        [EnvVar(name=k, value=v) for k, v in sorted((custom.env_vars or {}).items())] if custom else []
    )
    levels: list[tuple[str, Sequence[EnvVar]]] = [
        ("runtime config", (runtime.env if runtime else None) or ()),
        ("aim-engine", aim_variables(model.spec, template)),
        ("model source", [e for s in _sources(model.spec, template) for e in s.env or ()]),
        ("model", model.spec.env or ()),
        ("template", [*profile_env, *(template.spec.env or ())]),
        ("service", service.env or ()),
    ]
    merged: dict[str, EnvEntry] = {}
    for level, entries in levels:
        for var in entries:
            merged[var.name] = EnvEntry(var, level)  # a replaced name keeps its first place
    return list(merged.values())


def node_affinity(gpu_models: Sequence[str]) -> dict[str, Any] | None:
    """Nodes whose GPU labels say one of `gpu_models`: the device-id labels (plain, beta and
    count-encoded) for known models, the family label for others. None: any node."""
    if not gpu_models:
        return None
    wanted = {normalize_model(m) for m in gpu_models}
    ids = sorted(device for device, model in DEVICE_MODELS.items() if model in wanted)
    unknown = sorted(m for m in wanted if m not in DEVICE_MODELS.values())
    # AMD-<id> is how an unknown device id reads as a model: map it back to its id.
    ids += sorted(m.removeprefix("AMD-").lower() for m in unknown if m.startswith("AMD-"))
    families = [m for m in unknown if not m.startswith("AMD-")]
    terms: list[dict[str, Any]] = []
    if ids:
        terms += [_term(label, "In", ids) for label in DEVICE_LABELS]
        terms += [_term(f"{DEVICE_LABELS[0]}.{i}", "Exists") for i in ids]
    if families:
        terms.append(_term(FAMILY_LABEL, "In", families))
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}


def _term(key: str, operator: str, values: Sequence[str] = ()) -> dict[str, Any]:
    expression: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        expression["values"] = list(values)
    return {"matchExpressions": [expression]}


@dataclass(frozen=True)
class PullSecret:
    name: str
    origin: str
    """Where the name came from (the service, its runtime config, the model), for messages."""


def pull_secrets(
    service: AIMServiceSpec, runtime: AIMRuntimeConfigSpec | None, model: ModelView
) -> list[PullSecret]:
    """Every pull secret the image may need: the service's, its runtime config's and the model's
    (those discovery used), in that order, each name once. A pod reads them from its own
    namespace; a cluster model's live in the operator's, so a service names the ones its
    namespace lacks (`missing_pull_secrets`) rather than anything being copied across."""
    levels = [
        ("spec.imagePullSecrets of the service", service.image_pull_secrets),
        ("the runtime config", runtime.image_pull_secrets if runtime is not None else None),
        (f"spec.imagePullSecrets of {model.where}", model.spec.image_pull_secrets),
    ]
    found: dict[str, PullSecret] = {}
    for origin, refs in levels:
        for ref in refs or ():
            found.setdefault(ref.name, PullSecret(ref.name, origin))
    return list(found.values())


def service_account(
    service: AIMServiceSpec, runtime: AIMRuntimeConfigSpec | None, template: TemplateView, model: ModelView
) -> str | None:
    """The predictor's service account: the service's, else its runtime config's, else the
    template's (a generated template carries its model's), else the model's."""
    return (
        service.service_account_name
        or (runtime.service_account_name if runtime is not None else None)
        or template.spec.service_account_name
        or model.spec.service_account_name
    )


def build(
    service_name: str,
    service: AIMServiceSpec,
    model: ModelView,
    template: TemplateView,
    runtime: AIMRuntimeConfigSpec | None,
) -> DesiredInferenceService:
    image, image_from = deployment_image(model, template)
    status = template.status
    hardware = (status.resolved_hardware if status else None) or template.spec.hardware
    gpu = hardware.gpu if hardware else None
    profile = status.profile.metadata if status and status.profile else None
    resources = merge_resources(
        service.resources,
        template.spec.resources,
        model.spec.resources,
        profile_gpu_count=profile.gpu_count if profile else None,
        gpu_resource=(gpu.resource_name if gpu else None) or GPU_RESOURCE,
        hardware_cpu=hardware.cpu if hardware else None,
    )
    env = merged_env(runtime, model, template, service)
    object_labels = {
        labels.SERVICE: service_name,
        labels.MODEL: model.name,
        labels.TEMPLATE: template.name,
        labels.MANAGED_BY: "aim-engine",
    }
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image,
        "ports": [{"containerPort": PORT, "name": "http1", "protocol": "TCP"}],
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
    }
    if env:
        container["env"] = [e.var.dump() for e in env]
    requirements = resources.requirements()
    if requirements is not None:
        container["resources"] = requirements.dump()
    replicas = service.replicas if service.replicas is not None else 1
    predictor: dict[str, Any] = {
        "minReplicas": replicas,
        "maxReplicas": max(replicas, 1),
        "labels": dict(object_labels),
        "containers": [container],
        "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": SHM_SIZE}}],
    }
    account = service_account(service, runtime, template, model)
    if account:
        predictor["serviceAccountName"] = account
    secrets = pull_secrets(service, runtime, model)
    if secrets:
        predictor["imagePullSecrets"] = [{"name": s.name} for s in secrets]
    if gpu is not None:
        affinity = node_affinity(gpu_models_of(hardware))
        if affinity is not None:
            predictor["affinity"] = affinity
        predictor["tolerations"] = [{"key": GPU_TAINT, "operator": "Exists", "effect": "NoSchedule"}]
    return DesiredInferenceService(
        name=inference_service_name(service_name),
        labels=object_labels,
        image=image,
        image_from=image_from,
        resources=resources,
        env=env,
        pull_secrets=secrets,
        spec={"predictor": predictor},
    )


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
