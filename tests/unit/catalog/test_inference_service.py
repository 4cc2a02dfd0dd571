"""The InferenceService a service deploys: image, env precedence and AIM variables, resources,
placement, pull secrets, and a spec KServe's schema keeps whole (catalog/inference_service.py)."""

from __future__ import annotations

import json
from typing import Any

from aim_engine.api.v1alpha1 import (
    AIMModelSpec,
    AIMServiceSpec,
    AIMServiceTemplateSpec,
    AIMServiceTemplateStatus,
)
from aim_engine.api.v1alpha1.runtime_config import AIMRuntimeConfigSpec
from aim_engine.catalog import inference_service as isvc
from aim_engine.catalog import labels
from aim_engine.catalog.model_view import ModelView
from aim_engine.catalog.service_templates import TemplateView
from tests.support.kserve import FIXTURE_CRD, full_schema_if_built, pruned_paths, v1beta1_schema


def model(**spec: Any) -> ModelView:
    body = {"image": "amdenterpriseai/aim-qwen-qwen3-32b:0.8.5", **spec}
    parsed = AIMModelSpec.model_validate(body)
    return ModelView(kind="AIMModel", name="qwen", namespace="ml", uid="m", spec=parsed, phase="Ready")


def template(
    annotations: dict[str, str] | None = None, status: dict[str, Any] | None = None, **spec: Any
) -> TemplateView:
    body = {"modelName": "qwen", "metric": "latency", "precision": "fp8", "modelId": "Qwen/Qwen3-32B", **spec}
    state = AIMServiceTemplateStatus.model_validate(status or {"status": "Ready"})
    return TemplateView(
        "AIMServiceTemplate",
        "qwen-t",
        "ml",
        "t",
        AIMServiceTemplateSpec.model_validate(body),
        state,
        annotations or {},
    )


def service(**spec: Any) -> AIMServiceSpec:
    return AIMServiceSpec.model_validate({"model": {"name": "qwen"}, **spec})


def env_of(desired: isvc.DesiredInferenceService) -> dict[str, tuple[Any, str]]:
    return {e.var.name: (e.var.value or e.var.value_from, e.level) for e in desired.env}


def test_image_comes_from_the_copy_annotation_else_the_model() -> None:
    plain = isvc.build("chat", service(), model(), template(), None)
    assert (plain.image, plain.image_from) == (
        "amdenterpriseai/aim-qwen-qwen3-32b:0.8.5",
        "spec.image of AIMModel ml/qwen",
    )
    copy = template({labels.DEPLOYMENT_IMAGE: "registry.local/aim-qwen:0.9.0"})
    tuned = isvc.build("chat", service(), model(), copy, None)
    assert tuned.image == "registry.local/aim-qwen:0.9.0"
    assert tuned.spec["predictor"]["containers"][0]["image"] == "registry.local/aim-qwen:0.9.0"


def test_env_precedence_by_name_and_never_duplicated() -> None:
    runtime = AIMRuntimeConfigSpec.model_validate(
        {"env": [{"name": "LEVEL", "value": "runtime"}, {"name": "RC", "value": "1"}]}
    )
    desired = isvc.build(
        "chat",
        service(env=[{"name": "LEVEL", "value": "service"}, {"name": "SVC", "value": "1"}]),
        model(env=[{"name": "LEVEL", "value": "model"}, {"name": "AIM_METRIC", "value": "throughput"}]),
        template(env=[{"name": "LEVEL", "value": "template"}, {"name": "TPL", "value": "1"}]),
        runtime,
    )
    env = env_of(desired)
    names = [e.var.name for e in desired.env]
    assert len(names) == len(set(names))
    assert env["LEVEL"] == ("service", "service")
    assert env["RC"] == ("1", "runtime config")
    assert env["TPL"] == ("1", "template")
    # A user's explicit value wins over what aim-engine derives.
    assert env["AIM_METRIC"] == ("throughput", "model")
    assert env["AIM_PRECISION"] == ("fp8", "aim-engine")
    assert env["AIM_MODEL_ID"] == ("Qwen/Qwen3-32B", "aim-engine")
    # A replaced variable keeps its first place: later entries may refer to it as $(LEVEL).
    assert names.index("LEVEL") < names.index("AIM_PRECISION")


