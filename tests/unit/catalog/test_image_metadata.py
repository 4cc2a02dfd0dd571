"""Labels and Env → ImageMetadata (catalog/image_metadata.py)."""

from __future__ import annotations

import pytest

from aim_engine.api.v1alpha1.common import RecommendedDeployment
from aim_engine.catalog.image_metadata import (
    MalformedLabelError,
    base_image_ref_from_env,
    extract_image_metadata,
    parse_bool,
    parse_deployments,
    split_list,
)

# The style AIM image builds write (from a published image's labels).
PYTHON_LITERAL = (
    "{'gpuModel': 'MI300X', 'gpuCount': 1, 'precision': 'fp8', 'metric': 'latency', "
    "'description': 'Optimized for latency on MI300X using fp8 precision'}, "
    "{'gpuModel': 'MI300X', 'gpuCount': 1, 'precision': 'fp8', 'metric': 'throughput', "
    "'description': 'Optimized for throughput on MI300X using fp8 precision'}"
)
JSON_WITH_PROFILE = (
    '[{"gpuModel":"MI300X","gpuCount":1,"metric":"latency","precision":"fp16",'
    '"profileId":"mi300x-fp16-latency-unopt"}]'
)


def test_published_python_literal_deployments() -> None:
    deployments = parse_deployments(PYTHON_LITERAL, label="l")
    assert [d.dump() for d in deployments] == [
        {
            "gpuModel": "MI300X",
            "gpuCount": 1,
            "precision": "fp8",
            "metric": "latency",
            "description": "Optimized for latency on MI300X using fp8 precision",
        },
        {
            "gpuModel": "MI300X",
            "gpuCount": 1,
            "precision": "fp8",
            "metric": "throughput",
            "description": "Optimized for throughput on MI300X using fp8 precision",
        },
    ]


def test_json_deployments_with_profile_id() -> None:
    (deployment,) = parse_deployments(JSON_WITH_PROFILE, label="l")
    assert deployment == RecommendedDeployment(
        gpu_model="MI300X",
        gpu_count=1,
        metric="latency",
        precision="fp16",
        profile_id="mi300x-fp16-latency-unopt",
    )


@pytest.mark.parametrize(
    "value",
    [
        "[{'gpuModel': 'MI325X', 'gpuCount': 8}]",  # Python list
        "({'gpuModel': 'MI325X', 'gpuCount': 8},)",  # Python tuple
        "{'gpuModel': 'MI325X', 'gpuCount': 8}",  # one bare dict
        '{"gpuModel": "MI325X", "gpuCount": 8}',  # one JSON object
        '  [ {"gpuModel": "MI325X", "gpuCount": 8} ]  ',  # whitespace around
    ],
)
def test_deployment_value_shapes(value: str) -> None:
    assert parse_deployments(value, label="l") == [RecommendedDeployment(gpu_model="MI325X", gpu_count=8)]


def test_apostrophes_in_descriptions_survive() -> None:
    # Swapping ' for " (what the Go engine does) would break this value.
    value = """{'gpuModel': 'MI300X', 'description': "AMD's fastest profile"}"""
    (deployment,) = parse_deployments(value, label="l")
    assert deployment.description == "AMD's fastest profile"


def test_unknown_keys_are_ignored_and_empty_strings_dropped() -> None:
    (deployment,) = parse_deployments(
        '[{"gpuModel": "MI300X", "tp": 8, "extra": {"a": 1}, "metric": ""}]', label="l"
    )
    assert deployment.dump() == {"gpuModel": "MI300X"}


