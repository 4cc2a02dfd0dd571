"""Image reference parsing and normalisation (Docker's rules)."""

from __future__ import annotations

import pytest

from aim_engine.api.image_reference import ImageReference, is_loopback_host, parse_reference, validate_digest

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest", "canonical"),
    [
        ("nginx", "docker.io", "library/nginx", "latest", None, "docker.io/library/nginx:latest"),
        ("nginx:1.25", "docker.io", "library/nginx", "1.25", None, "docker.io/library/nginx:1.25"),
        ("library/nginx", "docker.io", "library/nginx", "latest", None, "docker.io/library/nginx:latest"),
        (
            "amdenterpriseai/aim-base:0.11",
            "docker.io",
            "amdenterpriseai/aim-base",
            "0.11",
            None,
            "docker.io/amdenterpriseai/aim-base:0.11",
        ),
        ("docker.io/nginx", "docker.io", "library/nginx", "latest", None, "docker.io/library/nginx:latest"),
        (
            "index.docker.io/nginx",
            "docker.io",
            "library/nginx",
            "latest",
            None,
            "docker.io/library/nginx:latest",
        ),
        ("ghcr.io/silogen/aim-dummy:0.1.10", "ghcr.io", "silogen/aim-dummy", "0.1.10", None, None),
        ("ghcr.io/org/team/sub/image:v1", "ghcr.io", "org/team/sub/image", "v1", None, None),
        ("localhost/image", "localhost", "image", "latest", None, "localhost/image:latest"),
        ("localhost:5000/image:1", "localhost:5000", "image", "1", None, None),
        ("127.0.0.1:5000/a/b:tag", "127.0.0.1:5000", "a/b", "tag", None, None),
        ("[::1]:5000/a/b", "[::1]:5000", "a/b", "latest", None, "[::1]:5000/a/b:latest"),
        ("Registry.Example.COM/team/img", "registry.example.com", "team/img", "latest", None, None),
        ("registry.example.com:443/a", "registry.example.com:443", "a", "latest", None, None),
        (f"nginx@{DIGEST}", "docker.io", "library/nginx", None, DIGEST, f"docker.io/library/nginx@{DIGEST}"),
        (
            f"ghcr.io/a/b:1.0@{DIGEST}",
            "ghcr.io",
            "a/b",
            "1.0",
            DIGEST,
            f"ghcr.io/a/b:1.0@{DIGEST}",
        ),
        ("a/b__c/d-e.f_g", "docker.io", "a/b__c/d-e.f_g", "latest", None, None),
        ("a/b---c", "docker.io", "a/b---c", "latest", None, None),
        ("img:V1_x.Y-z", "docker.io", "library/img", "V1_x.Y-z", None, None),
    ],
)
def test_parses_and_normalises(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None, canonical: str | None
) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)
    if canonical is not None:
        assert ref.canonical == canonical
        assert str(ref) == canonical
    # The canonical form is a fixed point.
    assert parse_reference(ref.canonical) == ref


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("Nginx", "lowercase"),
        ("docker.io/Library/nginx", "lowercase"),
        ("ghcr.io/Org/img", "lowercase"),
        ("nginx:", "invalid tag"),
        ("nginx:-bad", "invalid tag"),
        ("nginx:" + "t" * 129, "invalid tag"),
        ("nginx@sha256:abc", "invalid digest"),
        ("nginx@sha256:" + "A" * 64, "lowercase hex"),
        ("nginx@md5:" + "a" * 32, "unsupported digest algorithm"),
        ("nginx@" + DIGEST + "@" + DIGEST, "more than one"),
        ("https://ghcr.io/a/b", "scheme"),
        (" nginx", "whitespace"),
        ("ngi nx", "whitespace"),
        ("a//b", "invalid repository path component"),
        ("a/-b", "invalid repository path component"),
        ("a/b_", "invalid repository path component"),
        ("a" * 64, "image ID"),
        ("ghcr.io/", "missing repository"),
        ("-bad.host/a", "invalid registry host"),
        ("ghcr.io/" + "a" * 250, "longer than"),
    ],
)
def test_rejects_bad_references_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_reference(text)


def test_api_host_of_docker_hub_differs_from_its_name() -> None:
    assert parse_reference("nginx").api_host == "registry-1.docker.io"
    assert parse_reference("ghcr.io/a/b").api_host == "ghcr.io"
    assert parse_reference("localhost:5000/a").api_host == "localhost:5000"


def test_manifest_reference_prefers_the_digest() -> None:
    assert parse_reference("a/b:1").manifest_reference == "1"
    assert parse_reference(f"a/b:1@{DIGEST}").manifest_reference == DIGEST
    assert parse_reference(f"a/b@{DIGEST}").manifest_reference == DIGEST


def test_with_digest_pins_and_drops_the_tag() -> None:
    ref = parse_reference("ghcr.io/a/b:1").with_digest(DIGEST)
    assert ref == ImageReference("ghcr.io", "a/b", None, DIGEST)
    assert ref.name == "ghcr.io/a/b"
    with pytest.raises(ValueError, match="invalid digest"):
        parse_reference("a").with_digest("sha256:xyz")


def test_sha512_digests_are_accepted() -> None:
    digest = "sha512:" + "b" * 128
    assert validate_digest(digest) == digest
    assert parse_reference(f"a@{digest}").digest == digest


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("127.0.0.1:5000", True),
        ("127.1.2.3", True),
        ("[::1]:5000", True),
        ("ghcr.io", False),
        ("10.0.0.1:5000", False),
        ("localhost.example.com", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
