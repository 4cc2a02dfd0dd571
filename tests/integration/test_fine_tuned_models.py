"""Fine-tuned models on a real cluster: matching, version policies, deployment images, copies.

Base models here carry `spec.imageMetadata` (their images live on registries these tests
cannot reach, which is the point of the rebasing table), except where a real image is pushed
to the test registry and inspected. Every test uses its own aimId, so cluster-scoped templates
of other tests are never candidates.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from aim_engine.runtime.kube_api import KubeApi
from tests.support.aim_api import V1, condition, create, get, model_body, reported, status_of, templates_of
from tests.support.aim_operator import GROUP, RunningOperator
from tests.support.document_tables import REBASING_ROWS
from tests.support.kube_plugin import unique_name
from tests.support.oci_images import ImageBuilder, ImageSpec
from tests.support.registries import Registries
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(GROUP)]

SEED_EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "seed_examples.yaml"
IMAGE_REF = "aim.eai.amd.com/deployment-image-ref"


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> str:
    return unique_name(request.node.name.removeprefix("test_")[:24], prefix="ft-")


def base_metadata(aim_id: str, model_ids: list[str], base: str | None) -> dict[str, Any]:
    deployments = [
        {"gpuModel": "MI300X", "gpuCount": 1, "precision": "fp8", "metric": "latency", "modelId": m}
        for m in model_ids
    ]
    metadata: dict[str, Any] = {"model": {"canonicalName": aim_id, "recommendedDeployments": deployments}}
    if base:
        metadata["baseImageRef"] = base
    return metadata


def fine_tuned(
    aim_id: str, model_id: str, policy: str | None = None, image: str | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "aimId": aim_id,
        "modelSources": [{"modelId": model_id, "sourceUri": "s3://my-bucket/weights/"}],
    }
    if policy:
        spec["custom"] = {"versionPolicy": policy}
    if image:
        spec["image"] = image
    return spec


def annotations_of(templates: list[dict[str, Any]]) -> dict[str, str]:
    """Source template (annotation) → deployment image, for a fine-tuned model's copies."""
    return {
        t["metadata"]["annotations"]["aim.eai.amd.com/source-template"]: t["metadata"]["annotations"][
            IMAGE_REF
        ]
        for t in templates
    }


def templates_message(model: dict[str, Any] | None) -> str:
    return str(condition(model, "ServiceTemplatesReady").get("message", ""))


def images_of(templates: list[dict[str, Any]]) -> list[str]:
    return [t["metadata"]["annotations"][IMAGE_REF] for t in templates]


async def delete(api: KubeApi, path: str) -> None:
    await api.request("DELETE", path)


async def copies_where(
    api: KubeApi, model: str, namespace: str | None, done: Callable[[list[dict[str, Any]]], bool], what: str
) -> list[dict[str, Any]]:
    found = await eventually(lambda: templates_of(api, model, namespace), done, what=what)
    assert found is not None
    return found


