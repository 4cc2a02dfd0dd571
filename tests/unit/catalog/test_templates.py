from __future__ import annotations

from typing import Any

from aim_engine.api.v1alpha1 import AIMModelSpec, ImageMetadata
from aim_engine.catalog import labels
from aim_engine.catalog.template_spec import merge_env
from aim_engine.catalog.templates import plan


def spec(**fields: Any) -> AIMModelSpec:
    return AIMModelSpec.model_validate(fields)


METADATA = ImageMetadata.model_validate(
    {
        "model": {
            "canonicalName": "Qwen/Qwen3-32B",
            "recommendedDeployments": [
                {"gpuModel": "MI300X", "gpuCount": 1, "precision": "fp8", "metric": "latency"},
                {"gpuModel": "MI300X", "gpuCount": 2, "precision": "fp8", "metric": "throughput"},
            ],
        }
    }
)


def test_one_template_per_recommended_deployment() -> None:
    result = plan("qwen", spec(image="repo/qwen:0.8.5"), METADATA)
    assert result.expects_templates
    names = [t.name for t in result.templates]
    assert len(names) == 2
    assert names[0].startswith("qwen-1x-mi300x-lat-fp8-")
    assert names[1].startswith("qwen-2x-mi300x-thr-fp8-")
    first = result.templates[0]
    assert first.labels == {labels.MODEL: "qwen", labels.ORIGIN: labels.ORIGIN_AUTO}
    assert first.spec.dump() == {
        "modelName": "qwen",
        "aimId": "Qwen/Qwen3-32B",
        "modelId": "Qwen/Qwen3-32B",
        "metric": "latency",
        "precision": "fp8",
        "type": "optimized",
        "hardware": {"gpu": {"requests": 1, "model": "MI300X"}},
    }


def test_template_names_do_not_depend_on_the_image_tag() -> None:
    a = plan("qwen", spec(image="repo/qwen:0.8.5"), METADATA)
    b = plan("qwen", spec(image="repo/qwen:0.8.6"), METADATA)
    assert [t.name for t in a.templates] == [t.name for t in b.templates]


def test_no_deployments_means_no_templates_expected() -> None:
    meta = ImageMetadata.model_validate({"model": {"canonicalName": "a/b"}})
    result = plan("m", spec(image="x"), meta)
    assert result.templates == []
    assert not result.expects_templates
    assert result.reason == "NoTemplatesExpected"


def test_unknown_metadata_awaits_discovery() -> None:
    result = plan("m", spec(image="x"), None)
    assert result.reason == "AwaitingMetadata"
    assert result.expects_templates


def test_discovery_off_without_spec_metadata_expects_nothing() -> None:
    result = plan("m", spec(image="x", discovery={"extractMetadata": False}), None)
    assert not result.expects_templates
    assert "extractMetadata is false" in result.message


def test_creation_disabled() -> None:
    result = plan("m", spec(image="x", discovery={"createServiceTemplates": False}), METADATA)
    assert result.templates == []
    assert not result.expects_templates


def test_custom_model_single_template_from_hardware() -> None:
    model = spec(
        image="amdenterpriseai/aim-base:latest",
        modelSources=[{"modelId": "Qwen/Qwen3-32B", "sourceUri": "s3://b/q"}],
        custom={"hardware": {"gpu": {"requests": 1, "models": ["MI300X"]}}},
    )
    result = plan("my-custom-qwen", model, METADATA)
    assert len(result.templates) == 1
    template = result.templates[0]
    assert template.name.startswith("my-custom-qwen-custom-mi300x-")
    assert template.spec.type == "unoptimized"
    assert template.spec.model_sources is not None
    assert template.spec.model_sources[0].source_uri == "s3://b/q"


def test_custom_templates_inherit_and_override() -> None:
    model = spec(
        modelSources=[{"modelId": "Qwen/Qwen3-32B", "sourceUri": "s3://bucket/model"}],
        env=[{"name": "A", "value": "1"}],
        custom={
            "type": "preview",
            "hardware": {"gpu": {"requests": 1, "model": "MI300X", "minVram": "64Gi"}},
            "templates": [
                {
                    "name": "high-memory",
                    "hardware": {"gpu": {"requests": 2}},
                    "env": [{"name": "VLLM_GPU_MEMORY_UTILIZATION", "value": "0.95"}],
                },
                {"name": "standard"},
            ],
        },
    )
    result = plan("my-custom-qwen", model, None)
    high, standard = result.templates
    assert high.name.startswith("my-custom-qwen-custom-high-memory-mi300x-")
    assert standard.name.startswith("my-custom-qwen-custom-standard-mi300x-")
    assert high.labels[labels.TEMPLATE_ALIAS] == "high-memory"
    assert high.spec.hardware is not None and high.spec.hardware.gpu is not None
    assert high.spec.hardware.gpu.requests == 2
    assert high.spec.hardware.gpu.model == "MI300X"
    assert high.spec.hardware.gpu.min_vram == "64Gi"
    assert standard.spec.hardware is not None and standard.spec.hardware.gpu is not None
    assert standard.spec.hardware.gpu.requests == 1
    assert high.spec.type == standard.spec.type == "preview"
    assert [e.name for e in high.spec.env or []] == ["A", "VLLM_GPU_MEMORY_UTILIZATION"]


