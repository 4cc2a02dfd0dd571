"""The test suite's Kubernetes control plane is the real thing: schema validation, pruning, status
subresource, optimistic concurrency, garbage collection, RBAC, audit, KServe's CRD."""

from __future__ import annotations

import asyncio
import copy
import os
import time
from typing import Any, cast

import httpx2
import pytest
from lightkube import ApiError, AsyncClient
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.authorization_v1 import ResourceAttributes, SelfSubjectAccessReviewSpec
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.authorization_v1 import SelfSubjectAccessReview
from lightkube.resources.core_v1 import ConfigMap, Namespace, Node
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding
from lightkube.types import PatchType

from tests.support.kube import KubeCluster
from tests.support.kube_plugin import GpuNodes

pytestmark = pytest.mark.integration

GROUP = "realcheck.aim-engine.test"
WIDGET_CRD_NAME = f"widgets.{GROUP}"
Widget = create_namespaced_resource(GROUP, "v1", "Widget", "widgets")
InferenceService = create_namespaced_resource(
    "serving.kserve.io", "v1beta1", "InferenceService", "inferenceservices"
)

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": WIDGET_CRD_NAME},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "required": ["spec"],
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "integer", "minimum": 1},
                                    "mode": {"type": "string", "enum": ["fast", "safe"]},
                                    "min": {"type": "integer"},
                                    "max": {"type": "integer"},
                                },
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "!has(self.min) || !has(self.max) || self.min <= self.max",
                                        "message": "min must not exceed max",
                                    }
                                ],
                            },
                            "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
                        },
                    }
                },
            }
        ],
    },
}


