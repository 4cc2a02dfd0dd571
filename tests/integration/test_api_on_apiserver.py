"""The generated CRDs on a real kube-apiserver: every document example is stored exactly as
written, and invalid objects are rejected with a message naming the offending field."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from lightkube import AsyncClient

from aim_engine.api import kind_class
from aim_engine.api.crds import CRDS
from aim_engine.runtime.errors import ApiError
from aim_engine.runtime.kube_api import KubeApi
from tests.support.kube import KubeCluster

pytestmark = pytest.mark.integration

DATA = Path(__file__).parent.parent / "data"


@pytest_asyncio.fixture(loop_scope="session")
async def api(kube_client: AsyncClient) -> AsyncIterator[KubeApi]:
    api = KubeApi.from_lightkube(kube_client)
    yield api
    await api.close()


def collection_path(doc: dict[str, Any], namespace: str) -> str:
    api_version = doc["apiVersion"]
    if api_version == "v1":
        return f"/api/v1/namespaces/{namespace}/{doc['kind'].lower()}s"
    cls = kind_class(api_version, doc["kind"])
    assert cls is not None, doc["kind"]
    scope = f"/namespaces/{namespace}" if cls.NAMESPACED else ""
    return f"/apis/{api_version}{scope}/{cls.PLURAL}"


async def create(api: KubeApi, doc: dict[str, Any], namespace: str) -> dict[str, Any]:
    body = json.loads(json.dumps(doc))
    if "namespace" in body["metadata"]:
        body["metadata"]["namespace"] = namespace
    cls = kind_class(body["apiVersion"], body["kind"])
    cluster_scoped = cls is not None and not cls.NAMESPACED
    if cluster_scoped:
        body["metadata"]["name"] = f"{namespace}-{body['metadata']['name']}"[:63]
    created: dict[str, Any] = json.loads(
        await api.request("POST", collection_path(body, namespace), body=body)
    )
    if cluster_scoped:
        path = f"{collection_path(body, namespace)}/{body['metadata']['name']}"
        await api.request("DELETE", path)
    return created


def seed_documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DATA / "seed_examples.yaml").read_text()) if d]


async def test_every_document_example_is_stored_as_written(api: KubeApi, namespace: str) -> None:
    stored = 0
    for doc in seed_documents():
        created = await create(api, doc, namespace)
        if doc["kind"] == "Secret":
            continue
        assert created["spec"] == doc["spec"], (
            f"{doc['kind']}/{doc['metadata']['name']} changed on the server"
        )
        stored += 1
    assert stored == 20


async def test_unknown_fields_are_pruned_not_kept(api: KubeApi, namespace: str) -> None:
    doc = {
        "apiVersion": "aim.eai.amd.com/v1alpha1",
        "kind": "AIMModel",
        "metadata": {"name": "typo", "namespace": namespace},
        "spec": {"image": "a/b:1", "imagePullSecret": [{"name": "x"}]},
    }
    created = await create(api, doc, namespace)
    assert created["spec"] == {"image": "a/b:1"}


INVALID = yaml.safe_load((DATA / "invalid_objects.yaml").read_text())


@pytest.mark.parametrize("case", INVALID, ids=[c["why"] for c in INVALID])
async def test_invalid_object_is_rejected_naming_the_field(
    api: KubeApi, namespace: str, case: dict[str, Any]
) -> None:
    doc = dict(case["object"])
    doc["metadata"] = {**doc["metadata"], "namespace": namespace}
    with pytest.raises(ApiError) as caught:
        await create(api, doc, namespace)
    assert caught.value.code == 422
    assert case["expect"] in str(caught.value)


def test_there_are_at_least_forty_invalid_cases_across_every_kind() -> None:
    assert len(INVALID) >= 40
    kinds = {(c["object"]["apiVersion"].split("/")[0], c["object"]["kind"]) for c in INVALID}
    assert {kind for _, kind in kinds} == {crd.kind for crd in CRDS}


async def test_every_kind_is_in_the_aim_category(api: KubeApi) -> None:
    found: dict[str, set[str]] = {}
    for version in ("v1alpha1", "v1alpha2"):
        listing = json.loads(await api.request("GET", f"/apis/aim.eai.amd.com/{version}"))
        for resource in listing["resources"]:
            if "/" not in resource["name"]:
                found.setdefault(resource["kind"], set()).update(resource.get("categories", []))
    assert {spec.kind for spec in CRDS} == set(found)
    assert all("aim" in categories for categories in found.values())


async def test_status_is_a_subresource(api: KubeApi, namespace: str) -> None:
    doc = {
        "apiVersion": "aim.eai.amd.com/v1alpha1",
        "kind": "AIMModel",
        "metadata": {"name": "with-status", "namespace": namespace},
        "spec": {"image": "a/b:1"},
        "status": {"status": "Ready"},
    }
    created = await create(api, doc, namespace)
    # The status sent is dropped; what shows is the CRD's default, the document's initial
    # state, which no controller wrote.
    assert created["status"] == {"status": "Pending"}


async def test_a_new_model_and_service_show_pending_before_anything_writes(
    api: KubeApi, namespace: str, kube: KubeCluster
) -> None:
    """The document's initial state, shown without a write (the STATUS column was empty)."""
    mark = kube.audit.mark()
    paused = {"aim.eai.amd.com/reconciliation-paused": "true"}  # no operator may act on them
    model = {
        "apiVersion": "aim.eai.amd.com/v1alpha1",
        "kind": "AIMModel",
        "metadata": {"name": "new-model", "namespace": namespace, "annotations": paused},
        "spec": {"image": "a/b:1"},
    }
    service = {
        "apiVersion": "aim.eai.amd.com/v1alpha1",
        "kind": "AIMService",
        "metadata": {"name": "new-service", "namespace": namespace, "annotations": paused},
        "spec": {"model": {"name": "new-model"}},
    }
    for doc in (model, service):
        created = await create(api, doc, namespace)
        assert created["status"] == {"status": "Pending"}
    table = json.loads(
        await api.request(
            "GET",
            f"/apis/aim.eai.amd.com/v1alpha1/namespaces/{namespace}/aimmodels/new-model",
            accept="application/json;as=Table;v=v1;g=meta.k8s.io",
        )
    )
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert table["rows"][0]["cells"][columns.index("Status")] == "Pending"
    # Two creates, and nothing else: the default is shown, never written.
    writes = [
        w for w in kube.audit.writes(namespace=namespace, since=mark) if not w.user.startswith("system:")
    ]
    assert sorted((w.verb, w.resource) for w in writes) == [
        ("create", "aimmodels"),
        ("create", "aimservices"),
    ]
