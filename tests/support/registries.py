"""Real OCI registries for the tests: Debian's `docker-registry` (CNCF distribution 2.8) on
127.0.0.1, one process per auth mode, plus the token server for the bearer mode.

| mode   | scheme | auth                                                             |
| ------ | ------ | ---------------------------------------------------------------- |
| noauth | http   | none                                                             |
| basic  | http   | htpasswd (bcrypt)                                                |
| tls    | https  | htpasswd (bcrypt), certificate from the test CA                  |
| token  | https  | bearer tokens from tests/support/token_server.py (anonymous pull |
|        |        | on public/*)                                                     |

`RegistryFleet.start()` runs in the pytest controller process; `Registries` (the description the
workers get as JSON) is what tests use.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import bcrypt

from tests.support.pki import generate_pki

REGISTRY_BINARY = "docker-registry"
INSTALL_HINT = "install it with `sudo scripts/install-test-deps` (Debian package docker-registry)"
USERNAME, PASSWORD = "aimuser", "aimpass"
# Tokens for this user live SHORT_TTL seconds, so a test can watch the client renew them.
SHORT_USERNAME, SHORT_PASSWORD, SHORT_TTL = "shortuser", "shortpass", 2
TOKEN_ISSUER, TOKEN_SERVICE = "aim-test-issuer", "aim-test-registry"
MODES = ("noauth", "basic", "tls", "token")


@dataclass(frozen=True)
class RegistryEndpoint:
    mode: str
    host: str  # 127.0.0.1:PORT, as it appears in image references
    scheme: str
    username: str | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def image(self, repository: str, tag: str = "latest") -> str:
        return f"{self.host}/{repository}:{tag}"


@dataclass(frozen=True)
class Registries:
    """What the `registries` fixture returns."""

    noauth: RegistryEndpoint
    basic: RegistryEndpoint
    tls: RegistryEndpoint
    token: RegistryEndpoint
    ca_bundle: str
    token_url: str
    short_lived: tuple[str, str, int] = (SHORT_USERNAME, SHORT_PASSWORD, SHORT_TTL)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Registries:
        raw = json.loads(text)
        for mode in MODES:
            raw[mode] = RegistryEndpoint(**raw[mode])
        raw["short_lived"] = tuple(raw["short_lived"])
        return cls(**raw)

    def token_stats(self) -> dict[str, int]:
        """Tokens issued so far per user ("" = anonymous), from the token server."""
        context = ssl.create_default_context(cafile=self.ca_bundle)
        with urllib.request.urlopen(f"{self.token_url}/stats", context=context, timeout=5) as response:
            stats: dict[str, int] = json.load(response)["issued"]
            return stats


def _die_with_parent(command: list[str]) -> list[str]:
    """Have Linux SIGTERM the child when the test process dies, even by SIGKILL (a CI timeout),
    so no registry outlives its test run. setpriv (util-linux, essential on Debian) sets the
    parent-death signal and execs the command; a preexec_fn would not be safe with threads."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *command] if setpriv else command


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RegistryFleet:
    workdir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[BinaryIO] = field(default_factory=list)
    registries: Registries | None = None

    @classmethod
    def start(cls) -> RegistryFleet:
        binary = shutil.which(REGISTRY_BINARY)
        if binary is None:
            raise RuntimeError(f"`{REGISTRY_BINARY}` is not on PATH: {INSTALL_HINT}")
        fleet = cls(workdir=Path(tempfile.mkdtemp(prefix="aim-registries-")))
        try:
            fleet._start(binary)
        except BaseException:
            fleet.stop()
            raise
        return fleet

    def _start(self, binary: str) -> None:
        pki = generate_pki(self.workdir / "pki")
        htpasswd = self.workdir / "htpasswd"
        # Cost 4 (the minimum): distribution checks the hash on every request.
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        htpasswd.write_text(f"{USERNAME}:{hashed}\n")

        token_config = self.workdir / "token-server.json"
        token_config.write_text(
            json.dumps(
                {
                    "users": {
                        USERNAME: {"password": PASSWORD, "ttl": 300},
                        SHORT_USERNAME: {"password": SHORT_PASSWORD, "ttl": SHORT_TTL},
                    },
                    "issuer": TOKEN_ISSUER,
                    "service": TOKEN_SERVICE,
                    "signing_key": str(pki.token_key),
                    "signing_cert": str(pki.token_cert),
                    "tls_cert": str(pki.server_cert),
                    "tls_key": str(pki.server_key),
                }
            )
        )
        token_port = self._start_token_server(token_config)
        token_url = f"https://127.0.0.1:{token_port}"

        endpoints: dict[str, RegistryEndpoint] = {}
        tls = {"certificate": str(pki.server_cert), "key": str(pki.server_key)}
        for mode in MODES:
            port = free_port()
            http: dict[str, Any] = {"addr": f"127.0.0.1:{port}", "secret": "aim-test-secret"}
            auth: dict[str, Any] | None = None
            if mode in ("basic", "tls"):
                auth = {"htpasswd": {"realm": "aim-test-basic", "path": str(htpasswd)}}
            if mode in ("tls", "token"):
                http["tls"] = tls
            if mode == "token":
                auth = {
                    "token": {
                        "realm": f"{token_url}/token",
                        "service": TOKEN_SERVICE,
                        "issuer": TOKEN_ISSUER,
                        "rootcertbundle": str(pki.token_cert),
                    }
                }
            config: dict[str, Any] = {
                "version": 0.1,
                "log": {"level": "error", "accesslog": {"disabled": True}},
                "storage": {
                    "filesystem": {"rootdirectory": str(self.workdir / mode / "data")},
                    "delete": {"enabled": True},
                },
                "http": http,
            }
            if auth:
                config["auth"] = auth
            config_path = self.workdir / mode / "config.yml"
            config_path.parent.mkdir(parents=True, exist_ok=True)
            config_path.write_text(json.dumps(config))  # JSON is YAML
            log = (self.workdir / mode / "registry.log").open("wb")
            self.logs.append(log)
            process = subprocess.Popen(
                _die_with_parent([binary, "serve", str(config_path)]),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            self.processes.append(process)
            scheme = "https" if "tls" in http else "http"
            username = USERNAME if mode != "noauth" else None
            password = PASSWORD if mode != "noauth" else None
            endpoints[mode] = RegistryEndpoint(mode, f"127.0.0.1:{port}", scheme, username, password)

        for mode, endpoint in endpoints.items():
            self._wait_ready(endpoint, str(pki.ca_cert), self.workdir / mode / "registry.log")
        self.registries = Registries(
            noauth=endpoints["noauth"],
            basic=endpoints["basic"],
            tls=endpoints["tls"],
            token=endpoints["token"],
            ca_bundle=str(pki.ca_cert),
            token_url=token_url,
        )

    def _start_token_server(self, config: Path) -> int:
        script = Path(__file__).with_name("token_server.py")
        log = (self.workdir / "token-server.log").open("wb")
        self.logs.append(log)
        process = subprocess.Popen(
            # -P: do not put tests/support on sys.path (a module there may shadow the stdlib).
            _die_with_parent([sys.executable, "-P", str(script), str(config)]),
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline().decode().strip()
        if not line.startswith("READY "):
            tail = (self.workdir / "token-server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"token server did not start: {line!r}\n{tail}")
        return int(line.split()[1])

    def _wait_ready(
        self, endpoint: RegistryEndpoint, ca_bundle: str, log: Path, timeout: float = 15.0
    ) -> None:
        context = ssl.create_default_context(cafile=ca_bundle)
        deadline = time.monotonic() + timeout
        process = self.processes[1 + MODES.index(endpoint.mode)]
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{REGISTRY_BINARY} ({endpoint.mode}) exited with {process.returncode}:\n"
                    + log.read_text(errors="replace")[-2000:]
                )
            try:
                with urllib.request.urlopen(f"{endpoint.url}/v2/", context=context, timeout=2):
                    return
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    return  # up, and asking for credentials as configured
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{REGISTRY_BINARY} ({endpoint.mode}) not ready after {timeout} s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop every process we started, by PID, then remove the storage."""
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
            if process.stdout is not None:
                process.stdout.close()
        self.processes.clear()
        for log in self.logs:
            log.close()
        self.logs.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)
