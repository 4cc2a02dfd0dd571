"""The service controller with the model and template controllers, to a fixpoint on the
in-memory store (no cluster, no registry: models carry spec.imageMetadata or are custom). The
real-server versions are in tests/integration/test_services.py; these are the fast checks."""

from __future__ import annotations

from typing import Any

from aim_engine.api.core import Secret
from aim_engine.api.kserve import InferenceService
from aim_engine.api.v1alpha1 import AIMClusterModel, AIMService
from aim_engine.runtime.memory_store import MemoryStore
from tests.support.in_memory_catalog import METADATA, NODE, Catalog, condition, find, model

IMAGE = "amdenterpriseai/aim-qwen-qwen3-32b:0.8.5"


def aim_service(name: str, spec: dict[str, Any], namespace: str = "ml") -> dict[str, Any]:
    return {
        "apiVersion": "aim.eai.amd.com/v1alpha1",
        "kind": "AIMService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def one(store: MemoryStore, kind: str, name: str) -> dict[str, Any]:
    found = find(store, kind, name)
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


async def test_a_service_deploys_the_best_template_and_a_resync_writes_nothing() -> None:
    catalog = Catalog(
        [
            NODE,
            model("AIMClusterModel", "qwen", {"image": IMAGE, "imageMetadata": METADATA}),
            aim_service("chat", {"model": {"name": "qwen"}}),
        ]
    )
    store = await catalog.settle()
    service = one(store, "AIMService", "chat")
    assert service["status"]["status"] == "Starting"
    assert condition(service, "TemplateReady")["reason"] == "Resolved"
    # MI325X is not in the cluster: the MI300X template is the only eligible one.
    assert service["status"]["resolvedTemplate"]["name"].startswith("qwen-1x-mi300x")
    deployed = one(store, "InferenceService", "chat")
    assert deployed["metadata"]["ownerReferences"][0]["uid"] == service["metadata"]["uid"]
    writes = sum(store.writes.values())
    await catalog.settle()  # every object reconciled again: nothing changed, nothing written
    assert sum(store.writes.values()) == writes


async def test_kserve_ready_makes_the_service_running_with_one_event() -> None:
    catalog = Catalog(
        [
            NODE,
            model("AIMClusterModel", "qwen", {"image": IMAGE, "imageMetadata": METADATA}),
            aim_service("chat", {"model": {"name": "qwen"}}),
        ]
    )
    store = await catalog.settle()
    deployed = one(store, "InferenceService", "chat")
    deployed["status"] = {
        "url": "http://chat.ml.example",
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    # No KServe here: write the InferenceService's status as its controller would.
    await store.apply_status(InferenceService.model_validate(deployed))
    store = await catalog.settle(requeue_all=False)
    service = one(store, "AIMService", "chat")
    assert service["status"]["status"] == "Running"
    assert condition(service, "InferenceServiceReady")["reason"] == "RuntimeReady"
    running = [e for e in store.events if e["reason"] == "Running"]
    assert len(running) == 1 and running[0]["involvedObject"]["name"] == "chat"


async def test_image_and_custom_services_create_shared_models_that_outlive_them() -> None:
    custom = {
        "modelSources": [{"modelId": "Qwen/Qwen3-32B", "sourceUri": "hf://Qwen/Qwen3-32B"}],
        "hardware": {"gpu": {"requests": 1, "models": ["MI300X"]}},
    }
    catalog = Catalog(
        [
            NODE,
            aim_service("a", {"model": {"custom": custom}, "template": {"allowUnoptimized": True}}),
            aim_service("b", {"model": {"custom": custom}, "template": {"allowUnoptimized": True}}),
            aim_service("gated", {"model": {"custom": custom}}),
        ]
    )
    store = await catalog.settle()
    models = find(store, "AIMModel")
    assert len(models) == 1
    shared = models[0]
    assert shared["metadata"]["labels"]["aim.eai.amd.com/custom-model"] == "true"
    assert "ownerReferences" not in shared["metadata"]
    for name in ("a", "b"):
        assert one(store, "AIMService", name)["status"]["resolvedModel"]["name"] == shared["metadata"]["name"]
        assert one(store, "AIMService", name)["status"]["status"] == "Starting"
    gated = one(store, "AIMService", "gated")
    assert gated["status"]["status"] == "Failed"
    assert "UnoptimizedTemplateFiltered" in condition(gated, "TemplateReady")["message"]
    assert "allowUnoptimized: true" in condition(gated, "TemplateReady")["message"]
    await store.delete(AIMService, "a", "ml")
    await store.delete(AIMService, "b", "ml")
    store = await catalog.settle(requeue_all=False)
    assert [m["metadata"]["name"] for m in find(store, "AIMModel")] == [shared["metadata"]["name"]]
    assert find(store, "InferenceService") == []  # owned by the services, collected with them


async def test_without_kserve_services_resolve_and_say_kserve_is_missing() -> None:
    from aim_engine.controllers import ControllerSettings

    catalog = Catalog(
        [
            NODE,
            model("AIMClusterModel", "qwen", {"image": IMAGE, "imageMetadata": METADATA}),
            aim_service("chat", {"model": {"name": "qwen"}}),
        ],
        settings=ControllerSettings(kserve=False),
    )
    store = await catalog.settle()
    service = one(store, "AIMService", "chat")
    assert service["status"]["status"] == "Failed"
    assert condition(service, "TemplateReady")["status"] == "True"
    ready = condition(service, "InferenceServiceReady")
    assert ready["reason"] == "KServeNotInstalled" and "install KServe" in ready["message"]
    assert find(store, "InferenceService") == []


async def test_missing_config_invalid_image_and_a_foreign_inference_service() -> None:
    foreign = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "taken", "namespace": "ml"},
        "spec": {"predictor": {"minReplicas": 1}},
    }
    catalog = Catalog(
        [
            NODE,
            model("AIMClusterModel", "qwen", {"image": IMAGE, "imageMetadata": METADATA}),
            aim_service("no-config", {"model": {"name": "qwen"}, "runtimeConfigName": "gpu-pool"}),
            aim_service("bad-image", {"model": {"image": "Not A Reference"}}),
            aim_service("taken", {"model": {"name": "qwen"}}),
        ]
    )
    catalog.store.watch(InferenceService)
    catalog.store.load([foreign])
    store = await catalog.settle()
    no_config = one(store, "AIMService", "no-config")
    assert no_config["status"]["status"] == "Failed"
    assert condition(no_config, "RuntimeConfigReady")["reason"] == "ConfigNotFound"
    assert condition(no_config, "ModelReady")["status"] == "Unknown"
    bad = one(store, "AIMService", "bad-image")
    assert (bad["status"]["status"], condition(bad, "ModelReady")["reason"]) == (
        "Failed",
        "InvalidImageReference",
    )
    assert find(store, "AIMModel") == []  # nothing is created for an image that cannot exist
    taken = one(store, "AIMService", "taken")
    assert condition(taken, "InferenceServiceReady")["reason"] == "InferenceServiceConflict"
    assert one(store, "InferenceService", "taken")["spec"] == foreign["spec"]  # never touched


