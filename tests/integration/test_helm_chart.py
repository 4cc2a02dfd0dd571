"""The Helm chart renders, carries exactly the generated CRDs and the RBAC rules the operator is
tested with, and everything it installs is accepted by the real API server."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from aim_engine.runtime.kube_api import KubeApi
from tests.support.api import admin_api
from tests.support.kube import KubeCluster

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "chart"


@pytest.fixture(scope="module")
def helm() -> str:
    built = subprocess.run(
        [str(REPO / "tests" / "k8sbin" / "build.sh"), "helm"], check=True, capture_output=True, text=True
    )
    return built.stdout.strip()


def render(helm: str, *values: str) -> list[dict[str, Any]]:
    args = [helm, "template", "aim-engine", str(CHART), "--namespace", "aim-system", "--include-crds"]
    for value in values:
        args += ["--set", value]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def test_chart_carries_the_generated_crds(helm: str) -> None:
    crds = {d["metadata"]["name"]: d for d in by_kind(render(helm), "CustomResourceDefinition")}
    expected = {}
    for path in (REPO / "deploy" / "crds").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        expected[doc["metadata"]["name"]] = doc
    assert crds == expected


def test_chart_rbac_is_the_tested_rules(helm: str) -> None:
    docs = render(helm)
    (cluster_role,) = by_kind(docs, "ClusterRole")
    (role,) = by_kind(docs, "Role")
    files = CHART / "files"
    assert cluster_role["rules"] == yaml.safe_load((files / "clusterrole-rules.yaml").read_text())
    assert role["rules"] == yaml.safe_load((files / "role-rules.yaml").read_text())
    assert role["metadata"]["namespace"] == "aim-system"
    (account,) = by_kind(docs, "ServiceAccount")
    for binding in by_kind(docs, "ClusterRoleBinding") + by_kind(docs, "RoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "aim-system"}
        ]


def test_chart_values_reach_the_operator_flags(helm: str) -> None:
    docs = render(
        helm,
        "insecureRegistries={mirror.local:5000}",
        "allowedRegistries={mirror.local:5000}",
        "caBundle.configMap=registry-ca",
    )
    (deployment,) = by_kind(docs, "Deployment")
    assert deployment["metadata"]["name"] == "aim-engine"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:2] == ["run", "--namespace=aim-system"]
    assert "--insecure-registry=mirror.local:5000" in container["args"]
    assert "--allowed-registry=mirror.local:5000" in container["args"]
    assert "--ca-bundle=/etc/aim-engine/ca/ca.crt" in container["args"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    volume = deployment["spec"]["template"]["spec"]["volumes"][0]
    assert volume["configMap"]["name"] == "registry-ca"


@pytest_asyncio.fixture(loop_scope="session")
async def api(kube: KubeCluster) -> AsyncIterator[KubeApi]:
    client = admin_api(kube)
    yield client
    await client.close()


async def test_every_chart_object_is_accepted_by_the_api_server(helm: str, api: KubeApi) -> None:
    docs = [d for d in render(helm) if d["kind"] != "CustomResourceDefinition"]
    paths = {
        "ServiceAccount": "/api/v1/namespaces/aim-system/serviceaccounts",
        "Service": "/api/v1/namespaces/aim-system/services",
        "Deployment": "/apis/apps/v1/namespaces/aim-system/deployments",
        "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/aim-system/roles",
        "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/aim-system/rolebindings",
    }
    assert {d["kind"] for d in docs} == set(paths)
    for doc in docs:
        created = json.loads(
            await api.request("POST", paths[doc["kind"]], params={"dryRun": "All"}, body=doc)
        )
        assert created["metadata"]["name"] == doc["metadata"]["name"]
