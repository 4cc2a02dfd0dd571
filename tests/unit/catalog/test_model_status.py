from __future__ import annotations

import pytest

from aim_engine.api.v1alpha1 import AIMClusterRuntimeConfig, AIMRuntimeConfig, ImageMetadata
from aim_engine.api.v1alpha1.runtime_config import AIMRuntimeConfigSpec
from aim_engine.catalog import runtime_config
from aim_engine.catalog.model_status import (
    aggregate_templates,
    discovery_skipped,
    metadata_failed,
    metadata_found,
    verdict,
)
from aim_engine.catalog.templates import TemplatePlan

EXPECTING = TemplatePlan(templates=[], expects_templates=True, reason="CreatingTemplates", message="")
NOTHING = TemplatePlan(
    templates=[],
    expects_templates=False,
    reason="NoTemplatesExpected",
    message="The image recommends no deployments",
)
AWAITING = TemplatePlan(templates=[], expects_templates=True, reason="AwaitingMetadata", message="")


@pytest.mark.parametrize(
    ("statuses", "plan", "state", "reason"),
    [
        ([], NOTHING, "Ready", "NoTemplatesExpected"),
        ([], AWAITING, "Progressing", "AwaitingMetadata"),
        ([], EXPECTING, "Progressing", "CreatingTemplates"),
        (["Ready", "Ready"], EXPECTING, "Ready", "AllTemplatesReady"),
        (["Failed", "Degraded"], EXPECTING, "Failed", "AllTemplatesFailed"),
        (["NotAvailable"], EXPECTING, "NotAvailable", "NoTemplatesAvailable"),
        (["Ready", "Failed"], EXPECTING, "Degraded", "SomeTemplatesDegraded"),
        (["Ready", "Pending"], EXPECTING, "Progressing", "TemplatesProgressing"),
        (["Ready", "NotAvailable"], EXPECTING, "Ready", "SomeTemplatesReady"),
        (["Ready", None], EXPECTING, "Progressing", "TemplatesProgressing"),
    ],
)
def test_template_aggregation(
    statuses: list[str | None], plan: TemplatePlan, state: str, reason: str
) -> None:
    outcome = aggregate_templates(statuses, plan)
    assert (outcome.state, outcome.condition.reason) == (state, reason)
    assert outcome.condition.type == "ServiceTemplatesReady"
    assert (outcome.condition.status == "True") == (state == "Ready")


def test_a_model_none_of_whose_templates_can_run_says_why_with_the_templates_words() -> None:
    """The templates' messages name the cluster's GPUs and node counts; the model (and so the
    service, which quotes it) carries them instead of a generic line."""
    why = [
        "No node has MI355X; GPUs in the cluster: MI300X on 2 nodes",
        "No node can allocate 16 GPUs: 2 nodes with the GPU, the most on one node is 8",
        "No node has MI355X; GPUs in the cluster: MI300X on 2 nodes",
    ]
    outcome = aggregate_templates(["NotAvailable"] * 3, EXPECTING, unavailable=why)
    assert outcome.condition.message == (
        "None of the 3 template(s) can run: No node has MI355X; GPUs in the cluster: MI300X on 2 "
        "nodes; No node can allocate 16 GPUs: 2 nodes with the GPU, the most on one node is 8"
    )
    many = aggregate_templates(["NotAvailable"] * 5, EXPECTING, unavailable=[f"reason {i}" for i in range(5)])
    assert many.condition.message.endswith("reason 0; reason 1; reason 2; and 2 more")
    assert (
        "no node has the GPUs they need" in aggregate_templates(["NotAvailable"], EXPECTING).condition.message
    )


FOUND = runtime_config.resolve(None, None, None)
META = ImageMetadata.model_validate({"model": {"canonicalName": "a/b", "recommendedDeployments": []}})


def test_ready_when_everything_is() -> None:
    result = verdict(
        FOUND, metadata_found(META, "Inspected", "registry"), aggregate_templates(["Ready"], EXPECTING)
    )
    assert result.status == "Ready"
    assert result.ready.ok


def test_missing_labels_fail_the_model() -> None:
    outcome = metadata_found(ImageMetadata(), "Inspected x", "registry")
    assert (outcome.condition.status, outcome.condition.reason) == ("False", "ImageFound")
    result = verdict(FOUND, outcome, aggregate_templates([], NOTHING))
    assert result.status == "Failed"
    assert result.ready.reason == "MetadataLabelsMissing"