async def test_watches_requeue_only_the_services_concerned() -> None:
    from aim_engine.api.v1alpha1 import AIMClusterModel, AIMModel, AIMServiceTemplate
    from aim_engine.controllers.service import ServiceReconciler

    catalog = Catalog(
        [
            model("AIMModel", "qwen", {"image": IMAGE, "imageMetadata": METADATA}, namespace="ml"),
            model("AIMClusterModel", "llama", {"image": "llama:1", "imageMetadata": METADATA}),
            aim_service("by-name", {"model": {"name": "qwen"}}),
            aim_service("by-image", {"model": {"image": IMAGE}}),
            aim_service("elsewhere", {"model": {"name": "qwen"}}, namespace="other"),
            aim_service("cluster", {"model": {"name": "llama"}}, namespace="other"),
            aim_service("named", {"model": {"name": "llama"}, "template": {"name": "pinned"}}),
        ]
    )
    await catalog.settle()
    reconciler = next(r for r in catalog.manager.reconcilers.values() if isinstance(r, ServiceReconciler))
    store = catalog.store
    qwen = store.get(AIMModel, "qwen", "ml")
    llama = store.get(AIMClusterModel, "llama")
    assert qwen is not None and llama is not None
    keys = {str(k) for k in reconciler._services_of_model(qwen)}
    assert keys == {"ml/by-name", "ml/by-image"}
    assert {str(k) for k in reconciler._services_of_model(llama)} == {"other/cluster", "ml/named"}
    template = AIMServiceTemplate.model_validate(
        {
            "apiVersion": "aim.eai.amd.com/v1alpha1",
            "kind": "AIMServiceTemplate",
            "metadata": {"name": "pinned", "namespace": "ml"},
            "spec": {"modelName": "unrelated"},
        }
    )
    assert {str(k) for k in reconciler._services_of_template(template)} == {"ml/named"}


