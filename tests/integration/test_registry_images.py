"""What the inspector reads from real registries: indexes resolved to a platform, OCI and Docker
media types (with and without `mediaType`), missing repositories/tags/manifests, label formats,
AIM_BASE_IMAGE_REF, and content that does not match its digest."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from aim_engine.registry.errors import ImageNotFoundError, InvalidMetadataError, InvalidReferenceError
from aim_engine.registry.inspector import ImageInspector
from aim_engine.registry.manifest import DOCKER_MANIFEST, OCI_MANIFEST
from tests.support.fault_server import FaultServer, Rewrite
from tests.support.oci_images import ImageSpec
from tests.support.registries import Registries
from tests.support.registry_testing import (
    BASE_IMAGE,
    aim_labels,
    amd64,
    arm64,
    builder,
    settings,
    unique_repository,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def inspector(registries: Registries) -> AsyncIterator[ImageInspector]:
    async with ImageInspector(settings(registries)) as inspector:
        yield inspector


@pytest.mark.parametrize("flavor", ["oci", "docker"])
async def test_index_resolves_to_amd64_by_default(
    registries: Registries, inspector: ImageInspector, flavor: str
) -> None:
    repository = unique_repository()
    with builder(registries, registries.noauth) as b:
        pushed = b.push_index(repository, "0.8.4", [arm64(), amd64()], flavor=flavor)  # type: ignore[arg-type]
    result = await inspector.inspect(registries.noauth.image(repository, "0.8.4"))
    assert result.index_digest == pushed.digest
    assert result.digest == pushed.children["linux/amd64"].digest
    assert result.config_digest == pushed.children["linux/amd64"].config_digest
    assert result.platform == "linux/amd64"
    assert result.media_type == (OCI_MANIFEST if flavor == "oci" else DOCKER_MANIFEST)
    assert result.metadata.model is not None
    assert result.metadata.model.canonical_name == "meta-llama/Llama-3.1-8B-Instruct"
    assert result.metadata.base_image_ref == BASE_IMAGE
    assert result.pinned == f"{registries.noauth.host}/{repository}@{pushed.digest}"


async def test_platform_setting_picks_arm64(registries: Registries) -> None:
    repository = unique_repository()
    with builder(registries, registries.noauth) as b:
        pushed = b.push_index(repository, "1", [amd64(), arm64()])
    async with ImageInspector(settings(registries, platform="linux/arm64")) as inspector:
        result = await inspector.inspect(registries.noauth.image(repository, "1"))
    assert result.digest == pushed.children["linux/arm64/v8"].digest
    assert result.platform == "linux/arm64/v8"
    assert result.metadata.model is not None
    assert result.metadata.model.canonical_name == "arm/model-for-arm64"


async def test_platform_missing_from_index(registries: Registries) -> None:
    repository = unique_repository()
    with builder(registries, registries.noauth) as b:
        b.push_index(repository, "1", [amd64(), arm64()])
    async with ImageInspector(settings(registries, platform="linux/s390x")) as inspector:
        with pytest.raises(
            ImageNotFoundError, match=r"no image for platform linux/s390x .*linux/amd64"
        ) as caught:
            await inspector.inspect(registries.noauth.image(repository, "1"))
    assert caught.value.what == "platform"


async def test_attestation_entries_are_skipped(registries: Registries, inspector: ImageInspector) -> None:
    repository = unique_repository()
    with builder(registries, registries.noauth) as b:
        attestation = b.push_image(repository, None, ImageSpec(labels={"kind": "attestation"}))
        unknown = {
            "mediaType": OCI_MANIFEST,
            "digest": attestation.digest,
            "size": len(attestation.manifest),
            "platform": {"os": "unknown", "architecture": "unknown"},
        }
        pushed = b.push_index(repository, "1", [amd64()], extra_entries=[unknown])
    result = await inspector.inspect(registries.noauth.image(repository, "1"))
    assert result.digest == pushed.children["linux/amd64"].digest


@pytest.mark.parametrize("index", [True, False])
async def test_manifests_without_media_type(
    registries: Registries, inspector: ImageInspector, index: bool
) -> None:
    """umoci omits the optional mediaType: the response Content-Type says what it is."""
    repository = unique_repository()
    with builder(registries, registries.noauth) as b:
        if index:
            pushed = b.push_index(repository, "1", [amd64(), arm64()], omit_media_type=True)
            expected = pushed.children["linux/amd64"].digest
        else:
            expected = b.push_image(repository, "1", amd64(), omit_media_type=True).digest
            assert (
                b'mediaType":"application/vnd.oci.image.manifest'
                not in b.http.get(f"/v2/{repository}/manifests/1", headers={"Accept": OCI_MANIFEST}).content
            )
    result = await inspector.inspect(registries.noauth.image(repository, "1"))
    assert result.digest == expected
    assert result.metadata.base_image_ref == BASE_IMAGE


async def test_single_docker_v2s2_manifest(registries: Registries, inspector: ImageInspector) -> None:
    repository = unique_repository()
    with builder(registries, registries.noauth) as b:
        pushed = b.push_image(repository, "v2s2", amd64(), flavor="docker")
    result = await inspector.inspect(registries.noauth.image(repository, "v2s2"))
    assert (result.digest, result.index_digest, result.media_type) == (pushed.digest, None, DOCKER_MANIFEST)
    assert result.platform == "linux/amd64"


async def test_digest_references(registries: Registries, inspector: ImageInspector) -> None:
    repository = unique_repository()
    with builder(registries, registries.noauth) as b:
        pushed = b.push_index(repository, "1", [amd64(), arm64()])
    host = registries.noauth.host
    by_digest = await inspector.inspect(f"{host}/{repository}@{pushed.digest}")
    assert by_digest.index_digest == pushed.digest
    both = await inspector.inspect(f"{host}/{repository}:ignored-tag@{pushed.digest}")
    assert both.digest == by_digest.digest
    child = pushed.children["linux/amd64"].digest
    direct = await inspector.inspect(f"{host}/{repository}@{child}")
    assert (direct.digest, direct.index_digest) == (child, None)


async def test_missing_repository(registries: Registries, inspector: ImageInspector) -> None:
    image = registries.noauth.image(unique_repository("missing"), "1")
    with pytest.raises(ImageNotFoundError, match=r"repository .* not found") as caught:
        await inspector.inspect(image)
    assert caught.value.what == "repository"
    assert caught.value.reason == "ImageNotFound"
    assert not caught.value.transient
    assert image in str(caught.value)


async def test_missing_tag(registries: Registries, inspector: ImageInspector) -> None:
    repository = unique_repository()
    with builder(registries, registries.noauth) as b:
        b.push_image(repository, "exists", amd64())
    with pytest.raises(ImageNotFoundError, match="tag 'absent' not found") as caught:
        await inspector.inspect(registries.noauth.image(repository, "absent"))
    assert caught.value.what == "tag"


async def test_missing_manifest_digest(registries: Registries, inspector: ImageInspector) -> None:
    repository = unique_repository()
    with builder(registries, registries.noauth) as b:
        b.push_image(repository, "exists", amd64())
    missing = "sha256:" + "0" * 64
    with pytest.raises(ImageNotFoundError, match=r"manifest sha256:0+ not found") as caught:
        await inspector.inspect(f"{registries.noauth.host}/{repository}@{missing}")
    assert caught.value.what == "manifest"


async def test_invalid_reference(inspector: ImageInspector) -> None:
    with pytest.raises(InvalidReferenceError, match="lowercase") as caught:
        await inspector.inspect("ghcr.io/Org/Image:1")
    assert caught.value.reason == "InvalidImageReference"
    assert inspector.request_count == 0


async def test_python_literal_and_legacy_labels(registries: Registries, inspector: ImageInspector) -> None:
    repository = unique_repository()
    labels = {
        "org.amd.silogen.model.canonicalName": "legacy/model",
        "org.amd.silogen.hfToken.required": "yes",
        "com.amd.aim.model.recommendedDeployments": (
            "{'gpuModel': 'MI300X', 'gpuCount': 1, 'precision': 'fp8', 'metric': 'latency', "
            "'description': \"AMD's latency profile\"}, {'gpuModel': 'MI300X', 'gpuCount': 1, "
            "'precision': 'fp8', 'metric': 'throughput'}"
        ),
        "com.amd.aim.model.tags": "chat, text",
    }
    with builder(registries, registries.noauth) as b:
        b.push_image(
            repository, "1", ImageSpec(labels=labels, env=("PATH=/bin", f"AIM_BASE_IMAGE_REF={BASE_IMAGE}"))
        )
    result = await inspector.inspect(registries.noauth.image(repository, "1"))
    model = result.metadata.model
    assert model is not None and model.recommended_deployments is not None
    assert model.canonical_name == "legacy/model"
    assert model.hf_token_required is True
    assert model.tags == ["chat", "text"]
    assert [d.metric for d in model.recommended_deployments] == ["latency", "throughput"]
    assert model.recommended_deployments[0].description == "AMD's latency profile"
    assert result.metadata.original_labels == labels
    assert result.metadata.base_image_ref == BASE_IMAGE


async def test_document_label_name_and_json(registries: Registries, inspector: ImageInspector) -> None:
    repository = unique_repository()
    deployments = [{"gpuModel": "MI325X", "gpuCount": 8, "precision": "fp8", "profileId": "x"}]
    labels = {
        "com.amd.aim.model.canonicalName": "a/b",
        "com.amd.aim.model.deployments": json.dumps(deployments),
    }
    with builder(registries, registries.noauth) as b:
        b.push_image(repository, "1", ImageSpec(labels=labels))
    result = await inspector.inspect(registries.noauth.image(repository, "1"))
    assert result.metadata.model is not None and result.metadata.model.recommended_deployments is not None
    assert [d.dump() for d in result.metadata.model.recommended_deployments] == deployments
    assert result.metadata.base_image_ref is None


async def test_malformed_deployments_label(registries: Registries, inspector: ImageInspector) -> None:
    repository = unique_repository()
    labels = aim_labels(
        **{"com.amd.aim.model.recommendedDeployments": "[{'gpuModel': 'MI300X', 'gpuCount': }]"}
    )
    with builder(registries, registries.noauth) as b:
        b.push_image(repository, "1", ImageSpec(labels=labels))
    image = registries.noauth.image(repository, "1")
    with pytest.raises(InvalidMetadataError, match=r"recommendedDeployments .*'gpuCount': }\]") as caught:
        await inspector.inspect(image)
    assert caught.value.reason == "InvalidImageMetadata"
    assert image in str(caught.value)
    # The failure belongs to the content: a second look does not download the config again.
    before = inspector.request_count
    with pytest.raises(InvalidMetadataError):
        await inspector.inspect(image)
    assert inspector.request_count == before


async def test_image_without_labels(registries: Registries, inspector: ImageInspector) -> None:
    repository = unique_repository()
    with builder(registries, registries.noauth) as b:
        b.push_image(repository, "1", ImageSpec(labels={}, env=()))
    result = await inspector.inspect(registries.noauth.image(repository, "1"))
    assert result.metadata.dump() == {}


async def test_non_image_config_is_invalid(registries: Registries, inspector: ImageInspector) -> None:
    repository = unique_repository()
    with builder(registries, registries.noauth) as b:
        b.push_image(repository, "1", config_override=b'{"config": {"Labels": ["not", "a", "map"]}}')
    with pytest.raises(InvalidMetadataError, match="Labels is not a map of strings"):
        await inspector.inspect(registries.noauth.image(repository, "1"))


async def test_config_blob_that_does_not_match_its_digest(registries: Registries) -> None:
    """distribution verifies blobs on upload, so a registry serving other bytes than the digest
    names (corruption, a malicious mirror) is simulated by a proxy rewriting the config blob."""
    repository = unique_repository()
    with builder(registries, registries.noauth) as b:
        pushed = b.push_image(repository, "1", amd64())
    config_path = f"/blobs/{pushed.config_digest}"

    def tamper(body: bytes) -> bytes:
        return body.replace(b"meta-llama", b"evil-llama")

    with FaultServer(registries.noauth.url) as proxy:
        proxy.rewrites.append(Rewrite(config_path, tamper))
        async with ImageInspector(settings(registries)) as inspector:
            with pytest.raises(InvalidMetadataError, match="config blob digest mismatch") as caught:
                await inspector.inspect(f"{proxy.host}/{repository}:1")
            assert pushed.config_digest in str(caught.value)
            # A transfer fault is not remembered as the content's fault: fixed, it works.
            proxy.rewrites.clear()
            result = await inspector.inspect(f"{proxy.host}/{repository}:1")
            assert result.metadata.model is not None
            assert result.metadata.model.canonical_name == "meta-llama/Llama-3.1-8B-Instruct"


async def test_manifest_that_does_not_match_its_digest(registries: Registries) -> None:
    repository = unique_repository()
    with builder(registries, registries.noauth) as b:
        pushed = b.push_index(repository, "1", [amd64(), arm64()])
    with FaultServer(registries.noauth.url) as proxy:
        proxy.rewrites.append(
            Rewrite("/manifests/", lambda body: body.replace(b'"os":"linux"', b'"os":"linux" '))
        )
        async with ImageInspector(settings(registries)) as inspector:
            with pytest.raises(InvalidMetadataError, match="digest mismatch"):
                await inspector.inspect(f"{proxy.host}/{repository}:1")
            with pytest.raises(InvalidMetadataError, match="manifest digest mismatch"):
                await inspector.inspect(f"{proxy.host}/{repository}@{pushed.digest}")


async def test_oversized_manifest_is_refused(registries: Registries) -> None:
    repository = unique_repository()
    with builder(registries, registries.noauth) as b:
        b.push_image(repository, "1", amd64())
    async with ImageInspector(settings(registries, max_manifest_bytes=100)) as inspector:
        with pytest.raises(InvalidMetadataError, match="more than the 100"):
            await inspector.inspect(registries.noauth.image(repository, "1"))


async def test_oversized_config_is_refused_before_download(registries: Registries) -> None:
    repository = unique_repository()
    big = aim_labels(**{"padding": "x" * 5000})
    with builder(registries, registries.noauth) as b:
        b.push_image(repository, "1", ImageSpec(labels=big))
    async with ImageInspector(settings(registries, max_config_bytes=4096)) as inspector:
        with pytest.raises(InvalidMetadataError, match=r"config blob .* more than the 4096 allowed"):
            await inspector.inspect(registries.noauth.image(repository, "1"))
        assert inspector.request_count == 2  # HTTPS probe + manifest; the blob was never requested
