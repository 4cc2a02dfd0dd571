"""Model resolution for services: auto-created model names and specs, custom-model identity,
the choice among models with the same image, and model readiness (catalog/service_model.py)."""

from __future__ import annotations

import re
from typing import Any

from aim_engine.api.v1alpha1 import AIMModelSpec, AIMServiceSpec
from aim_engine.api.v1alpha1.common import ObjectStatus
from aim_engine.catalog import labels
from aim_engine.catalog import service_model as sm
from aim_engine.catalog.model_view import ModelView


def service(model: dict[str, Any], **extra: Any) -> AIMServiceSpec:
    return AIMServiceSpec.model_validate({"model": model, **extra})


SOURCE = {"modelId": "Qwen/Qwen3-32B", "sourceUri": "hf://Qwen/Qwen3-32B"}
CUSTOM: dict[str, Any] = {
    "modelSources": [SOURCE],
    "hardware": {"gpu": {"requests": 1, "models": ["MI300X"]}},
}


def view(
    name: str, namespace: str | None = None, status: ObjectStatus | None = "Ready", message: str = ""
) -> ModelView:
    kind = "AIMModel" if namespace else "AIMClusterModel"
    spec = AIMModelSpec(image="i:1")
    return ModelView(
        kind=kind, name=name, namespace=namespace, uid="uid", spec=spec, phase=status, message=message
    )


def test_auto_model_name_is_auto_and_a_stable_hash_of_the_image() -> None:
    name = sm.auto_model_name("amdenterpriseai/aim-qwen-qwen3-32b:0.8.5")
    assert re.fullmatch(r"auto-[0-9a-f]{8}", name)
    assert name == sm.auto_model_name("amdenterpriseai/aim-qwen-qwen3-32b:0.8.5")
    assert name != sm.auto_model_name("amdenterpriseai/aim-qwen-qwen3-32b:0.9.0")


def test_image_model_discovery_follows_auto_discovery() -> None:
    spec = service({"image": "amdenterpriseai/aim-qwen-qwen3-32b:0.8.5"}, runtimeConfigName="gpu-pool")
    on = sm.image_model("chat", "ml", spec, auto_discovery=True)
    off = sm.image_model("chat", "ml", spec, auto_discovery=False)
    assert on.dump()["spec"] == {
        "image": "amdenterpriseai/aim-qwen-qwen3-32b:0.8.5",
        "discovery": {"extractMetadata": True, "createServiceTemplates": True},
        "runtimeConfigName": "gpu-pool",
    }
    assert off.dump()["spec"]["discovery"] == {"extractMetadata": False, "createServiceTemplates": False}
    assert on.name == sm.auto_model_name("amdenterpriseai/aim-qwen-qwen3-32b:0.8.5")
    assert on.namespace == "ml"
    assert on.labels == {labels.ORIGIN: labels.ORIGIN_AUTO, labels.SERVICE: "chat"}
    assert not on.metadata.owner_references  # outlives the service


def test_custom_model_defaults_the_base_image_and_is_shared_by_identity() -> None:
    spec = service({"custom": CUSTOM}, imagePullSecrets=[{"name": "regcred"}])
    created = sm.custom_model("qwen-custom", "ml", spec)
    dumped = created.dump()["spec"]
    assert dumped["image"] == sm.DEFAULT_BASE_IMAGE == "amdenterpriseai/aim-base:latest"
    assert dumped["modelSources"] == CUSTOM["modelSources"]
    assert dumped["custom"] == {"hardware": CUSTOM["hardware"]}
    assert dumped["imagePullSecrets"] == [{"name": "regcred"}]
    assert created.labels[labels.CUSTOM_MODEL] == "true"
    assert created.name.startswith("qwen-qwen3-32b-")
    # The created model has the identity the service looks for: the next service finds it.
    assert sm.model_custom_identity(created.spec) == sm.service_custom_identity(spec.model.custom)  # type: ignore[arg-type]


def test_custom_identity_ignores_credentials_and_sizes_but_not_hardware_or_endpoint() -> None:
    base = service({"custom": CUSTOM}).model.custom
    assert base is not None
    token = {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}}
    source = {**SOURCE, "env": [token], "size": "64Gi"}
    with_token = service({"custom": {**CUSTOM, "modelSources": [source]}}).model.custom
    assert with_token is not None
    bigger = service(
        {"custom": {**CUSTOM, "hardware": {"gpu": {"requests": 2, "models": ["MI300X"]}}}}
    ).model.custom
    other_endpoint = service(
        {
            "custom": {
                **CUSTOM,
                "modelSources": [
                    {
                        "modelId": "Qwen/Qwen3-32B",
                        "sourceUri": "hf://Qwen/Qwen3-32B",
                        "env": [{"name": "AWS_ENDPOINT_URL", "value": "https://s3.example"}],
                    }
                ],
            }
        }
    ).model.custom
    assert bigger is not None and other_endpoint is not None
    assert sm.service_custom_identity(with_token) == sm.service_custom_identity(base)
    assert sm.service_custom_identity(bigger) != sm.service_custom_identity(base)
    assert sm.service_custom_identity(other_endpoint) != sm.service_custom_identity(base)


def test_non_custom_models_have_no_custom_identity() -> None:
    assert sm.model_custom_identity(AIMModelSpec(image="amdenterpriseai/aim-qwen:1")) is None


def test_pick_by_image_prefers_namespace_then_the_auto_model_then_name() -> None:
    cluster = [view("catalog-qwen")]
    assert sm.pick_by_image([], cluster, "auto-1") == cluster[0]
    namespaced = [view("b", "ml"), view("auto-1", "ml"), view("a", "ml")]
    picked = sm.pick_by_image(namespaced, cluster, "auto-1")
    assert picked is not None and picked.name == "auto-1"
    picked = sm.pick_by_image([view("b", "ml"), view("a", "ml")], cluster, "auto-1")
    assert picked is not None and picked.name == "a"
    assert sm.pick_by_image([], [], "auto-1") is None


def test_readiness_maps_model_states_to_conditions_and_phases() -> None:
    cond, phase = sm.readiness(view("qwen"))
    assert (cond.status, cond.reason, phase) == ("True", "ModelResolved", None)
    cond, phase = sm.readiness(view("qwen", status="Failed", message="image not found"))
    assert (cond.status, cond.reason, phase) == ("False", "ModelNotReady", "Failed")
    assert "image not found" in cond.message and "AIMClusterModel qwen" in cond.message
    for state in (None, "Pending", "Progressing", "NotAvailable"):
        cond, phase = sm.readiness(view("qwen", status=state))
        assert (cond.reason, phase) == ("ModelNotReady", "Pending")


def test_a_degraded_model_still_serves_and_names_its_unhealthy_templates() -> None:
    """Degraded means some templates have issues, not that none can serve: a service goes on
    (it blocked every new service with ModelNotReady)."""
    cond, phase = sm.readiness(view("qwen", status="Degraded"), ["qwen-mi325x (Failed)"])
    assert (cond.status, cond.reason, phase) == ("True", "ModelDegraded", None)
    assert "templates with issues: qwen-mi325x (Failed)" in cond.message


def test_not_found_names_the_field_and_the_fix() -> None:
    cond = sm.not_found(service({"name": "nope"}))
    assert cond.reason == "ModelNotFound"
    assert "spec.model.name 'nope'" in cond.message and "create the model or fix the name" in cond.message