async def test_a_service_on_a_namespace_template_does_not_keep_the_cluster_template_of_that_name() -> None:
    """A namespace model shadows the cluster model of its name, and their templates for the same
    deployment have the same name. The service uses the namespaced one; when the cluster model
    stops planning its own, nothing keeps it (the index held bare names and kept it)."""
    catalog = Catalog(
        [
            NODE,
            model("AIMClusterModel", "qwen", {"image": IMAGE, "imageMetadata": METADATA}),
            model("AIMModel", "qwen", {"image": IMAGE, "imageMetadata": METADATA}, "ml"),
            aim_service("chat", {"model": {"name": "qwen"}}),
        ]
    )
    store = await catalog.settle()
    resolved = one(store, "AIMService", "chat")["status"]["resolvedTemplate"]
    assert (resolved["kind"], resolved["namespace"]) == ("AIMServiceTemplate", "ml")
    name = resolved["name"]
    assert one(store, "AIMClusterServiceTemplate", name)  # the cluster model made one of that name too
    cluster = one(store, "AIMClusterModel", "qwen")
    throughput = {"gpuModel": "MI325X", "gpuCount": 2, "precision": "fp16", "metric": "throughput"}
    other = {"model": {"canonicalName": "Qwen/Qwen3-32B", "recommendedDeployments": [throughput]}}
    store.update(
        AIMClusterModel.model_validate({**cluster, "spec": {"image": IMAGE, "imageMetadata": other}})
    )
    await catalog.settle(requeue_all=False)
    assert find(store, "AIMClusterServiceTemplate", name) == []  # pruned: no service uses it
    assert one(store, "AIMServiceTemplate", name)  # the one the service runs stays


async def test_a_cluster_models_pull_secret_reaches_the_pod_and_a_missing_one_is_named() -> None:
    """Discovery reads a cluster model's pull secret in the operator namespace; the pod reads its
    own namespace. The predictor is given it, the service says it is missing there (nothing is
    copied across), and says so no more once it is created."""
    private = {"image": IMAGE, "imageMetadata": METADATA, "imagePullSecrets": [{"name": "regcred"}]}
    catalog = Catalog(
        [
            NODE,
            model("AIMClusterModel", "qwen", private),
            aim_service("chat", {"model": {"name": "qwen"}, "imagePullSecrets": [{"name": "mine"}]}),
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mine", "namespace": "ml"}},
        ]
    )
    store = await catalog.settle()
    deployed = one(store, "InferenceService", "chat")
    assert deployed["spec"]["predictor"]["imagePullSecrets"] == [{"name": "mine"}, {"name": "regcred"}]
    missing = condition(one(store, "AIMService", "chat"), "PullSecretsReady")
    assert (missing["status"], missing["reason"]) == ("False", "PullSecretNotFound")
    assert "'regcred' (from spec.imagePullSecrets of AIMClusterModel qwen)" in missing["message"]
    assert "create 'regcred' in 'ml'" in missing["message"] and "'mine'" not in missing["message"]
    store.create(Secret.model_validate({"metadata": {"name": "regcred", "namespace": "ml"}}))
    await catalog.settle(requeue_all=False)
    found = condition(one(store, "AIMService", "chat"), "PullSecretsReady")
    assert (found["status"], found["message"]) == ("True", "Image pull secrets in ml: mine, regcred")
