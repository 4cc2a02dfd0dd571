"""scripts/fetch_uv.py, the standard-library bootstrap of the pinned uv: which locked wheel it takes
for a machine, and that it refuses a download whose hash is not the lock's."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_fetch_uv() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fetch_uv", REPO / "scripts" / "fetch_uv.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fetch_uv = load_fetch_uv()


def file_name(wheel: dict[str, object]) -> str:
    return str(wheel["url"]).rsplit("/", 1)[-1]


def test_the_lock_pins_uv_with_a_hash_for_every_wheel() -> None:
    version, wheels = fetch_uv.locked_uv(REPO / "uv.lock")
    assert version.count(".") == 2
    assert wheels and all(str(w["hash"]).startswith("sha256:") for w in wheels)
    assert all(file_name(w).startswith(f"uv-{version}-") for w in wheels)


@pytest.mark.parametrize(
    ("system", "machine", "libc", "tag"),
    [
        ("Linux", "x86_64", "glibc", "manylinux_2_17_x86_64"),
        ("Linux", "aarch64", "glibc", "manylinux_2_17_aarch64"),
        ("Linux", "x86_64", "musl", "musllinux_1_1_x86_64"),
        ("Darwin", "arm64", "", "macosx_11_0_arm64"),
    ],
)
def test_the_wheel_for_the_machine(system: str, machine: str, libc: str, tag: str) -> None:
    _, wheels = fetch_uv.locked_uv(REPO / "uv.lock")
    assert tag in fetch_uv.wheel_tags(str(fetch_uv.choose_wheel(wheels, system, machine, libc)["url"]))


def test_no_wheel_for_an_unknown_system_says_what_to_do() -> None:
    _, wheels = fetch_uv.locked_uv(REPO / "uv.lock")
    with pytest.raises(fetch_uv.FetchError, match="install uv yourself"):
        fetch_uv.choose_wheel(wheels, "Plan9", "x86_64", "")


def wheel_bytes(binary: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("uv-9.9.9.dist-info/WHEEL", "Wheel-Version: 1.0\n")
        archive.writestr("uv-9.9.9.data/scripts/uv", binary)
    return buffer.getvalue()


def test_a_download_with_another_hash_is_refused(tmp_path: Path) -> None:
    served = tmp_path / "uv.whl"
    served.write_bytes(wheel_bytes(b"#!/bin/sh\necho changed\n"))
    locked = "sha256:" + hashlib.sha256(b"what the lock saw").hexdigest()
    target = tmp_path / "downloaded.whl"
    with pytest.raises(fetch_uv.FetchError, match=r"uv\.lock says") as refused:
        fetch_uv.download(served.as_uri(), locked, target)
    assert hashlib.sha256(served.read_bytes()).hexdigest() in str(refused.value)


def test_a_verified_wheel_gives_an_executable_uv(tmp_path: Path) -> None:
    served = tmp_path / "uv.whl"
    served.write_bytes(wheel_bytes(b"#!/bin/sh\necho uv\n"))
    locked = "sha256:" + hashlib.sha256(served.read_bytes()).hexdigest()
    downloaded = tmp_path / "downloaded.whl"
    fetch_uv.download(served.as_uri(), locked, downloaded)
    binary = tmp_path / "bin" / "uv"
    binary.parent.mkdir()
    fetch_uv.unpack_uv(downloaded, binary)
    assert binary.read_bytes() == b"#!/bin/sh\necho uv\n" and binary.stat().st_mode & 0o111
    assert [p.name for p in binary.parent.iterdir()] == ["uv"]  # no partial file left behind


def test_an_unreachable_index_names_the_url(tmp_path: Path) -> None:
    missing = (tmp_path / "nowhere.whl").as_uri()
    with pytest.raises(fetch_uv.FetchError, match=r"could not download .*nowhere\.whl"):
        fetch_uv.download(missing, "sha256:00", tmp_path / "out.whl")