def test_empty_list_is_an_empty_list() -> None:
    assert parse_deployments("[]", label="l") == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[{'gpuModel': 'MI300X'", "neither JSON nor a Python list"),
        ("gpuModel=MI300X", "neither JSON nor a Python list"),
        ("__import__('os').system('true')", "neither JSON nor a Python list"),
        ('"just a string"', "must be a list of objects"),
        ("42", "must be a list of objects"),
        ("[1, 2]", "entry 0 is not an object"),
        ('[{"gpuModel": "MI300X", "gpuCount": "eight"}]', "gpuCount must be a non-negative integer"),
        ('[{"gpuModel": "MI300X", "gpuCount": 1.5}]', "gpuCount must be a non-negative integer"),
        ('[{"gpuModel": "MI300X", "gpuCount": true}]', "gpuCount must be a non-negative integer"),
        ('[{"gpuModel": "MI300X", "gpuCount": -1}]', "gpuCount must be a non-negative integer"),
        ('[{"gpuModel": 300}]', "gpuModel must be a string"),
        ("[{'gpuModel': 'MI300X'}, {'metric': ['latency']}]", "entry 1: metric must be a string"),
    ],
)
def test_malformed_deployments_are_invalid_metadata(value: str, message: str) -> None:
    with pytest.raises(MalformedLabelError, match=message) as caught:
        parse_deployments(value, label="com.amd.aim.model.recommendedDeployments")
    assert "com.amd.aim.model.recommendedDeployments" in str(caught.value)
    assert isinstance(caught.value, ValueError)  # the inspector reports it as InvalidMetadataError


def test_malformed_value_is_quoted_truncated() -> None:
    value = "[{'gpuModel': 'MI300X', 'description': '" + "x" * 500
    with pytest.raises(MalformedLabelError) as caught:
        parse_deployments(value, label="l")
    message = str(caught.value)
    assert "[{'gpuModel': 'MI300X'" in message
    assert "..." in message
    assert len(message) < 250


def test_oversized_value_is_rejected_before_parsing() -> None:
    with pytest.raises(MalformedLabelError, match="longer than"):
        parse_deployments("[" + "{}," * 40000 + "]", label="l")


