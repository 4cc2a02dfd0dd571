"""The model and template controllers run to a fixpoint on the in-memory store: no cluster and
no registry (models use spec.imageMetadata or are custom). The same code runs on the real API
server in tests/integration/test_model_catalog.py; these are the fast checks of its logic."""

from __future__ import annotations

import logging

import pytest

from aim_engine.api.v1alpha1 import AIMClusterModel
from aim_engine.runtime.store import STATUS_LOG
from tests.support.in_memory_catalog import METADATA, NODE, Catalog, condition, find, model, settle


async def test_spec_metadata_generates_owned_templates_and_gpu_status() -> None:
    store = await settle(
        [model("AIMClusterModel", "qwen", {"image": "r.example/q:1.2", "imageMetadata": METADATA}), NODE]
    )
    (qwen,) = find(store, "AIMClusterModel")
    assert qwen["status"]["status"] == "Ready"
    assert qwen["status"]["templateCount"] == 2
    assert condition(qwen, "ServiceTemplatesReady")["reason"] == "SomeTemplatesReady"
    assert qwen["status"]["imageMetadata"] == METADATA
    templates = {t["metadata"]["name"]: t for t in find(store, "AIMClusterServiceTemplate")}
    assert sorted(templates) == [n for n in sorted(templates) if n.startswith("qwen-")]
    statuses = sorted(t["status"]["status"] for t in templates.values())
    assert statuses == ["NotAvailable", "Ready"]
    for template in templates.values():
        assert template["metadata"]["ownerReferences"][0]["uid"] == qwen["metadata"]["uid"]
        assert template["status"]["version"] == "1.2"


async def test_named_runtime_config_missing_fails_and_default_missing_is_fine() -> None:
    store = await settle(
        [
            model(
                "AIMModel",
                "a",
                {"image": "r.example/a:1", "imageMetadata": METADATA, "runtimeConfigName": "x"},
                "ns",
            ),
            model("AIMModel", "b", {"image": "r.example/b:1", "discovery": {"extractMetadata": False}}, "ns"),
        ]
    )
    a, b = find(store, "AIMModel", "a")[0], find(store, "AIMModel", "b")[0]
    assert a["status"]["status"] == "Failed"
    assert condition(a, "Ready")["reason"] == "ConfigNotFound"
    assert b["status"]["status"] == "Ready"
    assert condition(b, "RuntimeConfigReady")["reason"] == "DefaultConfigNotFound"
    assert condition(b, "ImageMetadataReady")["reason"] == "DiscoveryDisabled"
    assert condition(b, "ServiceTemplatesReady")["reason"] == "NoTemplatesExpected"


async def test_custom_model_and_namespace_override_of_cluster_model() -> None:
    custom = {
        "modelSources": [{"modelId": "Qwen/Qwen3-32B", "sourceUri": "hf://Qwen/Qwen3-32B"}],
        "custom": {"hardware": {"gpu": {"requests": 1, "models": ["MI300X"]}}},
    }
    store = await settle(
        [
            model("AIMModel", "qwen", custom, "team"),
            model(
                "AIMClusterModel", "qwen", {"image": "r.example/c:1", "discovery": {"extractMetadata": False}}
            ),
            {
                "apiVersion": "aim.eai.amd.com/v1alpha1",
                "kind": "AIMServiceTemplate",
                "metadata": {"name": "mine", "namespace": "other"},
                "spec": {"modelName": "qwen"},
            },
            NODE,
        ]
    )
    (ns_model,) = find(store, "AIMModel")
    assert ns_model["status"]["sourceType"] == "Custom"
    assert ns_model["status"]["status"] == "Ready"
    generated = [t for t in find(store, "AIMServiceTemplate") if t["metadata"]["namespace"] == "team"]
    assert len(generated) == 1
    assert generated[0]["status"]["profile"]["metadata"]["type"] == "unoptimized"
    (mine,) = find(store, "AIMServiceTemplate", "mine")
    assert mine["status"]["resolvedModel"]["kind"] == "AIMClusterModel"


async def test_removed_deployment_prunes_its_template() -> None:
    catalog = Catalog(
        [model("AIMClusterModel", "qwen", {"image": "r.example/q:1", "imageMetadata": METADATA})]
    )
    try:
        store = await catalog.settle()
        assert len(find(store, "AIMClusterServiceTemplate")) == 2
        deployments = METADATA["model"]["recommendedDeployments"][:1]
        (qwen,) = find(store, "AIMClusterModel")
        spec = {
            **qwen["spec"],
            "imageMetadata": {"model": {**METADATA["model"], "recommendedDeployments": deployments}},
        }
        store.update(AIMClusterModel.model_validate({**qwen, "spec": spec}))
        await catalog.settle()
    finally:
        await catalog.inspector.aclose()
    (left,) = find(store, "AIMClusterServiceTemplate")
    assert left["spec"]["precision"] == "fp8"
    (qwen,) = find(store, "AIMClusterModel")
    assert qwen["status"]["templateCount"] == 1