async def test_rebasing_rows_and_heterogeneous_matches(
    operator: RunningOperator, api: KubeApi, registries: Registries, unique: str
) -> None:
    aim_id = f"org/{unique}"
    rows = REBASING_ROWS
    owners = []
    for i, (image, base, _) in enumerate(rows):
        name = f"{unique}-b{i}"
        owners.append(name)
        spec = {"image": image, "imageMetadata": base_metadata(aim_id, [f"{aim_id}-ft"], base)}
        await create(api, f"{V1}/aimclustermodels", model_body("AIMClusterModel", name, spec))
    # A registry with a port: a real image on the test registry, inspected, whose config says
    # AIM_BASE_IMAGE_REF=docker.io/amdenterpriseai/aim-base:0.11.
    endpoint = registries.noauth
    labels = {
        "com.amd.aim.model.canonicalName": aim_id,
        "com.amd.aim.model.recommendedDeployments": json.dumps(
            [
                {
                    "gpuModel": "MI300X",
                    "gpuCount": 2,
                    "precision": "fp16",
                    "metric": "throughput",
                    "modelId": f"{aim_id}-ft",
                }
            ]
        ),
    }
    with ImageBuilder(endpoint.url, ca_bundle=registries.ca_bundle) as builder:
        builder.push_image(
            f"team/{unique}",
            "0.11.1",
            ImageSpec(labels=labels, env=("AIM_BASE_IMAGE_REF=docker.io/amdenterpriseai/aim-base:0.11",)),
        )
    real = endpoint.image(f"team/{unique}", "0.11.1")
    owners.append(f"{unique}-b3")
    await create(
        api, f"{V1}/aimclustermodels", model_body("AIMClusterModel", f"{unique}-b3", {"image": real})
    )
    try:
        await create(
            api,
            f"{V1}/aimclustermodels",
            model_body("AIMClusterModel", unique, fine_tuned(aim_id, f"{aim_id}-ft", "any")),
        )
        copies = await copies_where(api, unique, None, lambda ts: len(ts) == 4, "four copies")
        images = sorted(annotations_of(copies).values())
        host = real.split("/", 1)[0]
        assert images == sorted([row[2] for row in rows] + [f"{host}/team/aim-base:0.11"])
        for copy in copies:
            assert copy["metadata"]["labels"]["aim.eai.amd.com/origin"] == "fine-tuned"
            assert copy["metadata"]["labels"]["aim.eai.amd.com/model"] == unique
            (owner,) = copy["metadata"]["ownerReferences"]
            assert (owner["kind"], owner["name"], owner["controller"]) == ("AIMClusterModel", unique, True)
            assert copy["spec"]["modelName"] == unique
            assert copy["spec"]["modelSources"] == [
                {"modelId": f"{aim_id}-ft", "sourceUri": "s3://my-bucket/weights/"}
            ]
        # The status is written right after the copies are applied.
        model = await eventually(
            lambda: get(api, f"{V1}/aimclustermodels/{unique}"),
            lambda m: (
                "4 official template(s) matched" in condition(m, "ServiceTemplatesReady").get("message", "")
            ),
            what="status naming the four matches",
        )
        assert model is not None
        assert model["status"]["sourceType"] == "Custom"
        assert "image" not in model["spec"] and "imageMetadata" not in model["status"]
    finally:
        for name in [unique, *owners]:
            await delete(api, f"{V1}/aimclustermodels/{name}")


async def test_version_policies_and_latest_moving(
    operator: RunningOperator, api: KubeApi, unique: str
) -> None:
    aim_id = f"org/{unique}"
    model_id = f"{aim_id}-ft"

    async def base(version: str) -> str:
        name = f"{unique}-{version.replace('.', '-')}"
        spec = {
            "image": f"ghcr.io/silogen/qwen3:{version}",
            "imageMetadata": base_metadata(
                aim_id, [model_id], f"docker.io/amdenterpriseai/aim-base:{version}"
            ),
        }
        await create(api, f"{V1}/aimclustermodels", model_body("AIMClusterModel", name, spec))
        return name

    owners = [await base("0.9.1"), await base("0.10.0")]
    models = {
        "pinned": fine_tuned(aim_id, model_id, image="amdenterpriseai/aim-base:0.9.1"),
        "latest": fine_tuned(aim_id, model_id, "latest"),
        "any": fine_tuned(aim_id, model_id, "any"),
        "all": fine_tuned(aim_id, model_id, "all"),
    }
    try:
        for policy, spec in models.items():
            await create(
                api, f"{V1}/aimclustermodels", model_body("AIMClusterModel", f"{unique}-{policy}", spec)
            )
        pinned = await copies_where(api, f"{unique}-pinned", None, lambda ts: len(ts) == 1, "pinned copy")
        assert pinned[0]["metadata"]["annotations"][IMAGE_REF] == "amdenterpriseai/aim-base:0.9.1"
        assert pinned[0]["metadata"]["annotations"]["aim.eai.amd.com/source-version"] == "0.9.1"
        # Both bases exist before the latest model, but their templates appear in any order:
        # latest settles on the newest.
        await copies_where(
            api,
            f"{unique}-latest",
            None,
            lambda ts: images_of(ts) == ["ghcr.io/silogen/aim-base:0.10.0"],
            "latest copy of 0.10.0",
        )
        for policy in ("any", "all"):
            both = await copies_where(
                api, f"{unique}-{policy}", None, lambda ts: len(ts) == 2, f"{policy} copies"
            )
            assert sorted(annotations_of(both).values()) == [
                "ghcr.io/silogen/aim-base:0.10.0",
                "ghcr.io/silogen/aim-base:0.9.1",
            ]
        # A newer official version appears: latest moves to it (the old copy goes), any adds it.
        owners.append(await base("0.11.0"))
        await copies_where(
            api,
            f"{unique}-latest",
            None,
            lambda ts: (
                images_of(ts) == ["ghcr.io/silogen/aim-base:0.11.0"]
                and ts[0].get("status", {}).get("version") == "0.11.0"
            ),
            "latest moves to 0.11.0",
        )
        await copies_where(api, f"{unique}-any", None, lambda ts: len(ts) == 3, "any gains a copy")
        pinned_again = await templates_of(api, f"{unique}-pinned", None)
        assert [t["metadata"]["name"] for t in pinned_again] == [t["metadata"]["name"] for t in pinned]
    finally:
        for name in [*(f"{unique}-{p}" for p in models), *owners]:
            await delete(api, f"{V1}/aimclustermodels/{name}")


