"""`aim-engine inspect` against the real registries: table, JSON and YAML output, credentials from a
Docker config file, --platform, --ca-bundle, --insecure-registry, and one-line failures with an
exit status per kind."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aim_engine.cli import main
from tests.support.registries import Registries
from tests.support.registry_testing import BASE_IMAGE, amd64, arm64, builder, unique_repository

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def no_user_docker_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never read the credentials of whoever runs the tests."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))


@pytest.fixture(scope="module")
def multi_arch(registries: Registries) -> str:
    repository = unique_repository()
    with builder(registries, registries.noauth) as b:
        b.push_index(repository, "0.8.4", [amd64(), arm64()])
    return registries.noauth.image(repository, "0.8.4")


def docker_config(tmp_path: Path, host: str, username: str, password: str, name: str = "config.json") -> Path:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    path = tmp_path / name
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return path


def test_table_output(multi_arch: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", multi_arch]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["IMAGE", multi_arch]
    assert any(line.startswith("DIGEST") and "sha256:" in line for line in lines)
    assert any(line.startswith("INDEX DIGEST") for line in lines)
    assert any(line.split()[:2] == ["PLATFORM", "linux/amd64"] for line in lines)
    assert any(
        line.startswith("CANONICAL NAME") and "meta-llama/Llama-3.1-8B-Instruct" in line for line in lines
    )
    assert any(line.startswith("BASE IMAGE") and BASE_IMAGE in line for line in lines)
    header = next(i for i, line in enumerate(lines) if line.startswith("GPU"))
    assert lines[header].split() == ["GPU", "COUNT", "PRECISION", "METRIC", "PROFILE", "ID"]
    assert lines[header + 1].split() == ["MI300X", "1", "fp16", "latency", "-"]
    assert lines[header + 2].split() == ["MI325X", "8", "fp8", "throughput", "p-8"]


def test_json_output_is_the_status_shape_plus_digest(
    multi_arch: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", multi_arch, "-o", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["digest"].startswith("sha256:")
    assert document["indexDigest"].startswith("sha256:")
    assert document["model"]["canonicalName"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert document["model"]["recommendedDeployments"][1] == {
        "gpuModel": "MI325X",
        "gpuCount": 8,
        "precision": "fp8",
        "metric": "throughput",
        "profileId": "p-8",
    }
    assert document["oci"]["title"] == "aim test image"
    assert document["originalLabels"]["com.amd.aim.model.canonicalName"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert document["baseImageRef"] == BASE_IMAGE
    assert set(document) == {
        "image",
        "digest",
        "indexDigest",
        "model",
        "oci",
        "originalLabels",
        "baseImageRef",
    }


def test_yaml_output_and_platform(multi_arch: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", multi_arch, "-o", "json"]) == 0
    amd = json.loads(capsys.readouterr().out)
    assert main(["inspect", multi_arch, "-o", "yaml", "--platform", "linux/arm64"]) == 0
    arm = yaml.safe_load(capsys.readouterr().out)
    assert arm["model"]["canonicalName"] == "arm/model-for-arm64"
    assert arm["digest"] != amd["digest"]
    assert arm["indexDigest"] == amd["indexDigest"]


def test_credentials_from_docker_config(
    registries: Registries, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = registries.tls
    repository = unique_repository()
    with builder(registries, endpoint) as b:
        b.push_image(repository, "1", amd64())
    image = endpoint.image(repository, "1")
    config = docker_config(
        tmp_path, f"https://{endpoint.host}", endpoint.username or "", endpoint.password or ""
    )
    assert main(["inspect", image, "--docker-config", str(config), "--ca-bundle", registries.ca_bundle]) == 0
    assert BASE_IMAGE in capsys.readouterr().out

    # Also the default location ($DOCKER_CONFIG/config.json), like docker and skopeo.
    os.environ["DOCKER_CONFIG"] = str(tmp_path)
    assert main(["inspect", image, "--ca-bundle", registries.ca_bundle, "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["baseImageRef"] == BASE_IMAGE

    # Without the CA the certificate is refused, unless the registry is listed as insecure.
    assert main(["inspect", image]) == 5
    assert "certificate" in capsys.readouterr().err
    assert main(["inspect", image, "--insecure-registry", endpoint.host]) == 0


@pytest.mark.parametrize(
    ("case", "code", "needle"),
    [
        ("wrong-password", 3, "refused"),
        ("no-credentials", 3, "requires authentication"),
        ("missing-tag", 4, "tag 'absent' not found"),
        ("missing-repository", 4, "repository"),
        ("bad-labels", 6, "recommendedDeployments"),
        ("bad-reference", 2, "must be lowercase"),
        ("bad-docker-config", 7, "Docker config"),
        ("unreachable", 5, "cannot reach"),
    ],
)
def test_failures_are_one_line_with_an_exit_status(
    registries: Registries,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    code: int,
    needle: str,
) -> None:
    endpoint = registries.basic
    repository = unique_repository()
    with builder(registries, endpoint) as b:
        b.push_image(repository, "1", amd64())
        b.push_image(
            repository, "bad", amd64({"com.amd.aim.model.recommendedDeployments": "[{'gpuModel': 'MI300X',"})
        )
    image = endpoint.image(repository, "1")
    good_config = docker_config(tmp_path, endpoint.host, endpoint.username or "", endpoint.password or "")
    args = {
        "wrong-password": [
            image,
            "--docker-config",
            str(docker_config(tmp_path, endpoint.host, "aimuser", "nope-x", "wrong.json")),
        ],
        "no-credentials": [image],
        "missing-tag": [endpoint.image(repository, "absent"), "--docker-config", str(good_config)],
        "missing-repository": [endpoint.image(unique_repository(), "1"), "--docker-config", str(good_config)],
        "bad-labels": [endpoint.image(repository, "bad"), "--docker-config", str(good_config)],
        "bad-reference": ["127.0.0.1:1/UPPER/case:1"],
        "bad-docker-config": [image, "--docker-config", str(tmp_path / "missing.json")],
        "unreachable": ["127.0.0.1:1/aim/x:1"],
    }[case]
    assert main(["inspect", *args]) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("aim-engine inspect: error: ")
    assert needle in lines[0]
    assert args[0] in lines[0]
    assert "Traceback" not in captured.err
    assert "aimpass" not in captured.err and "nope-x" not in captured.err


def test_real_process_exit_status_and_stderr(registries: Registries, tmp_path: Path) -> None:
    image = registries.basic.image(unique_repository(), "1")
    config = docker_config(tmp_path, registries.basic.host, "aimuser", "wrong-secret-pw")
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path / "none")}
    completed = subprocess.run(
        [sys.executable, "-m", "aim_engine.cli", "inspect", image, "--docker-config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert completed.returncode == 3
    assert completed.stdout == ""
    assert completed.stderr.count("\n") == 1
    assert image in completed.stderr and registries.basic.host in completed.stderr
    assert "wrong-secret-pw" not in completed.stderr


def test_bad_platform_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["inspect", "nginx", "--platform", "amd64"])
    assert caught.value.code == 2
    assert "invalid platform" in capsys.readouterr().err
