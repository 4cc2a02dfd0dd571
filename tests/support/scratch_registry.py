"""A private no-auth registry a test can stop and start again on the same port (outages)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx2
import yaml

from tests.support.registries import free_port


class ScratchRegistry:
    def __init__(self) -> None:
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.workdir = Path(tempfile.mkdtemp(prefix="aim-scratch-registry-"))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("docker-registry")
        if binary is None:
            raise RuntimeError("docker-registry is not installed: run scripts/install-test-deps")
        config = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.workdir / "data")}},
            "http": {"addr": self.host, "secret": "scratch"},
        }
        path = self.workdir / "config.yml"
        path.write_text(yaml.safe_dump(config))
        log = (self.workdir / "registry.log").open("ab")
        self.process = subprocess.Popen([binary, "serve", str(path)], stdout=log, stderr=log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx2.get(f"{self.url}/v2/", timeout=1).status_code == 200:
                    return
            except httpx2.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"scratch registry on {self.host} did not start; see {self.workdir}/registry.log")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