async def test_legacy_fallback_and_non_semver_skip(
    operator: RunningOperator, api: KubeApi, unique: str
) -> None:
    aim_id = f"org/{unique}"
    model_id = f"{aim_id}-ft"
    legacy = {
        "image": "mirror.example:5000/team/qwen3:0.11.2",
        "imageMetadata": base_metadata(aim_id, [model_id], None),
    }
    nightly = {
        "image": "mirror.example:5000/team/qwen3:nightly",
        "imageMetadata": base_metadata(aim_id, [model_id], None),
    }
    await create(api, f"{V1}/aimclustermodels", model_body("AIMClusterModel", f"{unique}-legacy", legacy))
    await create(api, f"{V1}/aimclustermodels", model_body("AIMClusterModel", f"{unique}-nightly", nightly))
    try:
        await create(
            api,
            f"{V1}/aimclustermodels",
            model_body("AIMClusterModel", unique, fine_tuned(aim_id, model_id, "any")),
        )
        (copy,) = await copies_where(api, unique, None, lambda ts: len(ts) == 1, "the legacy copy")
        assert copy["metadata"]["annotations"][IMAGE_REF] == "mirror.example:5000/team/aim-base:0.11"
        model = await eventually(
            lambda: get(api, f"{V1}/aimclustermodels/{unique}"),
            lambda m: (
                condition(m, "ServiceTemplatesReady").get("reason") == "TemplatesSkipped"
                or "skipped 1" in condition(m, "ServiceTemplatesReady").get("message", "")
            ),
            what="the skipped copy named in status",
        )
        message = condition(model, "ServiceTemplatesReady")["message"]
        assert "skipped 1 until their deployment image resolves" in message
        assert f"{unique}-nightly" in message and "'nightly' is not a version" in message
    finally:
        for name in (unique, f"{unique}-legacy", f"{unique}-nightly"):
            await delete(api, f"{V1}/aimclustermodels/{name}")


