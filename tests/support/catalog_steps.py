"""Steps the catalog's integration tests share (no tests here): AIM labels for a test image,
pushing it to a test registry, a Docker config Secret for a registry's credentials, and
waiting for a model's status."""

from __future__ import annotations

import base64
import json
from typing import Any

from aim_engine.runtime.kube_api import KubeApi
from tests.support.aim_api import get
from tests.support.oci_images import ImageBuilder, ImageSpec
from tests.support.registries import Registries, RegistryEndpoint
from tests.support.waiting import eventually

DEPLOYMENTS = [
    {"gpuModel": "MI300X", "gpuCount": 1, "precision": "fp8", "metric": "latency"},
    {"gpuModel": "MI300X", "gpuCount": 8, "precision": "fp8", "metric": "throughput"},
]


def aim_labels(
    name: str = "Qwen/Qwen3-32B", deployments: list[dict[str, Any]] | None = None
) -> dict[str, str]:
    return {
        "com.amd.aim.model.canonicalName": name,
        "com.amd.aim.model.recommendedDeployments": json.dumps(
            DEPLOYMENTS if deployments is None else deployments
        ),
        "org.opencontainers.image.title": "qwen test image",
    }


def push(
    endpoint: RegistryEndpoint, registries: Registries, repository: str, tag: str, labels: dict[str, str]
) -> str:
    with ImageBuilder(
        endpoint.url, username=endpoint.username, password=endpoint.password, ca_bundle=registries.ca_bundle
    ) as builder:
        builder.push_image(
            repository,
            tag,
            ImageSpec(labels=labels, env=("AIM_BASE_IMAGE_REF=docker.io/amdenterpriseai/aim-base:0.11",)),
        )
    return endpoint.image(repository, tag)


def docker_config_secret(
    name: str, endpoint: RegistryEndpoint, password: str | None = None
) -> dict[str, Any]:
    auth = base64.b64encode(f"{endpoint.username}:{password or endpoint.password}".encode()).decode()
    config = json.dumps({"auths": {endpoint.host: {"auth": auth}}})
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(config.encode()).decode()},
    }


async def wait_model(
    api: KubeApi, path: str, check: Any, *, within: float = 30.0, what: str = "model status"
) -> dict[str, Any]:
    found = await eventually(
        lambda: get(api, path), lambda m: m is not None and check(m), within=within, what=what
    )
    assert found is not None
    return found