def test_custom_template_names_do_not_depend_on_list_order() -> None:
    entries = [{"name": "a", "hardware": {"gpu": {"requests": 2}}}, {"name": "b"}]
    base = {
        "modelSources": [{"modelId": "o/m", "sourceUri": "s3://b/m"}],
        "custom": {"hardware": {"gpu": {"requests": 1}}},
    }
    forward = plan("m", spec(**base, customTemplates=entries), None)
    backward = plan("m", spec(**base, customTemplates=list(reversed(entries))), None)
    assert sorted(t.name for t in forward.templates) == sorted(t.name for t in backward.templates)


def test_custom_profile_is_carried() -> None:
    model = spec(
        image="amdenterpriseai/aim-vllm-base:0.10.0",
        modelSources=[{"modelId": "my-org/llama-finetuned", "sourceUri": "s3://my-bucket/weights/"}],
        customTemplates=[
            {
                "name": "llama-custom-tuned",
                "aimId": "meta-llama/Llama-3-8B",
                "modelId": "meta-llama/Llama-3-8B",
                "hardware": {"gpu": {"model": "MI300X", "requests": 1}},
                "profile": {"metric": "latency", "precision": "fp16"},
                "customProfile": {"engineArgs": {"gpu-memory-utilization": 0.95}},
            }
        ],
    )
    (template,) = plan("llama", model, None).templates
    assert template.name.startswith("llama-custom-llama-custom-tuned-fp16-mi300x-")
    assert template.spec.custom_profile is not None
    assert template.spec.custom_profile.engine_args == {"gpu-memory-utilization": 0.95}
    assert template.spec.aim_id == "meta-llama/Llama-3-8B"


def test_image_model_custom_templates_are_additive() -> None:
    model = spec(image="x", customTemplates=[{"name": "extra", "hardware": {"gpu": {"requests": 4}}}])
    result = plan("qwen", model, METADATA)
    assert len(result.templates) == 3
    extra = result.templates[-1]
    assert extra.spec.model_sources is None


def test_merge_env() -> None:
    from aim_engine.api.meta import EnvVar

    merged = merge_env(
        [EnvVar(name="A", value="1"), EnvVar(name="B", value="2")], [EnvVar(name="A", value="3")]
    )
    assert merged == [EnvVar(name="A", value="3"), EnvVar(name="B", value="2")]
    assert merge_env(None, None) is None


def test_image_model_reads_custom_templates_too() -> None:
    """Defect: only spec.customTemplates was read for image models; spec.custom.templates was ignored."""
    model = spec(image="x", custom={"templates": [{"name": "extra", "hardware": {"gpu": {"requests": 4}}}]})
    result = plan("qwen", model, METADATA)
    assert len(result.templates) == 3
    assert result.templates[-1].labels[labels.TEMPLATE_ALIAS] == "extra"
    assert len(plan("qwen", model, None).templates) == 1  # also while the metadata is unknown


def test_custom_template_name_changes_with_every_immutable_hardware_field() -> None:
    """Defect: minVram, cpu and the order of gpu.models did not reach the name, while
    spec.hardware is immutable: the same name was applied with new hardware and rejected."""
    sources = [{"modelId": "o/m", "sourceUri": "s3://b/m"}]

    def only(hardware: dict[str, Any]) -> Any:
        (template,) = plan("m", spec(modelSources=sources, custom={"hardware": hardware}), None).templates
        return template

    base = only({"gpu": {"requests": 1, "models": ["MI300X", "MI325X"]}})
    variants: list[dict[str, Any]] = [
        {"gpu": {"requests": 1, "models": ["MI300X", "MI325X"], "minVram": "64Gi"}},
        {"gpu": {"requests": 1, "models": ["MI300X", "MI325X"]}, "cpu": {"requests": "4"}},
        {"gpu": {"requests": 1, "models": ["MI300X", "MI325X"]}, "cpu": {"requests": "4", "limits": "8"}},
        {"gpu": {"requests": 1, "models": ["MI300X"]}},
        {"gpu": {"requests": 1, "models": ["MI300X", "MI325X"], "resourceName": "amd.com/xgpu"}},
    ]
    names = {only(v).name for v in variants}
    assert base.name not in names and len(names) == len(variants)
    # The order of the list means nothing: same name, and the same (sorted) hardware written.
    reordered = only({"gpu": {"requests": 1, "models": ["MI325X", "MI300X"]}})
    assert reordered.name == base.name
    assert reordered.spec.hardware == base.spec.hardware
    assert base.spec.hardware is not None and base.spec.hardware.gpu is not None
    assert base.spec.hardware.gpu.models == ["MI300X", "MI325X"]


def test_generated_templates_carry_what_fine_tuned_matching_needs() -> None:
    meta = ImageMetadata.model_validate(
        {
            "model": {
                "canonicalName": "Qwen/Qwen3-32B",
                "recommendedDeployments": [
                    {
                        "gpuModel": "MI300X",
                        "gpuCount": 1,
                        "precision": "fp8",
                        "modelId": "Qwen/Qwen3-32B-FP8",
                    },
                    {"gpuModel": "MI300X", "gpuCount": 1, "precision": "fp16"},
                ],
            }
        }
    )
    fp8, fp16 = plan("qwen", spec(image="x:1"), meta).templates
    assert (fp8.spec.aim_id, fp8.spec.model_id) == ("Qwen/Qwen3-32B", "Qwen/Qwen3-32B-FP8")
    assert (fp16.spec.aim_id, fp16.spec.model_id) == ("Qwen/Qwen3-32B", "Qwen/Qwen3-32B")
    # The model's own aimId names the family when it sets one.
    (first, _) = plan("qwen", spec(image="x:1", aimId="qwen/qwen3-32b"), meta).templates
    assert first.spec.aim_id == "qwen/qwen3-32b"