async def test_copies_follow_sources_and_go_with_the_model(
    operator: RunningOperator, api: KubeApi, namespace: str, unique: str
) -> None:
    aim_id = f"org/{unique}"
    model_id = f"{aim_id}-ft"
    spec = {
        "image": "ghcr.io/silogen/qwen3:1.0.0",
        "imageMetadata": base_metadata(aim_id, [model_id, f"{aim_id}-other"], "x/aim-base:1.0"),
    }
    await create(
        api,
        f"{V1}/namespaces/{namespace}/aimmodels",
        model_body("AIMModel", f"{unique}-base", spec, namespace),
    )
    await create(
        api,
        f"{V1}/namespaces/{namespace}/aimmodels",
        model_body("AIMModel", unique, fine_tuned(aim_id, model_id, "any"), namespace),
    )
    (copy,) = await copies_where(api, unique, namespace, lambda ts: len(ts) == 1, "one copy")
    assert copy["metadata"]["annotations"][IMAGE_REF] == "ghcr.io/silogen/aim-base:1.0"
    model = await eventually(
        lambda: get(api, f"{V1}/namespaces/{namespace}/aimmodels/{unique}"),
        reported,
        what="fine-tuned model status",
    )
    assert model is not None and model["status"]["sourceType"] == "Custom"

    # The source changes (its model's baseImageRef): the copy follows.
    patch = {"spec": {"imageMetadata": {"baseImageRef": "x/aim-base:1.1"}}}
    await api.request(
        "PATCH",
        f"{V1}/namespaces/{namespace}/aimmodels/{unique}-base",
        body=patch,
        content_type="application/merge-patch+json",
    )
    await copies_where(
        api,
        unique,
        namespace,
        lambda ts: images_of(ts) == ["ghcr.io/silogen/aim-base:1.1"],
        "the copy follows its source",
    )
    # The source goes (its model deleted, its templates collected): so does the copy.
    await delete(api, f"{V1}/namespaces/{namespace}/aimmodels/{unique}-base")
    await copies_where(api, unique, namespace, lambda ts: ts == [], "the copy goes with its source")
    model = await eventually(
        lambda: get(api, f"{V1}/namespaces/{namespace}/aimmodels/{unique}"),
        lambda m: condition(m, "ServiceTemplatesReady").get("reason") == "NoMatchingTemplates",
        what="NoMatchingTemplates",
    )
    assert status_of(model) == "NotAvailable"
    # A source again, then the fine-tuned model goes: its copies are garbage-collected.
    await create(
        api,
        f"{V1}/namespaces/{namespace}/aimmodels",
        model_body("AIMModel", f"{unique}-base", spec, namespace),
    )
    await copies_where(api, unique, namespace, lambda ts: len(ts) == 1, "a copy again")
    await delete(api, f"{V1}/namespaces/{namespace}/aimmodels/{unique}")
    await copies_where(api, unique, namespace, lambda ts: ts == [], "copies collected with the model")


async def test_scopes(operator: RunningOperator, api: KubeApi, namespace: str, unique: str) -> None:
    """A namespace fine-tuned model sees its namespace's and cluster templates; a cluster one
    sees cluster templates only."""
    aim_id = f"org/{unique}"
    model_id = f"{aim_id}-ft"
    meta = base_metadata(aim_id, [model_id], "docker.io/amdenterpriseai/aim-base:1.0")
    cluster_base = {"image": "ghcr.io/cluster/qwen3:1.0.0", "imageMetadata": meta}
    ns_base = {"image": "ghcr.io/team/qwen3:1.0.0", "imageMetadata": meta}
    await create(api, f"{V1}/aimclustermodels", model_body("AIMClusterModel", f"{unique}-cb", cluster_base))
    ns_models = f"{V1}/namespaces/{namespace}/aimmodels"
    await create(api, ns_models, model_body("AIMModel", f"{unique}-nb", ns_base, namespace))
    try:
        await create(
            api, ns_models, model_body("AIMModel", unique, fine_tuned(aim_id, model_id, "any"), namespace)
        )
        await create(
            api,
            f"{V1}/aimclustermodels",
            model_body("AIMClusterModel", unique, fine_tuned(aim_id, model_id, "any")),
        )
        ns_copies = await copies_where(api, unique, namespace, lambda ts: len(ts) == 2, "namespace copies")
        assert all(t["kind"] == "AIMServiceTemplate" for t in ns_copies)
        assert sorted(annotations_of(ns_copies).values()) == [
            "ghcr.io/cluster/aim-base:1.0",
            "ghcr.io/team/aim-base:1.0",
        ]
        cluster_copies = await copies_where(api, unique, None, lambda ts: len(ts) == 1, "cluster copy")
        assert cluster_copies[0]["kind"] == "AIMClusterServiceTemplate"
        assert annotations_of(cluster_copies) == {
            f"AIMClusterServiceTemplate/{t['metadata']['name']}": "ghcr.io/cluster/aim-base:1.0"
            for t in await templates_of(api, f"{unique}-cb", None)
        }
    finally:
        await delete(api, f"{V1}/aimclustermodels/{unique}")
        await delete(api, f"{V1}/aimclustermodels/{unique}-cb")