def test_registry_failures_ask_the_manager_to_retry_on_their_schedule() -> None:
    from aim_engine.catalog import model_status as ms
    from aim_engine.catalog import templates as tp
    from aim_engine.controllers.model import RETRY_PERMANENT, RETRY_TRANSIENT, _next
    from aim_engine.controllers.model_plan import ModelPlan
    from aim_engine.runtime import Result

    nothing = tp.TemplatePlan(templates=[], expects_templates=True, reason="AwaitingMetadata", message="")
    plan = ModelPlan(
        templates=nothing,
        apply_templates=[],
        conflicts=[],
        prune_templates=[],
        profiles=[],
        apply_profiles=[],
        prune_profiles=[],
    )
    outage = ms.metadata_failed("down", "RegistryUnavailable", transient=True)
    assert _next(outage, plan) == Result.retry(RETRY_TRANSIENT)
    slow_down = ms.metadata_failed("429", "RegistryUnavailable", transient=True, retry_after=60.0)
    assert _next(slow_down, plan) == Result.retry(RETRY_TRANSIENT, at_least=60.0)
    assert _next(ms.discovery_skipped("off"), plan) is None
    user_error = ms.metadata_failed("no secret", "PullSecretNotFound", transient=False)
    assert _next(user_error, plan) == Result.retry(RETRY_PERMANENT)
    malformed = ms.metadata_failed("bad", "InvalidImageReference", transient=False)
    result = _next(malformed, plan)
    assert result is not None and result.terminal_reason and result.backoff is None


BASE_METADATA = {
    "model": {
        "canonicalName": "qwen/qwen3-32b",
        "recommendedDeployments": [
            {
                "gpuModel": "MI300X",
                "gpuCount": 1,
                "precision": "fp8",
                "metric": "latency",
                "modelId": "qwen/qwen3-32b-fp8",
            },
            {"gpuModel": "MI300X", "gpuCount": 1, "precision": "fp16", "metric": "latency"},
        ],
    },
    "baseImageRef": "docker.io/amdenterpriseai/aim-base:0.8",
}
FINE_TUNED = {
    "aimId": "qwen/qwen3-32b",
    "modelSources": [{"modelId": "qwen/qwen3-32b-fp8", "sourceUri": "s3://my-bucket/weights/"}],
}


async def test_fine_tuned_model_copies_matching_templates_and_follows_them() -> None:
    catalog = Catalog(
        [
            model(
                "AIMClusterModel",
                "base",
                {"image": "ghcr.io/silogen/qwen3:0.8.5", "imageMetadata": BASE_METADATA},
            ),
            model("AIMModel", "ft", {**FINE_TUNED, "custom": {"versionPolicy": "latest"}}, "team"),
            NODE,
        ]
    )
    try:
        store = await catalog.settle()
        (copy,) = find(store, "AIMServiceTemplate")
        assert copy["metadata"]["namespace"] == "team"
        assert copy["metadata"]["labels"] == {
            "aim.eai.amd.com/model": "ft",
            "aim.eai.amd.com/origin": "fine-tuned",
        }
        assert (
            copy["metadata"]["annotations"]["aim.eai.amd.com/deployment-image-ref"]
            == "ghcr.io/silogen/aim-base:0.8"
        )
        assert copy["metadata"]["ownerReferences"][0]["name"] == "ft"
        assert copy["spec"]["modelSources"] == FINE_TUNED["modelSources"]
        assert copy["status"]["status"] == "Ready"
        assert copy["status"]["version"] == "0.8.5"
        (ft,) = find(store, "AIMModel", "ft")
        assert ft["status"]["status"] == "Ready"
        assert ft["status"]["sourceType"] == "Custom"
        assert "image" not in ft["spec"]  # never patched
        assert "imageMetadata" not in ft["status"]  # never inspected
        assert (
            "1 official template(s) matched aimId 'qwen/qwen3-32b'"
            in condition(ft, "ServiceTemplatesReady")["message"]
        )

        # A newer official version appears: `latest` moves to it.
        newer = {**BASE_METADATA, "baseImageRef": "docker.io/amdenterpriseai/aim-base:0.10"}
        store.load(
            [
                model(
                    "AIMClusterModel",
                    "base-new",
                    {"image": "ghcr.io/silogen/qwen3:0.10.0", "imageMetadata": newer},
                )
            ]
        )
        await catalog.settle(requeue_all=False)
        (copy,) = find(store, "AIMServiceTemplate")
        assert (
            copy["metadata"]["annotations"]["aim.eai.amd.com/deployment-image-ref"]
            == "ghcr.io/silogen/aim-base:0.10"
        )
        assert copy["status"]["version"] == "0.10.0"

        # The source goes: so does the copy, and the model says what it looked for.
        await store.delete(AIMClusterModel, "base-new")
        await store.delete(AIMClusterModel, "base")
        await catalog.settle(requeue_all=False)
        assert find(store, "AIMServiceTemplate") == []
        (ft,) = find(store, "AIMModel", "ft")
        assert ft["status"]["status"] == "NotAvailable"
        cond = condition(ft, "ServiceTemplatesReady")
        assert cond["reason"] == "NoMatchingTemplates"
        assert "modelId one of [qwen/qwen3-32b-fp8]" in cond["message"]
    finally:
        await catalog.inspector.aclose()