def test_custom_profile_and_model_sources_reach_the_container() -> None:
    token = {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}}
    sources = [
        {"modelId": "my-org/llama-ft", "sourceUri": "s3://bucket/llama", "size": "16Gi", "env": [token]}
    ]
    desired = isvc.build(
        "chat",
        service(),
        model(),
        template(
            profileId="vllm-mi300x-fp16",
            modelSources=sources,
            customProfile={
                "engineArgs": {"dtype": "float16", "gpu-memory-utilization": 0.95},
                "envVars": {"PYTORCH_TUNABLEOP_ENABLED": "1"},
            },
        ),
        None,
    )
    env = env_of(desired)
    assert env["AIM_PROFILE_ID"] == ("vllm-mi300x-fp16", "aim-engine")
    assert json.loads(env["AIM_ENGINE_ARGS"][0]) == {"dtype": "float16", "gpu-memory-utilization": 0.95}
    assert env["PYTORCH_TUNABLEOP_ENABLED"] == ("1", "template")
    assert env["AIM_MODEL_SOURCE_URI"][0] == "s3://bucket/llama"
    assert json.loads(env["AIM_MODEL_SOURCES"][0]) == [
        {"modelId": "my-org/llama-ft", "sourceUri": "s3://bucket/llama", "size": "16Gi"}
    ]
    # Credentials travel as the reference the user wrote, never as a value.
    container_env = desired.spec["predictor"]["containers"][0]["env"]
    assert {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}},
    } in container_env
    assert env["AIM_MODEL_ID"] == ("Qwen/Qwen3-32B", "aim-engine")