async def _served(client: AsyncClient, res: Any, namespace: str) -> None:
    """Wait until ``res`` can be listed (Established, and its storage initialised)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            async for _ in client.list(res, namespace=namespace):
                break
            return
        except ApiError as exc:
            if exc.status.code not in (404, 429, 503) or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)


@pytest.fixture
async def widgets(kube_client: AsyncClient, namespace: str) -> str:
    """The test-only Widget CRD (applied idempotently, shared by all workers); returns the namespace."""
    crd = cast(CustomResourceDefinition, CustomResourceDefinition.from_dict(WIDGET_CRD))
    await kube_client.apply(crd, force=True)
    await kube_client.wait(CustomResourceDefinition, WIDGET_CRD_NAME, for_conditions=["Established"])
    await _served(kube_client, Widget, namespace)
    return namespace


def _widget(namespace: str, name: str, spec: dict[str, Any], **extra: Any) -> Any:
    return Widget(metadata=ObjectMeta(name=name, namespace=namespace), spec=spec, **extra)


async def _rejected(client: AsyncClient, obj: Any) -> str:
    with pytest.raises(ApiError) as err:
        await client.create(obj)
    assert err.value.status.code == 422, err.value.status
    return str(err.value.status.message)


async def test_cluster_wiring(
    kube: KubeCluster, kube_client: AsyncClient, request: pytest.FixtureRequest
) -> None:
    assert kube.server.startswith("https://127.0.0.1:")
    # TLS verified against the suite's own CA; anonymous requests are refused by RBAC.
    async with httpx2.AsyncClient(verify=kube.info.ssl_context(), trust_env=False) as http:
        r = await http.get(f"{kube.server}/version", headers={"Authorization": f"Bearer {kube.admin_token}"})
        assert r.json()["gitVersion"] == "v1.34.2"
        assert (await http.get(f"{kube.server}/api/v1/namespaces")).status_code in (401, 403)
    assert kube.kubeconfig_path.is_file()
    assert kube.operator_kubeconfig_path.is_file()
    assert (await kube_client.get(Namespace, kube.operator_namespace)).metadata is not None
    assert "inferenceservices.serving.kserve.io" in kube.crds
    workerinput = getattr(request.config, "workerinput", {})
    if workerinput.get("aim_kube"):
        # Started once by the xdist controller and handed to this worker, not started here.
        assert kube.info.owner_pid == os.getppid() != os.getpid()


async def test_invalid_custom_resource_is_rejected_by_schema(kube_client: AsyncClient, widgets: str) -> None:
    ns = widgets
    msg = await _rejected(kube_client, _widget(ns, "no-size", {"mode": "fast"}))
    assert "spec.size" in msg and "Required" in msg
    msg = await _rejected(kube_client, _widget(ns, "too-small", {"size": 0}))
    assert "spec.size" in msg
    msg = await _rejected(kube_client, _widget(ns, "bad-enum", {"size": 1, "mode": "turbo"}))
    assert "spec.mode" in msg and "Unsupported value" in msg
    msg = await _rejected(kube_client, _widget(ns, "bad-cel", {"size": 1, "min": 5, "max": 1}))
    assert "min must not exceed max" in msg
    msg = await _rejected(kube_client, _widget(ns, "wrong-type", {"size": "big"}))
    assert "spec.size" in msg
    ok = await kube_client.create(_widget(ns, "fine", {"size": 2, "mode": "safe", "min": 1, "max": 3}))
    assert ok["spec"] == {"size": 2, "mode": "safe", "min": 1, "max": 3}


async def test_unknown_fields_are_pruned_and_status_needs_the_subresource(
    kube_client: AsyncClient, widgets: str
) -> None:
    ns = widgets
    created = await kube_client.create(
        _widget(ns, "w", {"size": 1, "bogus": "dropped"}, status={"phase": "Injected"})
    )
    assert created["spec"] == {"size": 1}  # unknown spec field pruned
    assert not created.get("status")  # status is not taken on create

    # A status change through the main resource is ignored...
    patched = await kube_client.patch(
        Widget, "w", {"status": {"phase": "Hacked"}}, namespace=ns, patch_type=PatchType.MERGE
    )
    assert not patched.get("status")
    # ...through the status subresource it is taken, and unknown status fields are pruned.
    status = await kube_client.patch(
        Widget.Status,
        "w",
        {"status": {"phase": "Ready", "bogus": 1}},
        namespace=ns,
        patch_type=PatchType.MERGE,
    )
    assert status["status"] == {"phase": "Ready"}
    # Spec writes through the main resource leave status alone, status attempts there are ignored.
    again = await kube_client.patch(
        Widget,
        "w",
        {"spec": {"size": 3}, "status": {"phase": "Hacked"}},
        namespace=ns,
        patch_type=PatchType.MERGE,
    )
    assert again["spec"]["size"] == 3
    assert again["status"] == {"phase": "Ready"}
    # And the status subresource ignores spec changes.
    status = await kube_client.patch(
        Widget.Status, "w", {"spec": {"size": 9}}, namespace=ns, patch_type=PatchType.MERGE
    )
    assert status["spec"]["size"] == 3


async def test_stale_resource_version_gets_409(kube_client: AsyncClient, widgets: str) -> None:
    ns = widgets
    await kube_client.create(_widget(ns, "cas", {"size": 1}))
    first = await kube_client.get(Widget, "cas", namespace=ns)
    stale = Widget.from_dict(copy.deepcopy(dict(first)))
    first["spec"]["size"] = 2
    second = await kube_client.replace(first)
    assert second.metadata is not None and first.metadata is not None
    assert second.metadata.resourceVersion != first.metadata.resourceVersion
    stale["spec"]["size"] = 5
    with pytest.raises(ApiError) as err:
        await kube_client.replace(stale)
    assert err.value.status.code == 409
    assert (await kube_client.get(Widget, "cas", namespace=ns))["spec"]["size"] == 2


async def _gone(client: AsyncClient, res: Any, name: str, namespace: str) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        try:
            await client.get(res, name, namespace=namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                return time.monotonic() - t0
            raise
        await asyncio.sleep(0.01)
    raise AssertionError(f"{name} still exists 60 s after its owner was deleted")


async def _wait_allowed(client: AsyncClient, verb: str, resource: str, namespace: str) -> None:
    review = SelfSubjectAccessReview(
        spec=SelfSubjectAccessReviewSpec(
            resourceAttributes=ResourceAttributes(verb=verb, resource=resource, namespace=namespace)
        )
    )
    for _ in range(200):
        answer = await client.create(review)
        if answer.status is not None and answer.status.allowed:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"RBAC never allowed {verb} {resource} in {namespace}")


def _owned_by(owner: Any) -> list[OwnerReference]:
    assert owner.metadata is not None and owner.metadata.uid and owner.metadata.name
    return [
        OwnerReference(apiVersion="v1", kind="ConfigMap", name=owner.metadata.name, uid=owner.metadata.uid)
    ]


async def test_deleting_an_owner_garbage_collects_dependents(
    kube_client: AsyncClient, namespace: str, record_property: Any
) -> None:
    ns = namespace
    owner = await kube_client.create(ConfigMap(metadata=ObjectMeta(name="owner", namespace=ns)))
    await kube_client.create(
        ConfigMap(metadata=ObjectMeta(name="dependent", namespace=ns, ownerReferences=_owned_by(owner)))
    )
    # A custom resource of a CRD installed at session start is collected too (the collector
    # discovered its type when it started; CRDs created later are seen within 30 s).
    await kube_client.create(
        InferenceService(
            metadata=ObjectMeta(name="isvc", namespace=ns, ownerReferences=_owned_by(owner)),
            spec={"predictor": {"model": {"modelFormat": {"name": "vllm"}, "storageUri": "hf://org/model"}}},
        )
    )
    # Both dependents exist and carry the owner reference before the owner goes.
    for res, name in ((ConfigMap, "dependent"), (InferenceService, "isvc")):
        found = cast(Any, await kube_client.get(res, name, namespace=ns))
        assert found.metadata is not None and owner.metadata is not None
        assert [r.uid for r in found.metadata.ownerReferences or ()] == [owner.metadata.uid]
    t0 = time.monotonic()
    await kube_client.delete(ConfigMap, "owner", namespace=ns)
    cm_seconds = await _gone(kube_client, ConfigMap, "dependent", ns)
    isvc_seconds = await _gone(kube_client, InferenceService, "isvc", ns)
    total = time.monotonic() - t0
    record_property("gc_configmap_seconds", round(cm_seconds, 3))
    record_property("gc_all_seconds", round(total, 3))
    print(f"\ngarbage collection: ConfigMap {cm_seconds:.3f}s, InferenceService within {total:.3f}s")
    record_property("gc_inferenceservice_seconds", round(isvc_seconds, 3))


async def test_kserve_inferenceservice_crd_is_installed_and_enforced(
    kube: KubeCluster, kube_client: AsyncClient, namespace: str
) -> None:
    crd = await kube_client.get(CustomResourceDefinition, "inferenceservices.serving.kserve.io")
    assert crd.status is not None and crd.status.conditions is not None
    assert any(c.type == "Established" and c.status == "True" for c in crd.status.conditions)
    assert "v1beta1" in [v.name for v in crd.spec.versions if v.served]
    spec = {"predictor": {"model": {"modelFormat": {"name": "vllm"}, "storageUri": "hf://org/model"}}}
    created = await kube_client.create(
        InferenceService(metadata=ObjectMeta(name="ok", namespace=namespace), spec=spec)
    )
    assert created["spec"]["predictor"]["model"]["modelFormat"]["name"] == "vllm"
    bad = {"predictor": {"minReplicas": "lots", "model": {"modelFormat": {"name": "vllm"}}}}
    with pytest.raises(ApiError) as err:
        await kube_client.create(
            InferenceService(metadata=ObjectMeta(name="bad", namespace=namespace), spec=bad)
        )
    assert err.value.status.code == 422
    assert "minReplicas" in str(err.value.status.message)
    # Unknown fields are pruned, as KServe's own CRD prunes them.
    extra = {"predictor": {"model": {"modelFormat": {"name": "vllm"}, "bogus": 1}, "alsoBogus": "x"}}
    pruned = await kube_client.create(
        InferenceService(metadata=ObjectMeta(name="pruned", namespace=namespace), spec=extra)
    )
    assert pruned["spec"] == {"predictor": {"model": {"modelFormat": {"name": "vllm"}}}}


async def test_audit_log_counts_writes_per_user_and_resource(
    kube: KubeCluster, kube_client: AsyncClient, namespace: str
) -> None:
    ns = namespace
    start = kube.audit.mark()
    for i in range(3):
        await kube_client.create(
            ConfigMap(metadata=ObjectMeta(name=f"cm-{i}", namespace=ns), data={"i": str(i)})
        )
    await kube_client.patch(ConfigMap, "cm-0", {"data": {"i": "x"}}, namespace=ns, patch_type=PatchType.MERGE)
    await kube_client.delete(ConfigMap, "cm-2", namespace=ns)
    # Reads are not audited.
    await kube_client.get(ConfigMap, "cm-1", namespace=ns)
    assert len([cm async for cm in kube_client.list(ConfigMap, namespace=ns)]) >= 2

    audit = kube.audit
    assert (
        await audit.wait_for_writes(5, user=kube.admin_user, resource="configmaps", since=start, namespace=ns)
        == 5
    )
    assert audit.count_writes(user=kube.admin_user, since=start, namespace=ns, verb="create") == 3
    assert audit.count_writes(user=kube.admin_user, since=start, namespace=ns, verb="patch") == 1
    assert audit.count_writes(user=kube.operator_user, since=start) == 0

    # The operator's identity has no rights until RBAC grants them; denied writes are audited too.
    operator = kube.client("operator")
    try:
        with pytest.raises(ApiError) as err:
            await operator.create(ConfigMap(metadata=ObjectMeta(name="op-denied", namespace=ns)))
        assert err.value.status.code == 403
        await kube_client.create(
            Role(
                metadata=ObjectMeta(name="cm-writer", namespace=ns),
                rules=[PolicyRule(apiGroups=[""], resources=["configmaps"], verbs=["create", "get"])],
            )
        )
        await kube_client.create(
            RoleBinding(
                metadata=ObjectMeta(name="cm-writer", namespace=ns),
                roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="Role", name="cm-writer"),
                subjects=[
                    Subject(kind="User", name=kube.operator_user, apiGroup="rbac.authorization.k8s.io")
                ],
            )
        )
        # The authorizer learns about the binding from a watch: wait for it without writing
        # configmaps (a SelfSubjectAccessReview is a "create" in the audit log, of another resource).
        await _wait_allowed(operator, "create", "configmaps", ns)
        await operator.create(ConfigMap(metadata=ObjectMeta(name="op-made", namespace=ns)))
    finally:
        await operator.close()
    assert audit.count_writes(user=kube.operator_user, resource="configmaps", since=start) == 2
    assert (
        audit.count_writes(user=kube.operator_user, resource="configmaps", since=start, succeeded=True) == 1
    )
    assert (
        audit.count_writes(
            user=kube.admin_user, since=start, namespace=ns, api_group="rbac.authorization.k8s.io"
        )
        == 2
    )


async def test_gpu_node_helper(kube_client: AsyncClient, gpu_nodes: GpuNodes) -> None:
    made = await gpu_nodes(gpu_model="MI300X", family="AI", extra_labels={"example.com/rack": "r1"})
    assert made.metadata is not None and made.metadata.name
    node = await kube_client.get(Node, made.metadata.name)
    assert node.metadata is not None and node.metadata.labels is not None
    labels = node.metadata.labels
    assert labels["amd.com/gpu.device-id"] == "74a1"
    assert labels["amd.com/gpu.vram"] == "192G"
    assert labels["amd.com/gpu.family"] == "AI"
    assert labels["example.com/rack"] == "r1"
    assert (
        node.status is not None and node.status.allocatable is not None and node.status.capacity is not None
    )
    assert node.status.allocatable["amd.com/gpu"] == "8"
    assert node.status.capacity["amd.com/gpu"] == "8"
    assert node.status.allocatable["cpu"] == "192"

    by_id = await gpu_nodes(device_id="75a0", count=4, vram=None)
    assert by_id.metadata is not None and by_id.metadata.labels is not None
    assert by_id.metadata.labels["amd.com/gpu.device-id"] == "75a0"
    assert "amd.com/gpu.vram" not in by_id.metadata.labels
    assert by_id.status is not None and by_id.status.allocatable is not None
    assert by_id.status.allocatable["amd.com/gpu"] == "4"
    mine = [
        n
        async for n in kube_client.list(Node, labels={"amd.com/gpu.device-id": "75a0"})
        if n.metadata is not None and n.metadata.name == by_id.metadata.name
    ]
    assert len(mine) == 1


@pytest.mark.kube_exclusive
async def test_restart_apiserver_in_place(
    kube: KubeCluster, kube_client: AsyncClient, namespace: str, record_property: Any
) -> None:
    await kube_client.create(
        ConfigMap(metadata=ObjectMeta(name="survivor", namespace=namespace), data={"k": "v"})
    )
    before = kube.audit.mark()
    seconds = await kube.restart_apiserver()
    record_property("apiserver_restart_seconds", round(seconds, 3))
    print(f"\nkube-apiserver restarted in {seconds:.2f}s")
    # Same port, same etcd: the same session client keeps working and the data is there.
    got = await kube_client.get(ConfigMap, "survivor", namespace=namespace)
    assert got.data == {"k": "v"}
    await kube_client.create(ConfigMap(metadata=ObjectMeta(name="after", namespace=namespace)))
    assert kube.audit.count_writes(user=kube.admin_user, since=before, namespace=namespace) == 1
