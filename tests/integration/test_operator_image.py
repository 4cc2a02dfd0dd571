"""The operator image that `scripts/build-image` builds without a container engine: what it holds,
how it is configured (the same as the Containerfile says), that it runs read-only as a non-root
user, and that aim-engine's own `inspect` reads it from the registry it was pushed to."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from aim_engine import __version__
from tests.integration.conftest import IMAGE_GROUP, BuiltImage
from tests.support.operator_image import CONTAINERFILE, contained

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(IMAGE_GROUP)]

REPO = Path(__file__).resolve().parents[2]


def containerfile_final_stage() -> dict[str, list[str]]:
    """The final stage's instructions (after the last FROM), continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", CONTAINERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    last_from = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    stage: dict[str, list[str]] = {}
    for line in lines[last_from:]:
        keyword, _, rest = line.partition(" ")
        stage.setdefault(keyword.upper(), []).append(rest.strip())
    return stage


def key_values(arguments: list[str]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for argument in arguments:
        for word in shlex.split(argument):
            key, _, value = word.partition("=")
            pairs[key] = value
    return pairs


def test_image_config_is_the_containerfiles(operator_image: BuiltImage) -> None:
    config = operator_image.archive.config()
    assert config["os"] == "linux" and config["architecture"] == "amd64"
    runtime = config["config"]
    user, _, group = runtime["User"].partition(":")
    assert user.isdigit() and int(user) != 0 and group.isdigit(), "numeric non-root user (runAsNonRoot)"
    assert runtime["Entrypoint"] == ["/usr/local/bin/aim-engine"]
    assert "Cmd" not in runtime or not runtime["Cmd"]
    labels = runtime["Labels"]
    assert labels["org.opencontainers.image.version"] == __version__
    assert labels["org.opencontainers.image.source"].startswith("https://")

    stage = containerfile_final_stage()
    assert stage["FROM"] == ["scratch"]
    assert stage["COPY"] == ["--from=rootfs /rootfs/ /"]
    assert stage["USER"] == [runtime["User"]]
    assert [json.loads(e) for e in stage["ENTRYPOINT"]] == [runtime["Entrypoint"]]
    assert stage["WORKDIR"] == [runtime["WorkingDir"]]
    assert key_values(stage["ENV"]) == dict(e.split("=", 1) for e in runtime["Env"])
    assert key_values(stage["LABEL"]) == labels
    # Both build the root filesystem with the same script.
    assert "deploy/image/build-rootfs /rootfs" in CONTAINERFILE.read_text()
    assert "deploy/image/build-rootfs" in (REPO / "scripts" / "build-image").read_text()


def test_image_holds_only_what_the_operator_needs(operator_image: BuiltImage) -> None:
    rootfs = operator_image.rootfs
    present = {str(p.relative_to(rootfs)) for p in rootfs.rglob("*")}
    tools = ("gcc", "cc", "c++", "g++", "make", "ld", "as", "pip", "pip3", "uv", "apt", "apt-get", "dpkg")
    for tool in (*tools, "sh", "bash"):
        assert f"usr/bin/{tool}" not in present, f"{tool} in the image"
    for cache in ("var/cache/apt", "var/lib/apt", "var/lib/dpkg", "root/.cache"):
        assert cache not in present, f"{cache} in the image"
    assert not [p for p in present if p.endswith((".whl", ".deb", ".a", ".h"))]
    site = rootfs / "opt" / "aim-engine" / "lib"
    assert (site / "aim_engine" / "cli" / "__init__.py").is_file()
    assert not (site / "pip").exists() and not (site / "setuptools").exists()
    layers = operator_image.archive.manifest()["layers"]
    assert len(layers) == 1
    assert sum(layer["size"] for layer in layers) < 60 * 1024 * 1024, "compressed image under 60 MiB"


def test_image_runs_read_only_as_its_user(operator_image: BuiltImage) -> None:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
    version = subprocess.run(
        contained(operator_image.rootfs, ["aim-engine", "--version"], env=env),
        capture_output=True,
        text=True,
        check=False,
    )
    assert (version.returncode, version.stdout) == (0, f"aim-engine {__version__}\n"), version.stderr
    probe = (
        "import os, errno\n"
        "print(os.getuid(), os.getgid())\n"
        "try:\n    open('/opt/aim-engine/x', 'w')\n"
        "except OSError as e:\n    print(errno.errorcode[e.errno])\n"
    )
    checked = subprocess.run(
        contained(operator_image.rootfs, ["/usr/bin/python3.11", "-c", probe], env=env),
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.stdout.split("\n")[:2] == ["65532 65532", "EROFS"], checked.stderr


def test_pushed_image_is_inspected_by_aim_engine(operator_image: BuiltImage) -> None:
    inspected = subprocess.run(
        [str(REPO / ".venv" / "bin" / "aim-engine"), "inspect", operator_image.pushed, "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert inspected.returncode == 0, inspected.stderr
    report = json.loads(inspected.stdout)
    assert report["digest"] == operator_image.archive.manifest_digest()
    assert report["originalLabels"]["org.opencontainers.image.version"] == __version__
