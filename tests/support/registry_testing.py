"""Helpers shared by the registry integration tests (plain functions; fixtures live in the tests)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence

from aim_engine.registry.credentials import Credentials
from aim_engine.registry.manifest import Platform
from aim_engine.registry.settings import RegistrySettings
from tests.support.oci_images import ImageBuilder, ImageSpec
from tests.support.registries import Registries, RegistryEndpoint

DEPLOYMENTS_JSON = json.dumps(
    [
        {"gpuModel": "MI300X", "gpuCount": 1, "precision": "fp16", "metric": "latency"},
        {"gpuModel": "MI325X", "gpuCount": 8, "precision": "fp8", "metric": "throughput", "profileId": "p-8"},
    ]
)
BASE_IMAGE = "docker.io/amdenterpriseai/aim-base:0.11"


def unique_repository(prefix: str = "aim") -> str:
    """A repository no other test (or xdist worker) uses, so digests and counts are our own."""
    return f"{prefix}/t-{uuid.uuid4().hex[:12]}"


def aim_labels(canonical_name: str = "meta-llama/Llama-3.1-8B-Instruct", **extra: str) -> dict[str, str]:
    labels = {
        "com.amd.aim.model.canonicalName": canonical_name,
        "com.amd.aim.model.recommendedDeployments": DEPLOYMENTS_JSON,
        "org.opencontainers.image.title": "aim test image",
        # Unique per call: no two tests share a digest, so caches and counts are per test.
        "org.opencontainers.image.revision": uuid.uuid4().hex,
    }
    labels.update(extra)
    return labels


def amd64(
    labels: Mapping[str, str] | None = None, env: Sequence[str] = (f"AIM_BASE_IMAGE_REF={BASE_IMAGE}",)
) -> ImageSpec:
    return ImageSpec(labels=dict(labels if labels is not None else aim_labels()), env=tuple(env))


def arm64(labels: Mapping[str, str] | None = None) -> ImageSpec:
    return ImageSpec(
        labels=dict(labels if labels is not None else aim_labels("arm/model-for-arm64")),
        env=("AIM_BASE_IMAGE_REF=docker.io/amdenterpriseai/aim-base-arm:0.11",),
        architecture="arm64",
        variant="v8",
    )


def builder(registries: Registries, endpoint: RegistryEndpoint) -> ImageBuilder:
    return ImageBuilder(
        endpoint.url, username=endpoint.username, password=endpoint.password, ca_bundle=registries.ca_bundle
    )


def credentials(endpoint: RegistryEndpoint) -> Credentials | None:
    if endpoint.username is None or endpoint.password is None:
        return None
    return Credentials(endpoint.username, endpoint.password)


def settings(registries: Registries, **overrides: object) -> RegistrySettings:
    """Fast retries (the behaviour is the same, only the delays are short)."""
    values: dict[str, object] = {
        "ca_bundle": registries.ca_bundle,
        "retries": 2,
        "backoff_base": 0.01,
        "backoff_max": 0.05,
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
    }
    values.update(overrides)
    if isinstance(values.get("platform"), str):
        values["platform"] = Platform.parse(str(values["platform"]))
    return RegistrySettings(**values)  # type: ignore[arg-type]