def test_transient_registry_failure_degrades() -> None:
    outcome = metadata_failed("registry r unreachable", "RegistryUnreachable", transient=True)
    result = verdict(FOUND, outcome, aggregate_templates([], AWAITING))
    assert result.status == "Degraded"
    assert result.ready.reason == "RegistryUnreachable"
    assert outcome.condition.reason == "MetadataExtractionFailed"


def test_permanent_registry_failure_fails() -> None:
    outcome = metadata_failed("not found", "ImageNotFound", transient=False)
    assert verdict(FOUND, outcome, aggregate_templates([], AWAITING)).status == "Failed"


def test_named_config_missing_is_fatal() -> None:
    missing = runtime_config.resolve("platform-default", None, None)
    assert missing.condition.reason == "ConfigNotFound"
    result = verdict(missing, discovery_skipped("off"), aggregate_templates([], NOTHING))
    assert (result.status, result.ready.reason) == ("Failed", "ConfigNotFound")
    assert "platform-default" in result.ready.message


def test_runtime_configs_of_one_name_merge_the_namespace_winning_field_by_field() -> None:
    """A namespace `default` hid the cluster `default` whole: its env, pull secrets and
    autoDiscovery vanished in every namespace that set its own."""
    ns = AIMRuntimeConfig.new("default", "team")
    ns.metadata.uid = "u1"
    ns.spec = AIMRuntimeConfigSpec.model_validate(
        {
            "env": [{"name": "HF_HUB_OFFLINE", "value": "1"}, {"name": "SHARED", "value": "team"}],
            "imagePullSecrets": [{"name": "team-cred"}],
            "storage": {"pvcHeadroomPercent": 20},
        }
    )
    cluster = AIMClusterRuntimeConfig.new("default")
    cluster.spec = AIMRuntimeConfigSpec.model_validate(
        {
            "env": [
                {"name": "VLLM_ENABLE_METRICS", "value": "true"},
                {"name": "SHARED", "value": "platform"},
            ],
            "imagePullSecrets": [{"name": "platform-cred"}, {"name": "team-cred"}],
            "serviceAccountName": "aim-runtime",
            "model": {"autoDiscovery": False},
            "storage": {"defaultStorageClassName": "fast", "pvcHeadroomPercent": 10},
        }
    )
    got = runtime_config.resolve(None, ns, cluster)
    assert got.reference is not None
    assert (got.reference.scope, got.reference.namespace, got.reference.uid) == ("Merged", "team", "u1")
    assert got.condition.reason == "ConfigFound"
    assert "AIMClusterRuntimeConfig 'default' merged with AIMRuntimeConfig 'default' of namespace team" in (
        got.condition.message
    )
    spec = got.spec
    assert spec is not None
    assert [(e.name, e.value) for e in spec.env or ()] == [
        ("VLLM_ENABLE_METRICS", "true"),
        ("SHARED", "team"),
        ("HF_HUB_OFFLINE", "1"),
    ]
    assert [r.name for r in spec.image_pull_secrets or ()] == ["platform-cred", "team-cred"]
    assert spec.service_account_name == "aim-runtime"
    assert spec.model is not None and spec.model.auto_discovery is False
    assert spec.storage is not None
    assert (spec.storage.default_storage_class_name, spec.storage.pvc_headroom_percent) == ("fast", 20)
    alone = runtime_config.resolve(None, ns, None)
    assert alone.reference is not None and alone.reference.scope == "Namespace" and alone.spec == ns.spec
    got = runtime_config.resolve("", None, cluster)
    assert got.reference is not None and got.reference.scope == "Cluster"
    got = runtime_config.resolve(None, None, None)
    assert (got.condition.status, got.condition.reason) == ("True", "DefaultConfigNotFound")


def test_waiting_for_metadata_says_why_when_discovery_failed() -> None:
    failed = metadata_failed("registry r unreachable", "RegistryUnavailable", transient=True)
    outcome = aggregate_templates([], AWAITING, failed)
    assert outcome.condition.reason == "AwaitingMetadata"
    assert "see ImageMetadataReady" in outcome.condition.message
