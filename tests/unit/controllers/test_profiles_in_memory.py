"""Profiles through the controllers on the in-memory store: made for v1alpha2 models only,
following the metadata, and quiet on a resync (the real-server versions are in
tests/integration/test_profiles.py)."""

from __future__ import annotations

from typing import Any

from aim_engine.api.v1alpha1 import AIMClusterModel
from tests.support.in_memory_catalog import METADATA, NODE, Catalog, find


def cluster_model(version: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"aim.eai.amd.com/{version}",
        "kind": "AIMClusterModel",
        "metadata": {"name": name},
        "spec": {"image": "amdenterpriseai/aim-qwen:0.8.5", "imageMetadata": METADATA},
    }


async def test_profiles_for_v1alpha2_only_follow_the_metadata_and_resync_quietly() -> None:
    catalog = Catalog([NODE, cluster_model("v1alpha2", "two"), cluster_model("v1alpha1", "one")])
    store = await catalog.settle()
    profiles = find(store, "AIMClusterProfile")
    assert sorted(p["metadata"]["labels"]["aim.eai.amd.com/model"] for p in profiles) == ["two", "two"]
    assert {p["status"]["status"] for p in profiles} == {"Ready", "NotAvailable"}  # MI300X node, no MI325X
    writes = sum(store.writes.values())
    await catalog.settle()
    assert sum(store.writes.values()) == writes

    # One deployment leaves the metadata: its profile goes.
    live = store.get(AIMClusterModel, "two")
    assert live is not None
    metadata = live.spec.image_metadata
    assert metadata is not None and metadata.model is not None
    deployments = metadata.model.recommended_deployments or []
    shorter = metadata.model.model_copy(update={"recommended_deployments": deployments[:1]})
    spec = live.spec.model_copy(update={"image_metadata": metadata.model_copy(update={"model": shorter})})
    store.update(live.model_copy(update={"spec": spec}))
    store = await catalog.settle(requeue_all=False)
    assert [p["metadata"]["name"] for p in find(store, "AIMClusterProfile")] == [
        profiles[0]["metadata"]["name"]
    ]
