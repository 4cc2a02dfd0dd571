"""Raw API access for tests and benchmarks, as the session's admin (optionally impersonating)."""

from __future__ import annotations

import ssl
from typing import Any

from lightkube.config.client_adapter import BearerAuth

from aim_engine.runtime.kube_api import KubeApi
from aim_engine.runtime.transport import AiohttpTransport, HeaderAuth
from tests.support.kube import KubeCluster

TEST_FIELD_MANAGER = "aim-engine-tests"


def admin_api(kube: KubeCluster, *, impersonate: str | None = None, timeout: float = 30.0) -> KubeApi:
    """A client as the admin (system:masters), or as `impersonate` with that user's RBAC, on
    the operator's own transport.

    The API server names the field manager of writes without `fieldManager` after the user
    agent, so only the impersonated operator identity presents itself as aim-engine."""
    auth = HeaderAuth(BearerAuth(kube.admin_token), kube.server)
    headers = {"Impersonate-User": impersonate} if impersonate else {}
    verify = ssl.create_default_context(cafile=str(kube.ca_file))
    transport = AiohttpTransport(kube.server, verify, auth, timeout=timeout, headers=headers)
    return KubeApi(transport, user_agent=None if impersonate else TEST_FIELD_MANAGER)


async def server_side_apply(api: KubeApi, path: str, body: dict[str, Any]) -> None:
    """Create or update `body` at `path` (the object's own URL) with server-side apply."""
    await api.request(
        "PATCH",
        path,
        params={"fieldManager": TEST_FIELD_MANAGER, "force": "true"},
        body=body,
        content_type="application/apply-patch+yaml",
    )
