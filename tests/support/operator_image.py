"""The operator image, as `scripts/build-image` builds it, for tests that run the operator from it.

* `Archive(path)` reads the OCI layout inside the archive: the manifest, the config, the layers.
* `Archive.unpack(rootfs)` applies the layers to a directory, as a container runtime would.
* `contained(rootfs, argv, ...)` runs a command of the image the way a pod with the chart's
  security context would: its own mount namespace, the root filesystem read-only, a fresh /tmp,
  the service-account token mounted where in-cluster config looks for it, as user 65532, with
  only the environment given. The network is the host's: the operator reaches the test API
  server on loopback.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "build-image"
CONTAINERFILE = REPO / "Containerfile"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

# Our own image, owners and modes kept. Python 3.11.4 added extraction filters (and 3.14 makes
# "data" the default); Debian 12's 3.11.2 has none, and extracts as "fully_trusted" does.
TRUSTED: dict[str, Any] = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}


class ImageBuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class Archive:
    path: Path

    def _member(self, tar: tarfile.TarFile, name: str) -> IO[bytes]:
        handle = tar.extractfile(f"./{name}")
        if handle is None:
            raise ImageBuildError(f"{self.path}: {name} is not a regular file")
        return handle

    def _blob(self, tar: tarfile.TarFile, digest: str) -> IO[bytes]:
        algorithm, hex_digest = digest.split(":", 1)
        return self._member(tar, f"blobs/{algorithm}/{hex_digest}")

    def index(self) -> dict[str, Any]:
        with tarfile.open(self.path) as tar:
            index: dict[str, Any] = json.load(self._member(tar, "index.json"))
            return index

    def manifest_digest(self) -> str:
        (descriptor,) = self.index()["manifests"]
        digest: str = descriptor["digest"]
        return digest

    def manifest(self) -> dict[str, Any]:
        with tarfile.open(self.path) as tar:
            manifest: dict[str, Any] = json.load(self._blob(tar, self.manifest_digest()))
            return manifest

    def config(self) -> dict[str, Any]:
        digest = self.manifest()["config"]["digest"]
        with tarfile.open(self.path) as tar:
            config: dict[str, Any] = json.load(self._blob(tar, digest))
            return config

    def unpack(self, rootfs: Path) -> Path:
        """Apply the layers in order (one today), keeping owners and modes: run as root."""
        rootfs.mkdir(parents=True, exist_ok=True)
        with tarfile.open(self.path) as outer:
            for layer in self.manifest()["layers"]:
                with tarfile.open(fileobj=self._blob(outer, layer["digest"]), mode="r|*") as inner:
                    inner.extractall(rootfs, **TRUSTED)
        return rootfs


def contained(
    rootfs: Path,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    service_account: Path | None = None,
    user: str = "65532:65532",
) -> list[str]:
    """The command line that runs `argv` inside the unpacked image (see the module docstring).
    The mount points are made in the unpacked copy first; the copy is the test's own."""
    mounts = [f"mount --bind {shlex.quote(str(rootfs))} {shlex.quote(str(rootfs))}"]
    (rootfs / "tmp").mkdir(exist_ok=True)
    (rootfs / "proc").mkdir(exist_ok=True)
    mounts.append(f"mount -t tmpfs -o mode=1777,size=64m tmpfs {shlex.quote(str(rootfs / 'tmp'))}")
    mounts.append(f"mount -t proc proc {shlex.quote(str(rootfs / 'proc'))}")
    # Runtimes give a container /dev; the host's, as a container engine would bind it.
    (rootfs / "dev").mkdir(exist_ok=True)
    mounts.append(f"mount --rbind /dev {shlex.quote(str(rootfs / 'dev'))}")
    if service_account is not None:
        target = rootfs / SERVICE_ACCOUNT_DIR.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        mounts.append(f"mount --bind -o ro {shlex.quote(str(service_account))} {shlex.quote(str(target))}")
    mounts.append(f"mount -o remount,bind,ro {shlex.quote(str(rootfs))}")
    environment = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
    # The image has no env(1): the host's clears the environment, then chroot enters the image.
    chroot = "/usr/sbin/chroot"
    enter = f"{chroot} --userspec={user} {shlex.quote(str(rootfs))}"
    run = f"exec env -i {environment} {enter} {shlex.join(argv)}"
    script = " && ".join([*mounts, run])
    # --propagation private: nothing mounted here leaks back to the host's mount table.
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


def can_contain() -> str | None:
    """Why `contained` cannot work on this machine, or None."""
    if os.geteuid() != 0:
        return "building and running the operator image needs root (mmdebstrap's root mode, chroot, mounts)"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"no mount namespace here: unshare --mount failed: {probe.stderr.strip()}"
    return None
