"""Cache indexes the controllers share, registered once per store (the one index mechanism:
mappers and reconcilers query them with `store.list(kind, index=(NAME, value))`).

Each is named by the field it indexes, per kind: two kinds may have an index of the same name.
Where the value is derived (the effective runtime config name, the identity of a custom model,
a template's kind and scope), the docstring says how."""

from __future__ import annotations

from aim_engine.api.core import InferenceServiceEvent, PredictorPod
from aim_engine.api.meta import KubeObject
from aim_engine.api.v1alpha1 import (
    AIMClusterModel,
    AIMClusterServiceTemplate,
    AIMModel,
    AIMService,
    AIMServiceTemplate,
)
from aim_engine.api.v1alpha2 import AIMClusterProfile, AIMProfile
from aim_engine.catalog import labels
from aim_engine.catalog.model_kind import FineTunedModel, classify
from aim_engine.catalog.runtime_config import effective_name
from aim_engine.catalog.service_model import auto_model_name, custom_model_name, model_custom_identity
from aim_engine.runtime.store import Store

MODEL_NAME = "spec.modelName"
"""Templates by the model they deploy."""
RUNTIME_CONFIG = "spec.runtimeConfigName"
"""Models by the runtime config they use (`default` when unset)."""
AIM_ID = "spec.aimId"
"""Templates by the model family they serve (what fine-tuned models match on)."""
FINE_TUNED_AIM_ID = "spec.aimId"
"""Fine-tuned models by their `spec.aimId` (other models are not indexed)."""
MODEL_IMAGE = "spec.image"
"""Models by their `spec.image` (what `spec.model.image` services look for)."""
CUSTOM_IDENTITY = "spec.custom"
"""Namespace custom models by base image, sources and hardware (what inline custom services share)."""
SERVICE_MODEL = "spec.model"
"""Services by the model they ask for or resolved: `name:<model name>` and `image:<image>`."""
SERVICE_RUNTIME_CONFIG = "spec.runtimeConfigName"
"""Services by the runtime config they use (`default` when unset)."""
PROFILE_MODEL = "metadata.labels[aim.eai.amd.com/model]"
"""Profiles by the model they belong to (their aim.eai.amd.com/model label)."""
SERVICE_TEMPLATE = "spec.template.name"
"""Services by the template they name (`spec.template.name`) or resolved (`status.resolvedTemplate`),
as `template_key(kind, namespace, name)`: a namespaced and a cluster template of one name are
different templates."""


def _fine_tuned_aim_id(model: AIMModel | AIMClusterModel) -> list[str]:
    kind = classify(model.spec)
    return [kind.aim_id] if isinstance(kind, FineTunedModel) else []


def template_key(kind: str, namespace: str | None, name: str) -> str:
    """How SERVICE_TEMPLATE names a template: `Kind/namespace/name` (no namespace: cluster)."""
    return f"{kind}/{namespace or ''}/{name}"


def parse_template_key(key: str) -> tuple[str, str | None, str]:
    kind, namespace, name = key.split("/", 2)
    return kind, namespace or None, name


def _both_scopes(name: str, namespace: str | None) -> set[str]:
    """A name the service will look up namespace first, then cluster: until it says which
    it found, both are in use."""
    return {
        template_key(AIMServiceTemplate.KIND, namespace, name),
        template_key(AIMClusterServiceTemplate.KIND, None, name),
    }


def service_templates(service: AIMService) -> list[str]:
    """The templates a service uses, as `template_key`s: the one it resolved, exactly (its
    kind and namespace are in `status.resolvedTemplate`), and a name it gives that it has not
    resolved yet, in both scopes."""
    named = service.spec.template.name if service.spec.template else None
    resolved = service.status.resolved_template if service.status else None
    keys: set[str] = set()
    if resolved is not None and resolved.kind:
        keys.add(template_key(resolved.kind, resolved.namespace, resolved.name))
    elif resolved is not None:  # only a name (the template a broken service keeps running)
        keys |= _both_scopes(resolved.name, service.namespace)
    if named and not (resolved is not None and resolved.kind and resolved.name == named):
        keys |= _both_scopes(named, service.namespace)
    return sorted(keys)


def _model_image(model: AIMModel | AIMClusterModel) -> list[str]:
    return [model.spec.image] if model.spec.image else []


def _custom_identity(model: AIMModel) -> list[str]:
    identity = model_custom_identity(model.spec)
    return [identity] if identity else []


def _service_model(service: AIMService) -> list[str]:
    wanted = service.spec.model
    values = set()
    if wanted.name:
        values.add(f"name:{wanted.name}")
    if wanted.image:
        values.add(f"image:{wanted.image}")
        values.add(f"name:{auto_model_name(wanted.image)}")
    if wanted.custom:
        values.add(f"name:{custom_model_name(wanted.custom)}")
    resolved = service.status.resolved_model if service.status else None
    if resolved is not None:
        values.add(f"name:{resolved.name}")
    return sorted(values)


def _profile_model(profile: AIMProfile | AIMClusterProfile) -> list[str]:
    model = profile.labels.get(labels.MODEL)
    return [model] if model else []


def _model_name(template: AIMServiceTemplate | AIMClusterServiceTemplate) -> list[str]:
    return [template.spec.model_name]


def _aim_id(template: AIMServiceTemplate | AIMClusterServiceTemplate) -> list[str]:
    return [template.spec.aim_id] if template.spec.aim_id else []


def _runtime_config(obj: AIMModel | AIMClusterModel | AIMService) -> list[str]:
    return [effective_name(obj.spec.runtime_config_name)]


POD_SERVICE = "metadata.labels[aim.eai.amd.com/service]"
EVENT_OBJECT = "involvedObject.name"


def _event_object(event: InferenceServiceEvent) -> list[str]:
    return [event.involved_object.name] if event.involved_object.name else []


def pod_service(pod: KubeObject) -> list[str]:
    """The service a predictor pod belongs to (its label), as the pods index and the service
    controller's pod watch find it."""
    service = pod.labels.get(labels.SERVICE)
    return [service] if service else []


def register(store: Store) -> None:
    store.add_index(PredictorPod, POD_SERVICE, pod_service)
    store.add_index(InferenceServiceEvent, EVENT_OBJECT, _event_object)
    store.add_index(AIMServiceTemplate, MODEL_NAME, _model_name)
    store.add_index(AIMClusterServiceTemplate, MODEL_NAME, _model_name)
    store.add_index(AIMServiceTemplate, AIM_ID, _aim_id)
    store.add_index(AIMClusterServiceTemplate, AIM_ID, _aim_id)
    store.add_index(AIMModel, RUNTIME_CONFIG, _runtime_config)
    store.add_index(AIMClusterModel, RUNTIME_CONFIG, _runtime_config)
    store.add_index(AIMModel, FINE_TUNED_AIM_ID, _fine_tuned_aim_id)
    store.add_index(AIMClusterModel, FINE_TUNED_AIM_ID, _fine_tuned_aim_id)
    store.add_index(AIMProfile, PROFILE_MODEL, _profile_model)
    store.add_index(AIMClusterProfile, PROFILE_MODEL, _profile_model)
    store.add_index(AIMModel, MODEL_IMAGE, _model_image)
    store.add_index(AIMClusterModel, MODEL_IMAGE, _model_image)
    store.add_index(AIMModel, CUSTOM_IDENTITY, _custom_identity)
    store.add_index(AIMService, SERVICE_TEMPLATE, service_templates)
    store.add_index(AIMService, SERVICE_MODEL, _service_model)
    store.add_index(AIMService, SERVICE_RUNTIME_CONFIG, _runtime_config)
