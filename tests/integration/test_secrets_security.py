"""Secrets, on the real API server with the operator under the chart's service account:

* a namespaced model reads pull secrets from its own namespace only, a cluster model from the
  operator namespace only; the secrets elsewhere would work if they were read (right password);
* secret values never reach logs, events, status or metrics: known values are planted in secrets
  that fail in every way a pull secret can (wrong password, malformed JSON, no auths, wrong
  type), and everything the operator produced is scanned for them, raw and base64-encoded.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from prometheus_client import REGISTRY, generate_latest

from aim_engine.runtime.kube_api import KubeApi
from tests.support.aim_api import V1, condition, create, model_body
from tests.support.aim_operator import GROUP, OPERATOR_NAMESPACE, RunningOperator
from tests.support.catalog_steps import aim_labels, docker_config_secret, push, wait_model
from tests.support.kube_plugin import unique_name
from tests.support.registries import Registries
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(GROUP)]


def reason(model: dict[str, Any]) -> str | None:
    return condition(model, "Ready").get("reason")


@pytest_asyncio.fixture(loop_scope="session")
async def other_namespace(api: KubeApi) -> AsyncIterator[str]:
    name = unique_name("other-ns")
    await create(
        api, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    yield name
    await api.request("DELETE", f"/api/v1/namespaces/{name}")


async def test_models_read_pull_secrets_only_from_their_own_namespace(
    operator: RunningOperator, api: KubeApi, registries: Registries, namespace: str, other_namespace: str
) -> None:
    endpoint = registries.basic
    suffix = secrets.token_hex(3)
    image = push(endpoint, registries, f"private/cross-{suffix}", "1.0.0", aim_labels(deployments=[]))
    # A secret that works, in the wrong namespace for both models.
    name = f"works-{suffix}"
    await create(api, f"/api/v1/namespaces/{other_namespace}/secrets", docker_config_secret(name, endpoint))

    spec = {"image": image, "imagePullSecrets": [{"name": name}]}
    await create(api, f"{V1}/namespaces/{namespace}/aimmodels", model_body("AIMModel", "cross", spec))
    cluster_name = f"cross-{suffix}"
    await create(api, f"{V1}/aimclustermodels", model_body("AIMClusterModel", cluster_name, spec))
    try:
        namespaced = await wait_model(
            api, f"{V1}/namespaces/{namespace}/aimmodels/cross", lambda m: reason(m) == "PullSecretNotFound"
        )
        assert f"does not exist in namespace {namespace!r}" in condition(namespaced, "Ready")["message"]
        cluster = await wait_model(
            api, f"{V1}/aimclustermodels/{cluster_name}", lambda m: reason(m) == "PullSecretNotFound"
        )
        assert f"does not exist in namespace {OPERATOR_NAMESPACE!r}" in condition(cluster, "Ready")["message"]
        # The same secret in the operator namespace is what the cluster model may use.
        await create(
            api, f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/secrets", docker_config_secret(name, endpoint)
        )
        await wait_model(
            api, f"{V1}/aimclustermodels/{cluster_name}", lambda m: reason(m) == "AllComponentsReady"
        )
        namespaced = await wait_model(
            api, f"{V1}/namespaces/{namespace}/aimmodels/cross", lambda m: reason(m) == "PullSecretNotFound"
        )
    finally:
        await api.request("DELETE", f"{V1}/aimclustermodels/{cluster_name}")
        await api.request("DELETE", f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/secrets/{name}")


def planted_forms(value: str) -> list[str]:
    """A value as it could leak: raw, base64, and base64 of `user:value` (a docker config auth)."""
    return [
        value,
        base64.b64encode(value.encode()).decode(),
        base64.b64encode(f"aimuser:{value}".encode()).decode(),
    ]


def secret(name: str, data: dict[str, str], kind: str = "kubernetes.io/dockerconfigjson") -> dict[str, Any]:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": kind, "data": encoded}


async def test_secret_values_never_reach_logs_events_status_or_metrics(
    operator: RunningOperator,
    api: KubeApi,
    registries: Registries,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint = registries.basic
    planted = f"Zq9planted{secrets.token_hex(6)}"
    image = push(endpoint, registries, f"private/scan-{planted[-6:]}", "1.0.0", aim_labels())
    wrong = docker_config_secret("wrong-password", endpoint, planted)
    cases = {
        "wrong-password": (wrong, "RegistryAuthFailed"),
        # The API server checks the JSON of kubernetes.io/dockerconfigjson secrets; an Opaque one
        # with the same key is read the same way, and is not checked.
        "malformed": (
            secret("malformed", {".dockerconfigjson": f'{{"auths": {{"{planted}'}, "Opaque"),
            "InvalidPullSecret",
        ),
        "no-auths": (secret("no-auths", {".dockerconfigjson": json.dumps({"x": planted})}), None),
        "opaque": (secret("opaque", {"password": planted}, "Opaque"), "InvalidPullSecret"),
    }
    for name, (body, _) in cases.items():
        body["metadata"]["annotations"] = {"note": planted}
        await create(api, f"/api/v1/namespaces/{namespace}/secrets", body)
        spec = {"image": image, "imagePullSecrets": [{"name": name}]}
        await create(api, f"{V1}/namespaces/{namespace}/aimmodels", model_body("AIMModel", name, spec))
    models = []
    for name, (_, expected) in cases.items():
        path = f"{V1}/namespaces/{namespace}/aimmodels/{name}"
        if expected is None:  # a config without credentials for this registry: anonymous, then 401
            found = await wait_model(
                api, path, lambda m: reason(m) in {"RegistryAuthFailed", "InvalidPullSecret"}
            )
        else:
            found = await wait_model(api, path, lambda m, e=expected: reason(m) == e)
        models.append(found)

    # Events are posted in the background (runtime/events.py), after the status they go with.
    async def listed_events() -> list[Any]:
        items: list[Any] = json.loads(await api.request("GET", f"/api/v1/namespaces/{namespace}/events"))[
            "items"
        ]
        return items

    events = await eventually(listed_events, bool, within=15, what="the failures recorded as events")
    produced = {
        "logs": "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records),
        "events": json.dumps(events),
        "status": json.dumps([m.get("status") for m in models]),
        "metrics": generate_latest(REGISTRY).decode(),
        "operator cache": "\n".join(
            o.model_dump_json()
            for kind in operator.store._caches
            for o in operator.store.list(kind, namespace)
        ),
    }
    assert len(produced["logs"]) > 0
    for where, text in produced.items():
        for form in planted_forms(planted):
            assert form not in text, f"a planted secret value ({form[:6]}...) appears in the {where}"