def test_full_metadata_from_current_labels() -> None:
    labels = {
        "com.amd.aim.model.canonicalName": "meta-llama/Llama-3.1-8B-Instruct",
        "com.amd.aim.model.source": "https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct",
        "com.amd.aim.title": "Llama 3.1 8B Instruct",
        "com.amd.aim.description.full": "A model.",
        "com.amd.aim.release.notes": "First release.",
        "com.amd.aim.model.tags": "text-generation, chat,, llama ",
        "com.amd.aim.model.versions": "3.1",
        "com.amd.aim.model.variants": "8B,70B",
        "com.amd.aim.hfToken.required": "true",
        "com.amd.aim.model.recommendedDeployments": PYTHON_LITERAL,
        "org.opencontainers.image.title": "aim-llama",
        "org.opencontainers.image.version": "0.8.4",
        "org.opencontainers.image.licenses": "Apache-2.0",
        "org.opencontainers.image.vendor": "AMD",
        "org.opencontainers.image.created": "2025-01-01T00:00:00Z",
        "org.opencontainers.image.revision": "abc123",
        "org.opencontainers.image.source": "https://github.com/example/aim",
        "org.opencontainers.image.documentation": "https://docs.example.com",
        "org.opencontainers.image.authors": "AMD",
        "org.opencontainers.image.description": "An AIM image",
        "unrelated": "kept in originalLabels",
    }
    env = ["PATH=/usr/bin", "AIM_BASE_IMAGE_REF=docker.io/amdenterpriseai/aim-base:0.11"]
    metadata = extract_image_metadata(labels, env)
    dumped = metadata.dump()
    model = dumped["model"]
    assert model["canonicalName"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert model["source"] == "https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct"
    assert model["title"] == "Llama 3.1 8B Instruct"
    assert model["descriptionFull"] == "A model."
    assert model["releaseNotes"] == "First release."
    assert model["tags"] == ["text-generation", "chat", "llama"]
    assert model["versions"] == ["3.1"]
    assert model["variants"] == ["8B", "70B"]
    assert model["hfTokenRequired"] is True
    assert [d["metric"] for d in model["recommendedDeployments"]] == ["latency", "throughput"]
    assert dumped["oci"] == {
        "title": "aim-llama",
        "description": "An AIM image",
        "licenses": "Apache-2.0",
        "vendor": "AMD",
        "authors": "AMD",
        "source": "https://github.com/example/aim",
        "documentation": "https://docs.example.com",
        "created": "2025-01-01T00:00:00Z",
        "revision": "abc123",
        "version": "0.8.4",
    }
    assert dumped["originalLabels"] == labels
    assert dumped["baseImageRef"] == "docker.io/amdenterpriseai/aim-base:0.11"


def test_legacy_labels_are_a_fallback() -> None:
    labels = {
        "org.amd.silogen.model.canonicalName": "legacy/name",
        "org.amd.silogen.model.tags": "a,b",
        "org.amd.silogen.model.recommendedDeployments": "[{'gpuModel': 'MI210', 'gpuCount': 2}]",
        "org.amd.silogen.hfToken.required": "0",
        "com.amd.aim.title": "current title",
        "org.amd.silogen.title": "legacy title",
        "com.amd.aim.model.source": "  ",  # empty: the legacy value is used
        "org.amd.silogen.model.source": "legacy-source",
    }
    model = extract_image_metadata(labels).model
    assert model is not None
    assert model.canonical_name == "legacy/name"
    assert model.tags == ["a", "b"]
    assert model.recommended_deployments == [RecommendedDeployment(gpu_model="MI210", gpu_count=2)]
    assert model.hf_token_required is False
    assert model.title == "current title"
    assert model.source == "legacy-source"


def test_recommended_deployments_wins_over_deployments() -> None:
    labels = {
        "com.amd.aim.model.deployments": '[{"gpuModel": "FROM-DOCUMENT-NAME"}]',
        "com.amd.aim.model.recommendedDeployments": '[{"gpuModel": "FROM-PUBLISHED-NAME"}]',
    }
    model = extract_image_metadata(labels).model
    assert model is not None and model.recommended_deployments is not None
    assert [d.gpu_model for d in model.recommended_deployments] == ["FROM-PUBLISHED-NAME"]


def test_document_label_name_is_read() -> None:
    model = extract_image_metadata({"com.amd.aim.model.deployments": '[{"gpuModel": "MI300X"}]'}).model
    assert model is not None
    assert model.recommended_deployments == [RecommendedDeployment(gpu_model="MI300X")]


def test_current_prefix_deployments_win_over_legacy() -> None:
    labels = {
        "org.amd.silogen.model.recommendedDeployments": '[{"gpuModel": "LEGACY"}]',
        "com.amd.aim.model.deployments": '[{"gpuModel": "CURRENT"}]',
    }
    model = extract_image_metadata(labels).model
    assert model is not None and model.recommended_deployments is not None
    assert model.recommended_deployments[0].gpu_model == "CURRENT"


def test_malformed_deployments_fail_the_whole_extraction() -> None:
    with pytest.raises(MalformedLabelError, match=r"com\.amd\.aim\.model\.recommendedDeployments"):
        extract_image_metadata({"com.amd.aim.model.recommendedDeployments": "[{oops"})


def test_no_labels_gives_empty_metadata() -> None:
    assert extract_image_metadata(None).dump() == {}
    assert extract_image_metadata({}, []).dump() == {}
    only_other = extract_image_metadata({"maintainer": "x"})
    assert only_other.model is None and only_other.oci is None
    assert only_other.original_labels == {"maintainer": "x"}


def test_invalid_boolean_is_left_unset() -> None:
    model = extract_image_metadata(
        {"com.amd.aim.hfToken.required": "maybe", "com.amd.aim.model.canonicalName": "a/b"}
    ).model
    assert model is not None
    assert model.hf_token_required is None
    assert "hfTokenRequired" not in model.dump()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("false", False),
        ("0", False),
        ("No", False),
    ],
)
def test_parse_bool(value: str, expected: bool) -> None:
    assert parse_bool(value) is expected


def test_split_list() -> None:
    assert split_list(" a, b ,,c,") == ["a", "b", "c"]
    assert split_list(" , ") == []


def test_base_image_ref_from_env() -> None:
    assert base_image_ref_from_env(None) is None
    assert base_image_ref_from_env(["AIM_BASE_IMAGE_REF="]) is None
    assert base_image_ref_from_env(["NOT_AIM_BASE_IMAGE_REF=x", "AIM_BASE_IMAGE_REF_X=y"]) is None
    assert base_image_ref_from_env(["AIM_BASE_IMAGE_REF=a:1", "AIM_BASE_IMAGE_REF=b:2"]) == "b:2"
    assert base_image_ref_from_env(["AIM_BASE_IMAGE_REF=ghcr.io/x/y:1=z"]) == "ghcr.io/x/y:1=z"
