"""Which model a service deploys, and the model it creates when none exists. Pure.

- `spec.model.name`: the AIMModel of that name in the service's namespace, else the
  AIMClusterModel of that name (the controllers' one lookup).
- `spec.model.image`: a model with exactly that `spec.image`, namespace models first; else a
  namespace AIMModel `auto-<hash of the image>`, whose discovery follows the runtime config's
  `spec.model.autoDiscovery` (default true).
- `spec.model.custom`: a namespace custom model with the same base image, sources and
  hardware (its *identity*); else one named `{first modelId}-{hash of the identity}`.

Created models carry no owner reference: they are shared, and outlive the services that asked
for them. The `aim.eai.amd.com/service` label names the service that created one.
"""

from __future__ import annotations

from collections.abc import Sequence

from aim_engine.api.meta import ObjectMeta
from aim_engine.api.v1alpha1 import AIMModel, AIMModelSpec, Discovery, Hardware, ModelSource
from aim_engine.api.v1alpha1.model import CustomModelSpec
from aim_engine.api.v1alpha1.service import AIMServiceSpec, ServiceCustomModel, ServiceStatus
from aim_engine.catalog import labels
from aim_engine.catalog.conditions import Cond
from aim_engine.catalog.model_kind import CustomModel, classify
from aim_engine.catalog.model_view import ModelView
from aim_engine.catalog.naming import derived_name, short_hash
from aim_engine.catalog.template_spec import hardware_identity

DEFAULT_BASE_IMAGE = "amdenterpriseai/aim-base:latest"
CONDITION = "ModelReady"
_ENDPOINT = "AWS_ENDPOINT_URL"


def auto_model_name(image: str) -> str:
    """`auto-<hash>`: stable for an image reference, whichever service asks."""
    return derived_name(["auto"], [image])


def _source_identity(sources: Sequence[ModelSource]) -> list[list[str]]:
    # What makes weights the same weights: the id, where they come from and, for S3, which
    # endpoint serves the bucket. Credentials and sizes do not.
    out = []
    for source in sources:
        endpoint = next((e.value or "" for e in source.env or () if e.name == _ENDPOINT), "")
        out.append([source.model_id, source.source_uri, endpoint])
    return out


def custom_identity(image: str, sources: Sequence[ModelSource], hardware: Hardware | None) -> str:
    """The key under which services share a custom model: base image, sources, hardware."""
    return short_hash([image, _source_identity(sources), hardware_identity(hardware)], 16)


def model_custom_identity(spec: AIMModelSpec) -> str | None:
    """The identity of an existing custom model (None for other kinds of model)."""
    if not isinstance(classify(spec), CustomModel) or not spec.image or not spec.model_sources:
        return None
    return custom_identity(spec.image, spec.model_sources, spec.custom.hardware if spec.custom else None)


def service_custom_identity(custom: ServiceCustomModel) -> str:
    return custom_identity(custom.base_image or DEFAULT_BASE_IMAGE, custom.model_sources, custom.hardware)


def custom_model_name(custom: ServiceCustomModel) -> str:
    return derived_name([custom.model_sources[0].model_id], [service_custom_identity(custom)])


def _meta(name: str, namespace: str, service: str, *, custom: bool) -> ObjectMeta:
    model_labels = {labels.ORIGIN: labels.ORIGIN_AUTO, labels.SERVICE: service}
    if custom:
        model_labels[labels.CUSTOM_MODEL] = "true"
    return ObjectMeta(name=name, namespace=namespace, labels=model_labels)


def _shared_fields(spec: AIMServiceSpec) -> dict[str, object]:
    return {
        "runtime_config_name": spec.runtime_config_name,
        "image_pull_secrets": spec.image_pull_secrets,
        "service_account_name": spec.service_account_name,
    }


def image_model(service: str, namespace: str, spec: AIMServiceSpec, *, auto_discovery: bool) -> AIMModel:
    """The AIMModel created for `spec.model.image`."""
    image = spec.model.image or ""
    discovery = Discovery(extract_metadata=auto_discovery, create_service_templates=auto_discovery)
    model_spec = AIMModelSpec(image=image, discovery=discovery, **_shared_fields(spec))
    return AIMModel(
        api_version=AIMModel.API_VERSION,
        kind=AIMModel.KIND,
        metadata=_meta(auto_model_name(image), namespace, service, custom=False),
        spec=_reparsed(model_spec),
    )


def custom_model(service: str, namespace: str, spec: AIMServiceSpec) -> AIMModel:
    """The custom AIMModel created for `spec.model.custom`."""
    custom = spec.model.custom
    assert custom is not None
    model_spec = AIMModelSpec(
        image=custom.base_image or DEFAULT_BASE_IMAGE,
        model_sources=custom.model_sources,
        custom=CustomModelSpec(hardware=custom.hardware),
        **_shared_fields(spec),
    )
    return AIMModel(
        api_version=AIMModel.API_VERSION,
        kind=AIMModel.KIND,
        metadata=_meta(custom_model_name(custom), namespace, service, custom=True),
        spec=_reparsed(model_spec),
    )


def _reparsed(spec: AIMModelSpec) -> AIMModelSpec:
    # Only fields with a value count as set: None means absent on the wire.
    return AIMModelSpec.model_validate(spec.model_dump(by_alias=True, exclude_none=True, mode="json"))


def pick_by_image(
    namespace_models: Sequence[ModelView], cluster_models: Sequence[ModelView], auto_name: str
) -> ModelView | None:
    """The model a `spec.model.image` service uses among those with that exact image: a
    namespace model before a cluster model, the `auto-` one before others, then by name."""
    for found in (namespace_models, cluster_models):
        if found:
            return sorted(found, key=lambda m: (m.name != auto_name, m.name))[0]
    return None


def readiness(model: ModelView, unhealthy: Sequence[str] = ()) -> tuple[Cond, ServiceStatus | None]:
    """The ModelReady condition for a resolved model, and the service phase it implies while the
    model is not ready (None when it is). A `Degraded` model has templates with issues, not
    none that can serve: the service goes on (its own template must still be Ready), and the
    condition names the `unhealthy` templates."""
    if model.phase == "Ready":
        return Cond(CONDITION, "True", "ModelResolved", f"Uses {model.where}"), None
    if model.phase == "Degraded":
        which = f"; templates with issues: {', '.join(unhealthy)}" if unhealthy else ""
        message = f"Uses {model.where}, which is Degraded{which}; a Ready template of it is selected"
        return Cond(CONDITION, "True", "ModelDegraded", message), None
    state = model.phase or "not reported yet"
    detail = f": {model.message}" if model.message else ""
    message = f"{model.where} is {state}{detail}"
    phase: ServiceStatus = "Failed" if model.phase == "Failed" else "Pending"
    return Cond(CONDITION, "False", "ModelNotReady", message), phase


def not_found(spec: AIMServiceSpec) -> Cond:
    name = spec.model.name
    message = (
        f"spec.model.name {name!r} names no AIMModel in this namespace and no AIMClusterModel; "
        "create the model or fix the name"
    )
    return Cond(CONDITION, "False", "ModelNotFound", message)


def creating(model: AIMModel, how: str) -> Cond:
    return Cond(CONDITION, "False", "CreatingModel", f"Created AIMModel {model.name} for {how}")