def test_resources_three_levels_then_gpu_fill_and_placement() -> None:
    desired = isvc.build(
        "chat",
        service(resources={"requests": {"cpu": "8"}}),
        model(resources={"requests": {"cpu": "2", "memory": "32Gi"}, "limits": {"memory": "64Gi"}}),
        template(
            resources={"requests": {"memory": "48Gi"}},
            hardware={"gpu": {"requests": 2, "models": ["MI300X"]}},
            status={
                "status": "Ready",
                "profile": {"metadata": {"gpu_count": 2}},
                "resolvedHardware": {"gpu": {"requests": 2, "models": ["MI300X"]}},
            },
        ),
        None,
    )
    container = desired.spec["predictor"]["containers"][0]
    assert container["resources"] == {
        "requests": {"cpu": "8", "memory": "48Gi", "amd.com/gpu": "2"},
        "limits": {"memory": "64Gi", "amd.com/gpu": "2", "cpu": "16"},
    }
    terms = desired.spec["predictor"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    first = terms[0]["matchExpressions"][0]
    assert first["key"] == "amd.com/gpu.device-id" and "74a1" in first["values"]
    assert desired.spec["predictor"]["tolerations"] == [
        {"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_cpu_only_templates_get_no_gpu_placement() -> None:
    desired = isvc.build(
        "chat", service(), model(), template(hardware={"cpu": {"requests": "4", "limits": "8"}}), None
    )
    predictor = desired.spec["predictor"]
    assert "affinity" not in predictor and "tolerations" not in predictor
    assert predictor["containers"][0]["resources"] == {"requests": {"cpu": "4"}, "limits": {"cpu": "8"}}


def test_unknown_gpu_models_are_placed_by_family_label() -> None:
    affinity = isvc.node_affinity(["MI250"])
    assert affinity is not None
    terms = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [
        {"matchExpressions": [{"key": "amd.com/gpu.family", "operator": "In", "values": ["MI250"]}]}
    ]


def test_pull_secrets_are_the_union_of_service_runtime_config_and_model_in_that_order() -> None:
    """Discovery pulls with the model's and the runtime config's secrets; the pod must have them
    too (they were dropped as soon as a runtime config named any, and a cluster model's never came)."""
    runtime = AIMRuntimeConfigSpec.model_validate(
        {"imagePullSecrets": [{"name": "rc"}, {"name": "shared"}], "serviceAccountName": "rc-sa"}
    )
    desired = isvc.build(
        "chat",
        service(imagePullSecrets=[{"name": "svc"}, {"name": "shared"}]),
        model(imagePullSecrets=[{"name": "m"}, {"name": "rc"}]),
        template(),
        runtime,
    )
    assert desired.spec["predictor"]["imagePullSecrets"] == [
        {"name": "svc"},
        {"name": "shared"},
        {"name": "rc"},
        {"name": "m"},
    ]
    where = {
        s.name: s.origin
        for s in isvc.pull_secrets(service(), runtime, model(imagePullSecrets=[{"name": "m"}]))
    }
    assert where == {
        "rc": "the runtime config",
        "shared": "the runtime config",
        "m": "spec.imagePullSecrets of AIMModel ml/qwen",
    }
    cluster = ModelView(
        kind="AIMClusterModel",
        name="qwen",
        namespace=None,
        spec=AIMModelSpec.model_validate({"image": "i:1", "imagePullSecrets": [{"name": "regcred"}]}),
        phase="Ready",
    )
    from_cluster = isvc.build("chat", service(), cluster, template(), None)
    assert from_cluster.spec["predictor"]["imagePullSecrets"] == [{"name": "regcred"}]


def test_service_account_from_service_runtime_config_template_then_model() -> None:
    runtime = AIMRuntimeConfigSpec.model_validate({"serviceAccountName": "rc-sa"})
    with_model = model(serviceAccountName="model-sa")

    def account(desired: isvc.DesiredInferenceService) -> str | None:
        found: str | None = desired.spec["predictor"].get("serviceAccountName")
        return found

    assert (
        account(isvc.build("c", service(serviceAccountName="svc-sa"), with_model, template(), runtime))
        == "svc-sa"
    )
    assert account(isvc.build("c", service(), with_model, template(), runtime)) == "rc-sa"
    assert (
        account(isvc.build("c", service(), with_model, template(serviceAccountName="t-sa"), None)) == "t-sa"
    )
    assert account(isvc.build("c", service(), with_model, template(), None)) == "model-sa"
    assert account(isvc.build("c", service(), model(), template(), None)) is None


def test_a_custom_model_without_an_image_runs_the_default_base_image() -> None:
    custom = ModelView(
        kind="AIMModel",
        name="mine",
        namespace="ml",
        spec=AIMModelSpec.model_validate(
            {
                "modelSources": [{"modelId": "org/m", "sourceUri": "hf://org/m"}],
                "custom": {"hardware": {"gpu": {"requests": 1}}},
            }
        ),
        phase="Ready",
    )
    desired = isvc.build("c", service(), custom, template(), None)
    assert desired.image == "amdenterpriseai/aim-base:latest"
    assert "sets no spec.image" in desired.image_from


def test_replicas_and_labels() -> None:
    desired = isvc.build("chat", service(replicas=3), model(), template(), None)
    predictor = desired.spec["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (3, 3)
    assert desired.labels == {
        labels.SERVICE: "chat",
        labels.MODEL: "qwen",
        labels.TEMPLATE: "qwen-t",
        labels.MANAGED_BY: "aim-engine",
    }
    zero = isvc.build("chat", service(replicas=0), model(), template(), None).spec["predictor"]
    assert (zero["minReplicas"], zero["maxReplicas"]) == (0, 1)


def test_the_container_gets_a_memory_backed_dev_shm() -> None:
    """The container runtime's 64 Mi /dev/shm is too small for multi-GPU vLLM."""
    predictor = isvc.build("chat", service(), model(), template(), None).spec["predictor"]
    assert predictor["volumes"] == [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}}]
    assert predictor["containers"][0]["volumeMounts"] == [{"name": "dshm", "mountPath": "/dev/shm"}]


def test_names_are_the_services_unless_too_long_for_kserve() -> None:
    assert isvc.inference_service_name("chat") == "chat"
    assert isvc.inference_service_name("a" * 53) == "a" * 53
    long = isvc.inference_service_name("a" * 60)
    assert len(long + "-predictor") <= 63 and long == isvc.inference_service_name("a" * 60)


def test_every_field_written_is_in_kserves_schema() -> None:
    desired = isvc.build(
        "chat",
        service(
            env=[{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            imagePullSecrets=[{"name": "s"}],
            serviceAccountName="sa",
            resources={"limits": {"memory": "1Gi"}},
        ),
        model(),
        template(
            hardware={"gpu": {"requests": 1, "models": ["MI300X", "AMD-7499", "MI250"]}},
            customProfile={"engineArgs": {"a": 1}},
        ),
        None,
    )
    body = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "spec": desired.spec}
    assert list(pruned_paths(body, v1beta1_schema(FIXTURE_CRD))) == []
    full = full_schema_if_built()
    if full is not None:
        assert list(pruned_paths(body, full)) == []
