"""Print the path of the pinned uv binary, fetching it first when it is not cached.

uv's version and the hashes of its wheels come from uv.lock (the `bootstrap` dependency group of
pyproject.toml), so the lock file stays the one source of versions. The wheel for this machine is
downloaded from the URL the lock records, checked against the lock's SHA-256, and its `uv` binary
kept in ${XDG_CACHE_HOME:-~/.cache}/aim-engine/uv-VERSION/uv.

Only the standard library is used: Debian's own python3 refuses `pip install` (PEP 668,
EXTERNALLY-MANAGED) and ships neither pip nor `venv`'s ensurepip without extra packages, so a
bootstrap that needs either fails on the very machine the README names.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import tempfile
import tomllib
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROG = "fetch_uv.py"


class FetchError(Exception):
    """Why the pinned uv could not be had; the message says what to do."""


def locked_uv(lock: Path) -> tuple[str, list[dict[str, object]]]:
    """uv's version and its wheels (url, hash, size) as uv.lock records them."""
    data = tomllib.loads(lock.read_text())
    for package in data.get("package", []):
        if package.get("name") == "uv":
            return str(package["version"]), list(package.get("wheels", []))
    raise FetchError(f"{lock} locks no uv: add uv to the bootstrap dependency group and run `uv lock`")


def wheel_tags(url: str) -> list[str]:
    """The platform tags of a wheel file name (`uv-0.1-py3-none-manylinux_2_17_x86_64.whl`)."""
    name = url.rsplit("/", 1)[-1].removesuffix(".whl")
    return name.split("-")[-1].split(".")


def machine_tags(system: str, machine: str, libc: str) -> tuple[str, tuple[str, ...]]:
    """The tag family this machine runs (manylinux, musllinux, macosx) and its architecture names."""
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine.lower(), machine.lower())
    if system == "Linux":
        return ("musllinux" if libc == "musl" else "manylinux"), (arch,)
    if system == "Darwin":
        return "macosx", ("arm64" if arch == "aarch64" else arch, "universal2")
    raise FetchError(f"no uv wheel is known for {system}; install uv yourself and run `uv sync --locked`")


def choose_wheel(wheels: list[dict[str, object]], system: str, machine: str, libc: str) -> dict[str, object]:
    """The locked wheel that runs here: the right family and architecture."""
    family, arches = machine_tags(system, machine, libc)
    for wheel in wheels:
        for tag in wheel_tags(str(wheel["url"])):
            if tag.startswith(family) and tag.endswith(arches):
                return wheel
    raise FetchError(f"uv.lock has no uv wheel for {family} {'/'.join(arches)}")


def download(url: str, expected: str, target: Path) -> None:
    """Fetch url into target, refusing it unless its SHA-256 is the locked one."""
    algorithm, _, want = expected.partition(":")
    digest = hashlib.new(algorithm)
    try:
        with urllib.request.urlopen(url, timeout=120) as response, target.open("wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise FetchError(f"could not download {url}: {exc}; the first run needs PyPI") from exc
    if digest.hexdigest() != want:
        raise FetchError(
            f"{url} has {algorithm} {digest.hexdigest()}, but uv.lock says {want}: not used "
            "(a proxy or mirror changed it?)"
        )


def unpack_uv(wheel: Path, target: Path) -> None:
    """Copy the wheel's `uv` binary (WHEEL.data/scripts/uv) to target, executable, atomically."""
    with zipfile.ZipFile(wheel) as archive:
        member = next((n for n in archive.namelist() if n.endswith(".data/scripts/uv")), None)
        if member is None:
            raise FetchError(f"{wheel.name} holds no uv binary")
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        with archive.open(member) as source, partial.open("wb") as out:
            while chunk := source.read(1 << 20):
                out.write(chunk)
    partial.chmod(0o755)
    os.replace(partial, target)  # concurrent first runs each write their own file; one wins


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aim-engine"


def pinned_uv(lock: Path = ROOT / "uv.lock") -> Path:
    """The cached pinned uv binary, fetched and verified on first use."""
    version, wheels = locked_uv(lock)
    binary = cache_dir() / f"uv-{version}" / "uv"
    if os.access(binary, os.X_OK):
        return binary
    libc = "glibc" if platform.libc_ver()[0] == "glibc" else "musl"  # musl answers ""
    wheel = choose_wheel(wheels, platform.system(), platform.machine(), libc)
    binary.parent.mkdir(parents=True, exist_ok=True)
    print(f"{PROG}: fetching uv {version} (first run only) into {binary.parent}", file=sys.stderr)
    with tempfile.TemporaryDirectory(dir=binary.parent) as work:
        downloaded = Path(work) / str(wheel["url"]).rsplit("/", 1)[-1]
        download(str(wheel["url"]), str(wheel["hash"]), downloaded)
        unpack_uv(downloaded, binary)
    return binary


def main() -> int:
    try:
        print(pinned_uv())
    except FetchError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
