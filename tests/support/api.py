"""Raw API access for tests and benchmarks, as the session's admin (optionally impersonating)."""

from __future__ import annotations

import ssl
from typing import Any

import httpx2

from aim_engine.runtime.kube_api import POOL_LIMITS, KubeApi
from tests.support.kube import KubeCluster

TEST_FIELD_MANAGER = "aim-engine-tests"


def admin_api(
    kube: KubeCluster, *, impersonate: str | None = None, http2: bool = False, timeout: float = 30.0
) -> KubeApi:
    """A client as the admin (system:masters), or as `impersonate` with that user's RBAC.

    The API server names the field manager of writes without `fieldManager` after the user
    agent, so only the impersonated operator identity presents itself as aim-engine."""
    headers = {"Authorization": f"Bearer {kube.admin_token}"}
    if impersonate:
        headers["Impersonate-User"] = impersonate
    verify = ssl.create_default_context(cafile=str(kube.ca_file))
    client = httpx2.AsyncClient(
        base_url=kube.server,
        verify=verify,
        headers=headers,
        timeout=timeout,
        trust_env=False,
        limits=POOL_LIMITS,
        http2=http2,
    )
    return KubeApi(client, user_agent=None if impersonate else TEST_FIELD_MANAGER)


async def server_side_apply(api: KubeApi, path: str, body: dict[str, Any]) -> None:
    """Create or update `body` at `path` (the object's own URL) with server-side apply."""
    await api.request(
        "PATCH",
        path,
        params={"fieldManager": TEST_FIELD_MANAGER, "force": "true"},
        body=body,
        content_type="application/apply-patch+yaml",
    )
