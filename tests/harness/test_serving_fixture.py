"""The serving cluster's setup from KServe's own files (tests/support/serving.py)."""

from __future__ import annotations

import json

from tests.support.kube import built
from tests.support.serving import KSERVE_NAMESPACE, kserve_config_map, webhook_configurations


def test_kserve_runs_raw_deployments_without_an_ingress() -> None:
    config = kserve_config_map(built("kserve") / "inferenceservice-config.yaml")
    assert config["metadata"] == {"name": "inferenceservice-config", "namespace": KSERVE_NAMESPACE}
    assert json.loads(config["data"]["deploy"])["defaultDeploymentMode"] == "RawDeployment"
    ingress = json.loads(config["data"]["ingress"])
    assert ingress["disableIngressCreation"] is True and ingress["disableIstioVirtualHost"] is True
    assert "_example" not in config["data"]


def test_every_webhook_points_at_the_manager_on_loopback() -> None:
    docs = webhook_configurations(built("kserve") / "webhooks.yaml", port=9443, ca_pem=b"CA")
    hooks = [hook for doc in docs for hook in doc["webhooks"]]
    paths = {hook["clientConfig"]["url"].removeprefix("https://127.0.0.1:9443") for hook in hooks}
    assert {"/mutate-pods", "/mutate-serving-kserve-io-v1beta1-inferenceservice"} <= paths
    for hook in hooks:
        assert hook["clientConfig"]["url"].startswith("https://127.0.0.1:9443/")
        assert hook["clientConfig"]["caBundle"] == "Q0E="  # base64 of the CA given
    assert all(doc["metadata"] == {"name": doc["metadata"]["name"]} for doc in docs)