async def test_removed_image_metadata_is_not_kept_as_if_inspected() -> None:
    """Defect: metadata the user gave in spec.imageMetadata stayed in status.imageMetadata after
    the user removed it, where it was then treated as an inspection."""
    catalog = Catalog([model("AIMClusterModel", "q", {"image": "r.example/q:1", "imageMetadata": METADATA})])
    try:
        store = await catalog.settle()
        (q,) = find(store, "AIMClusterModel")
        assert q["status"]["imageMetadata"] == METADATA
        assert "inspectedImage" not in q["status"]
        spec = {"image": "r.example/q:1", "discovery": {"extractMetadata": False}}
        store.update(AIMClusterModel.model_validate({**q, "spec": spec}))
        await catalog.settle()
        (q,) = find(store, "AIMClusterModel")
        assert "imageMetadata" not in q["status"]
    finally:
        await catalog.inspector.aclose()


async def test_prune_spares_lookalikes_and_templates_services_use_until_released() -> None:
    """Defects: a clone an administrator made with the operator's labels and owner reference was
    pruned; a template kept for a service was never pruned after the service let go."""
    catalog = Catalog([model("AIMClusterModel", "q", {"image": "r.example/q:1", "imageMetadata": METADATA})])
    try:
        store = await catalog.settle()
        templates = find(store, "AIMClusterServiceTemplate")
        kept, other = sorted(t["metadata"]["name"] for t in templates)
        original = next(t for t in templates if t["metadata"]["name"] == other)
        clone = {
            "apiVersion": original["apiVersion"],
            "kind": original["kind"],
            "metadata": {
                "name": f"{other}-mi325x-clone",
                "labels": original["metadata"]["labels"],
                "ownerReferences": original["metadata"]["ownerReferences"],
            },
            "spec": {**original["spec"], "hardware": {"gpu": {"requests": 1, "model": "MI325X"}}},
        }
        service = {
            "apiVersion": "aim.eai.amd.com/v1alpha1",
            "kind": "AIMService",
            "metadata": {"name": "svc", "namespace": "team"},
            "spec": {"model": {"name": "q"}, "template": {"name": kept}},
        }
        store.load([clone, service])
        await catalog.settle(requeue_all=False)
        (q,) = find(store, "AIMClusterModel")
        store.update(
            AIMClusterModel.model_validate(
                {
                    **q,
                    "spec": {"image": "r.example/q:1", "imageMetadata": {"model": {"canonicalName": "a/b"}}},
                }
            )
        )
        await catalog.settle(requeue_all=False)
        names = sorted(t["metadata"]["name"] for t in find(store, "AIMClusterServiceTemplate"))
        assert names == sorted([kept, f"{other}-mi325x-clone"])  # in use, and not ours: kept
        from aim_engine.api.v1alpha1 import AIMService

        await store.delete(AIMService, "svc", "team")
        await catalog.settle(requeue_all=False)
        names = sorted(t["metadata"]["name"] for t in find(store, "AIMClusterServiceTemplate"))
        assert names == [f"{other}-mi325x-clone"]
    finally:
        await catalog.inspector.aclose()


async def test_a_registry_failure_is_logged_once_with_the_object_reason_and_fix(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The document's troubleshooting says to look in the operator's logs: every failure that
    becomes a Warning event is a warning line too, once per change of state."""
    secretive = model(
        "AIMModel", "private", {"image": "127.0.0.1:1/x:1", "imagePullSecrets": [{"name": "gone"}]}, "ml"
    )
    catalog = Catalog([secretive])
    try:
        with caplog.at_level(logging.WARNING, logger=STATUS_LOG):
            await catalog.settle()
            await catalog.settle()  # reconciled again: same state, no second line
    finally:
        await catalog.inspector.aclose()
    lines = [r.getMessage() for r in caplog.records if r.name == STATUS_LOG]
    assert len(lines) == 1, lines
    assert lines[0].startswith("AIMModel ml/private: PullSecretNotFound: Image pull secret 'gone'")
    assert "create it there" in lines[0]