async def settled(api: KubeApi, path: str) -> dict[str, Any]:
    found = await eventually(
        lambda: get(api, path),
        lambda m: status_of(m) not in (None, "Pending", "Progressing"),
        what=f"{path} settled",
    )
    assert found is not None
    return found


def seed_fine_tuned_examples() -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(SEED_EXAMPLES.read_text()) if d]
    return [
        d
        for d in docs
        if d["kind"] == "AIMModel" and d["spec"].get("aimId") and d["spec"].get("modelSources")
    ]


async def test_document_fine_tuned_examples_as_written(
    operator: RunningOperator, api: KubeApi, namespace: str
) -> None:
    examples = seed_fine_tuned_examples()
    assert sorted(e["metadata"]["name"] for e in examples) == [
        "my-finetuned-qwen",
        "my-finetuned-qwen-latest",
    ]
    # The base model the examples are fine-tuned from, as a platform team would declare it
    # (spec.imageMetadata: its image is on Docker Hub, which the tests do not reach).
    base = {
        "image": "amdenterpriseai/aim-qwen-qwen3-32b:0.8.5",
        "imageMetadata": base_metadata(
            "qwen/qwen3-32b",
            ["qwen/qwen3-32b-fp8", "qwen/qwen3-32b"],
            "docker.io/amdenterpriseai/aim-base:0.8",
        ),
    }
    models = f"{V1}/namespaces/{namespace}/aimmodels"
    await create(api, models, model_body("AIMModel", "qwen-qwen3-32b", base, namespace))
    for example in examples:
        body = {
            **example,
            "metadata": {**example["metadata"], "namespace": namespace},
        }  # only the namespace differs
        await create(api, models, body)
    pinned = await copies_where(api, "my-finetuned-qwen", namespace, lambda ts: len(ts) == 1, "pinned copy")
    latest = await copies_where(
        api, "my-finetuned-qwen-latest", namespace, lambda ts: len(ts) == 1, "latest copy"
    )
    # The document's jsonpath: name and deployment image of each copy.
    listing = json.loads(
        await api.request(
            "GET",
            f"{V1}/namespaces/{namespace}/aimservicetemplates",
            params={"labelSelector": "aim.eai.amd.com/model=my-finetuned-qwen"},
        )
    )
    lines = [f"{t['metadata']['name']}\t{t['metadata']['annotations'][IMAGE_REF]}" for t in listing["items"]]
    assert lines == [f"{pinned[0]['metadata']['name']}\tamdenterpriseai/aim-base:0.8.5"]
    assert latest[0]["metadata"]["annotations"][IMAGE_REF] == "amdenterpriseai/aim-base:0.8"
    for copy in (*pinned, *latest):
        assert copy["spec"]["modelId"] == "qwen/qwen3-32b-fp8"
        assert copy["spec"]["modelSources"] == [
            {"modelId": "qwen/qwen3-32b-fp8", "sourceUri": "s3://my-bucket/weights/"}
        ]
    for example in examples:
        name = example["metadata"]["name"]
        model = await settled(api, f"{models}/{name}")
        assert model["status"]["sourceType"] == "Custom"
        assert model["spec"] == example["spec"]  # never patched
