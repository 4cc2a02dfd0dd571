"""Plain helpers for integration tests that drive AIM objects through the API server as a
user would: create, read, wait on status, list a model's templates."""

from __future__ import annotations

import json
from typing import Any

from aim_engine.runtime.errors import NotFound
from aim_engine.runtime.kube_api import KubeApi

V1 = "/apis/aim.eai.amd.com/v1alpha1"


async def get(api: KubeApi, path: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = json.loads(await api.request("GET", path))
    except NotFound:
        return None
    return found


async def create(api: KubeApi, path: str, body: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = json.loads(await api.request("POST", path, body=body))
    return created


def model_body(kind: str, name: str, spec: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": kind, "metadata": meta, "spec": spec}


def service_body(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "aim.eai.amd.com/v1alpha1",
        "kind": "AIMService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def status_of(obj: dict[str, Any] | None) -> str | None:
    value = (obj or {}).get("status", {}).get("status")
    return str(value) if value is not None else None


def reported(obj: dict[str, Any] | None) -> bool:
    """Whether a controller has written the object's status (of its current generation): a new
    model or service shows `Pending` by the CRD's default before anyone wrote anything."""
    status = (obj or {}).get("status") or {}
    return obj is not None and status.get("observedGeneration") == obj["metadata"].get("generation")


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for cond in (obj or {}).get("status", {}).get("conditions", []):
        if cond["type"] == kind:
            return dict(cond)
    return {}


async def templates_of(api: KubeApi, model: str, namespace: str | None) -> list[dict[str, Any]]:
    path = (
        f"{V1}/namespaces/{namespace}/aimservicetemplates"
        if namespace
        else f"{V1}/aimclusterservicetemplates"
    )
    listing = json.loads(
        await api.request("GET", path, params={"labelSelector": f"aim.eai.amd.com/model={model}"})
    )
    return list(listing["items"])
