"""`aim-engine render` is the operator: examples/ applied to the real API server with the
operator running settles into exactly the objects render prints (uids, resourceVersions,
timestamps and managedFields aside), and `explain --kubeconfig` reads a cluster without writing
to it. Also: `inspect -o json` output is a snapshot `render --metadata` reads."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from aim_engine.api.core import Namespace
from aim_engine.api.meta import KubeObject
from aim_engine.cli import main
from aim_engine.offline.render import KINDS, clean, read_documents, render
from aim_engine.runtime.errors import NotFound
from aim_engine.runtime.kube_api import KubeApi
from aim_engine.runtime.resources import collection_path, object_key, object_path
from tests.support.aim_operator import GROUP, RunningOperator
from tests.support.kube import KubeCluster
from tests.support.oci_images import ImageBuilder, ImageSpec
from tests.support.registries import Registries
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(GROUP)]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
_ALL: list[type[KubeObject]] = [*KINDS, Namespace]
_CLASSES = {(c.API_VERSION, c.KIND): c for c in _ALL}
# What the API server fills into a Node that nobody wrote (render has no kubelet either).
_NODE_DEFAULTS = ("daemonEndpoints", "nodeInfo")


def _path(doc: dict[str, Any], *, collection: bool = False) -> str:
    cls = _CLASSES[(doc["apiVersion"], doc["kind"])]
    namespace = doc["metadata"].get("namespace")
    if collection:
        return collection_path(cls, namespace)
    return object_path(cls, object_key(cls, doc["metadata"]["name"], namespace))


async def apply_examples(api: KubeApi) -> list[dict[str, Any]]:
    """Create every example as a user would (kubectl create), Nodes' status through the status
    subresource as a kubelet would report it. Namespaces first, then runtime configs (as the
    docs/decisions.md advises): a service reconciled before the config it uses is in the operator's cache
    deploys with the built-in defaults and is re-applied when the config arrives, which render,
    seeing every object at once, never does (its InferenceService would be at generation 2)."""
    docs = [doc for _, doc in read_documents([str(EXAMPLES)])]
    rank = {"Namespace": 0, "AIMClusterRuntimeConfig": 1, "AIMRuntimeConfig": 1}
    docs.sort(key=lambda d: rank.get(d["kind"], 2))
    for doc in docs:
        body = {k: v for k, v in doc.items() if k != "status"}
        await api.request("POST", _path(doc, collection=True), body=body)
        if doc["kind"] == "Node":
            await api.request(
                "PATCH",
                _path(doc) + "/status",
                body={"status": doc["status"]},
                content_type="application/merge-patch+json",
            )
    return docs


async def read(api: KubeApi, doc: dict[str, Any]) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = json.loads(await api.request("GET", _path(doc)))
    except NotFound:
        return None
    return found


def comparable(obj: dict[str, Any]) -> dict[str, Any]:
    out = clean(obj)
    if out["kind"] == "Node":
        # The API server's admission taints a new node not-ready until its kubelet reports.
        spec = dict(out.get("spec") or {})
        taints = [t for t in spec.pop("taints", []) if not t["key"].startswith("node.kubernetes.io/")]
        if taints:
            spec["taints"] = taints
        out["spec"] = spec or None
        out["status"] = {k: v for k, v in (out.get("status") or {}).items() if k not in _NODE_DEFAULTS}
        out = {k: v for k, v in out.items() if v is not None}
    return out


async def settled(kube: KubeCluster) -> None:
    async def writes_in(seconds: float) -> int:
        mark = kube.audit.mark()
        await asyncio.sleep(seconds)
        # Kubernetes' own controllers (service accounts for the new namespace) do not count.
        return len([w for w in kube.audit.writes(since=mark) if not w.user.startswith("system:")])

    await eventually(lambda: writes_in(1.5), lambda n: n == 0, within=60, what="the cluster settled")


async def cleanup(api: KubeApi, docs: list[dict[str, Any]]) -> None:
    for doc in reversed(docs):
        if doc["kind"] in ("Node", "Namespace") or not doc["metadata"].get("namespace"):
            with contextlib.suppress(NotFound):
                await api.request("DELETE", _path(doc))


@pytest.mark.kube_exclusive
async def test_examples_on_the_cluster_are_what_render_prints(
    operator: RunningOperator, api: KubeApi, kube: KubeCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    rendered = await render(read_documents([str(EXAMPLES)]), offline=True)
    expected = rendered.objects()
    docs = await apply_examples(api)
    try:
        await settled(kube)
        mismatches = []
        for want in expected:
            live = await read(api, want)
            got = comparable(live) if live is not None else None
            if got != comparable(want):
                mismatches.append((want["kind"], want["metadata"]["name"], want, got))
        assert not mismatches, json.dumps(mismatches[:3], indent=1)[:6000]
        # Nothing more than render said in the team's namespace (no stray copies or models).
        for cls in _CLASSES.values():
            if not cls.NAMESPACED or cls.KIND in ("Secret", "Namespace"):
                continue
            listing = json.loads(await api.request("GET", collection_path(cls, "ml-team")))
            names = sorted(i["metadata"]["name"] for i in listing["items"])
            wanted = sorted(o["metadata"]["name"] for o in expected if o["kind"] == cls.KIND)
            assert names == wanted, (cls.KIND, names, wanted)

        # explain against the cluster reads it and writes nothing.
        mark = kube.audit.mark()
        kubeconfig = str(kube.kubeconfig_path)
        # The CLI runs its own event loop: in a thread, beside the test's.
        code = await asyncio.to_thread(
            main, ["explain", "service", "custom-blocked", "-n", "ml-team", "--kubeconfig", kubeconfig]
        )
        out = capsys.readouterr().out
        assert code == 0
        assert "UnoptimizedTemplateFiltered: type unoptimized" in out
        code = await asyncio.to_thread(
            main, ["explain", "model", "qwen-ft-latest", "-n", "ml-team", "--kubeconfig", kubeconfig]
        )
        out = capsys.readouterr().out
        assert code == 0 and "deployment image amdenterpriseai/aim-base:0.9" in out
        assert [w for w in kube.audit.writes(since=mark) if not w.user.startswith("system:")] == []
    finally:
        await cleanup(api, docs)


async def test_an_inspect_snapshot_renders_offline(
    registries: Registries, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = {
        "com.amd.aim.model.canonicalName": "Qwen/Qwen3-32B",
        "com.amd.aim.model.recommendedDeployments": json.dumps(
            [{"gpuModel": "MI300X", "gpuCount": 1, "precision": "fp8", "metric": "latency"}]
        ),
    }
    endpoint = registries.noauth
    with ImageBuilder(endpoint.url, ca_bundle=registries.ca_bundle) as builder:
        builder.push_image("snap/qwen", "0.8.5", ImageSpec(labels=labels))
    image = endpoint.image("snap/qwen", "0.8.5")
    inspect = ["inspect", image, "-o", "json", "--ca-bundle", str(registries.ca_bundle)]
    assert await asyncio.to_thread(main, inspect) == 0
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(capsys.readouterr().out)
    catalog = tmp_path / "model.yaml"
    catalog.write_text(
        json.dumps(
            {
                "apiVersion": "aim.eai.amd.com/v1alpha1",
                "kind": "AIMClusterModel",
                "metadata": {"name": "qwen"},
                "spec": {"image": image},
            }
        )
    )
    argv = [
        "render",
        "-f",
        str(catalog),
        "--metadata",
        str(snapshot),
        "--offline",
        "--gpu",
        "MI300X=1",
        "-o",
        "json",
    ]
    assert await asyncio.to_thread(main, argv) == 0
    items = json.loads(capsys.readouterr().out)["items"]
    model = next(i for i in items if i["kind"] == "AIMClusterModel")
    assert model["status"]["status"] == "Ready"
    assert model["status"]["inspectedImage"] == image
    assert model["status"]["imageDigest"].startswith("sha256:")
