"""A real Kubernetes control plane for the integration tests: process management.

etcd, kube-apiserver and kube-controller-manager (garbage collector, namespace and service-account
controllers only) are built from Go modules by ``tests/k8sbin/build.sh`` (cached outside the
repository) and started here on free loopback ports, in their own process groups, inside a
throw-away working directory:

    pki/              CA, serving certificate (verified TLS), service-account signing key
    tokens.csv        static bearer tokens: admin (system:masters), operator (no privileged group),
                      kube-controller-manager
    audit-policy.yaml write verbs at Metadata level, nothing for reads
    audit.log         JSON lines, one event per write at stage ResponseComplete (see ``AuditLog``)
    admin.kubeconfig, operator.kubeconfig
    <component>.log, <component>.pid

Everything a test process needs to use (or restart) the API server is in ``ClusterInfo``, a JSON-able
record that the pytest plugin (``kube_plugin.py``) hands from the xdist controller to the workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import datetime
import fcntl
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.models.core_v1 import Node as NodeModel
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Node
from lightkube.types import PatchType

from tests.support.pki import issue_server_cert, loopback_sans, new_ca, write_cert

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "tests" / "k8sbin" / "build.sh"
PROJECT_CRD_DIR = REPO / "deploy" / "crds"
KSERVE_CRD = REPO / "tests" / "data" / "crds" / "serving.kserve.io_inferenceservices.yaml"
"""The project's own InferenceService CRD fixture (see tests/support/kserve.py)."""

FIELD_MANAGER = "aim-engine-tests"
ADMIN_USER = "aim-test-admin"
OPERATOR_USER = "aim-engine"
KCM_USER = "system:kube-controller-manager"
OPERATOR_NAMESPACE = "aim-system"
CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
)
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})

AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    verbs: [create, update, patch, delete, deletecollection]
  - level: None
"""


class ControlPlaneError(RuntimeError):
    """The control plane could not be built or started; the message says why and where the logs are."""


# --------------------------------------------------------------------------------------------------
# binaries


def ensure_binaries(*, echo: bool = True) -> Path:
    """Return the directory holding etcd, kube-apiserver and kube-controller-manager, building them
    with ``tests/k8sbin/build.sh`` first if they are not cached yet (several minutes, once). With
    ``echo`` the script's progress goes to stderr as it comes; its errors are in the exception."""
    env = dict(os.environ)
    env.pop("GOWORK", None)  # the build module must not join a Go workspace of whoever runs the tests
    proc = subprocess.Popen(
        ["bash", str(BUILD_SCRIPT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None and proc.stdout is not None
    errors: list[str] = []
    for line in proc.stderr:
        errors.append(line)
        if echo:
            sys.stderr.write(line)
            sys.stderr.flush()
    out = proc.stdout.read()
    if proc.wait() != 0:
        detail = "".join(errors[-40:]).strip()
        raise ControlPlaneError(
            f"{BUILD_SCRIPT} failed (exit {proc.returncode}). The integration tests need a real "
            "kube-apiserver, built once from Go modules; that needs Go >= 1.26 (scripts/install-test-deps "
            "checks for it)." + (f"\n{detail}" if detail else "")
        )
    bin_dir = Path(out.strip().splitlines()[-1])
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        if not os.access(bin_dir / name, os.X_OK):
            raise ControlPlaneError(f"build.sh reported {bin_dir} but {name} is missing there")
    return bin_dir


def _build(what: str, *, build: bool) -> Path | None:
    env = {k: v for k, v in os.environ.items() if k != "GOWORK"}
    if not build:
        env["AIM_NO_BUILD"] = "1"
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT), what], check=False, capture_output=True, text=True, env=env
    )
    if proc.returncode == 3 and not build:
        return None
    if proc.returncode != 0:
        raise ControlPlaneError(
            f"{BUILD_SCRIPT} {what} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    return Path(proc.stdout.strip().splitlines()[-1])


def built(what: str) -> Path:
    """What ``tests/k8sbin/build.sh WHAT`` prints (a binary or a directory), building it first if
    it is not cached yet."""
    found = _build(what, build=True)
    assert found is not None
    return found


def built_if_cached(what: str) -> Path | None:
    """What ``tests/k8sbin/build.sh WHAT`` prints, or None when it is not built yet (for unit
    tests, which never build)."""
    return _build(what, build=False)


# --------------------------------------------------------------------------------------------------
# small utilities


def free_ports(count: int) -> list[int]:
    """Free TCP ports on 127.0.0.1, all held open together while choosing so they are distinct."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def pid_alive(pid: int) -> bool:
    """True while ``pid`` is a running (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    if state not in ("Z", "X"):
        return True
    # A zombie thread-group leader whose other threads are still exiting still holds its files
    # (listening sockets included).
    try:
        return len(os.listdir(f"/proc/{pid}/task")) > 1
    except FileNotFoundError:
        return False


def port_free(port: int) -> bool:
    """True when a listener could bind 127.0.0.1:``port`` now (with SO_REUSEADDR, as Go does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(
    argv: Sequence[str],
    log_path: Path,
    pid_path: Path,
    *,
    die_with_parent: bool,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session (its own process group), output appended to ``log_path``, its
    PID written to ``pid_path``. ``die_with_parent`` makes the kernel kill it when the calling thread
    exits (use it only from the thread that lives as long as the process should). ``env`` replaces
    the environment."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            list(argv),
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Only ever set from a thread-free moment (session start, the owner's main thread).
            preexec_fn=_die_with_parent if die_with_parent else None,  # noqa: PLW1509
        )
    pid_path.write_text(f"{proc.pid}\n")
    return proc


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal the process group led by ``pid`` (each component is started as a group leader)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def read_pid(pid_path: Path) -> int | None:
    try:
        return int(pid_path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------------------------------
# PKI


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    sa_key: Path
    sa_pub: Path


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_pki(directory: Path) -> Pki:
    """A CA, a serving certificate for 127.0.0.1/localhost/kubernetes.default.svc signed by it (so
    clients verify TLS against ``ca.crt``), and an RSA service-account signing key."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = new_ca("aim-engine-test-ca", days=7)
    sans: list[x509.GeneralName] = [
        *loopback_sans(),
        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
        x509.DNSName("kubernetes"),
        x509.DNSName("kubernetes.default"),
        x509.DNSName("kubernetes.default.svc"),
        x509.DNSName("kubernetes.default.svc.cluster.local"),
    ]
    srv_key, srv_cert = issue_server_cert(ca_key, ca_cert, "kube-apiserver", sans, days=7)
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    pki = Pki(
        ca_cert=directory / "ca.crt",
        serving_cert=directory / "serving.crt",
        serving_key=directory / "serving.key",
        sa_key=directory / "sa.key",
        sa_pub=directory / "sa.pub",
    )
    write_cert(pki.ca_cert, ca_cert)
    write_cert(pki.serving_cert, srv_cert)
    pki.serving_key.write_bytes(_pem_key(srv_key))
    pki.sa_key.write_bytes(_pem_key(sa_key))
    pki.sa_pub.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    for key_file in (pki.serving_key, pki.sa_key):
        key_file.chmod(0o600)
    return pki


def write_kubeconfig(path: Path, *, server: str, ca_file: Path, user: str, token: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "aim-test", "cluster": {"server": server, "certificate-authority": str(ca_file)}}
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {"name": user, "context": {"cluster": "aim-test", "user": user, "namespace": "default"}}
        ],
        "current-context": user,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


# --------------------------------------------------------------------------------------------------
# audit log


@dataclass(frozen=True)
class AuditEvent:
    """One audit event (Metadata level) reduced to what tests and benchmarks count."""

    verb: str
    user: str
    groups: tuple[str, ...]
    resource: str
    subresource: str
    api_group: str
    namespace: str
    name: str
    code: int
    uri: str

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> AuditEvent:
        ref = raw.get("objectRef") or {}
        user = raw.get("user") or {}
        return cls(
            verb=str(raw.get("verb", "")),
            user=str(user.get("username", "")),
            groups=tuple(user.get("groups") or ()),
            resource=str(ref.get("resource", "")),
            subresource=str(ref.get("subresource", "")),
            api_group=str(ref.get("apiGroup", "")),
            namespace=str(ref.get("namespace", "")),
            name=str(ref.get("name", "")),
            code=int((raw.get("responseStatus") or {}).get("code", 0)),
            uri=str(raw.get("requestURI", "")),
        )


class AuditLog:
    """Reads the API server's audit log (JSON lines; the policy records only the write verbs
    create/update/patch/delete/deletecollection, at Metadata level, at stage ResponseComplete).

    The log is append-only across API-server restarts, so a byte offset is a stable mark:

        start = kube.audit.mark()
        ...  # do things
        assert kube.audit.count_writes(user=OPERATOR_USER, resource="aimmodels", since=start) <= 14

    In blocking mode (the default used here) the event is on disk before the client has the whole
    response, so a count taken after an awaited request includes it. Writes by the API server itself
    (leases) and by kube-controller-manager are in the log too: filter by ``user``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        """The current end of the log, to pass as ``since``."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def events(self, since: int = 0) -> list[AuditEvent]:
        """All complete write events appended after offset ``since``."""
        try:
            with self.path.open("rb") as f:
                f.seek(since)
                data = f.read()
        except FileNotFoundError:
            return []
        out: list[AuditEvent] = []
        for line in data.split(b"\n")[:-1]:  # the last piece is empty or a line still being written
            if not line.strip():
                continue
            raw = json.loads(line)
            if raw.get("stage") != "ResponseComplete":
                continue
            out.append(AuditEvent.from_json(raw))
        return out

    def writes(
        self,
        *,
        user: str | None = None,
        resource: str | None = None,
        namespace: str | None = None,
        verb: str | None = None,
        api_group: str | None = None,
        since: int = 0,
        succeeded: bool | None = None,
    ) -> list[AuditEvent]:
        """Write events matching every filter given. ``resource`` is a plural resource name
        ("configmaps", "aimmodels") matching the resource with any subresource, or "plural/sub"
        ("aimmodels/status") matching only that subresource. ``succeeded``: True keeps 2xx
        responses, False keeps the rest, None (default) counts every attempt."""
        plain, _, sub = (resource or "").partition("/")
        out = []
        for ev in self.events(since):
            if ev.verb not in WRITE_VERBS:
                continue
            if user is not None and ev.user != user:
                continue
            if resource is not None and (ev.resource != plain or (sub and ev.subresource != sub)):
                continue
            if namespace is not None and ev.namespace != namespace:
                continue
            if verb is not None and ev.verb != verb:
                continue
            if api_group is not None and ev.api_group != api_group:
                continue
            if succeeded is not None and (200 <= ev.code < 300) != succeeded:
                continue
            out.append(ev)
        return out

    def count_writes(
        self,
        user: str | None = None,
        resource: str | None = None,
        since: int = 0,
        *,
        namespace: str | None = None,
        verb: str | None = None,
        api_group: str | None = None,
        succeeded: bool | None = None,
    ) -> int:
        """Number of API writes (see ``writes``) after offset ``since``. Every filter is optional."""
        return len(
            self.writes(
                user=user,
                resource=resource,
                since=since,
                namespace=namespace,
                verb=verb,
                api_group=api_group,
                succeeded=succeeded,
            )
        )

    async def wait_for_writes(self, expected: int, *, within: float = 5.0, **filters: Any) -> int:
        """Poll ``count_writes(**filters)`` until it reaches ``expected`` (or ``within`` seconds
        pass) and return the count then, which may also be larger: assert on the result."""
        deadline = time.monotonic() + within
        while True:
            count = self.count_writes(**filters)
            if count >= expected or time.monotonic() > deadline:
                return count
            await asyncio.sleep(0.02)


# --------------------------------------------------------------------------------------------------
# the cluster description handed to every test process


@dataclass
class ClusterInfo:
    workdir: str
    bin_dir: str
    server: str
    ca_file: str
    admin_token: str
    operator_token: str
    kubeconfig_path: str
    operator_kubeconfig_path: str
    audit_log_path: str
    etcd_url: str
    apiserver_argv: list[str]
    owner_pid: int
    timings: dict[str, float] = field(default_factory=dict)
    crds: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ClusterInfo:
        return cls(**json.loads(text))

    @property
    def path(self) -> Path:
        return Path(self.workdir)

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)


def _component_paths(workdir: Path, name: str) -> tuple[Path, Path]:
    return workdir / f"{name}.log", workdir / f"{name}.pid"


# --------------------------------------------------------------------------------------------------
# readiness


def wait_http(
    url: str,
    *,
    deadline: float,
    what: str,
    log: Path,
    proc: subprocess.Popen[bytes] | None = None,
    verify: ssl.SSLContext | bool = True,
    token: str | None = None,
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    last = ""
    with httpx2.Client(verify=verify, timeout=2.0, trust_env=False) as client:
        while True:
            if proc is not None and proc.poll() is not None:
                raise ControlPlaneError(f"{what} exited with {proc.returncode}; log {log}:\n{log_tail(log)}")
            try:
                r = client.get(url, headers=headers)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}: {r.text[-500:]}"
            except httpx2.HTTPError as exc:
                last = repr(exc)
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"{what} not ready at {url}: {last}; log {log}:\n{log_tail(log)}")
            time.sleep(0.05)


async def _await_http(
    url: str, *, deadline: float, what: str, log: Path, verify: ssl.SSLContext, token: str
) -> None:
    last = ""
    async with httpx2.AsyncClient(verify=verify, timeout=2.0, trust_env=False) as client:
        while True:
            try:
                r = await client.get(url, headers={"Authorization": f"Bearer {token}"})
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}: {r.text[-500:]}"
            except httpx2.HTTPError as exc:
                last = repr(exc)
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"{what} not ready at {url}: {last}; log {log}:\n{log_tail(log)}")
            await asyncio.sleep(0.05)


# --------------------------------------------------------------------------------------------------
# CRDs


def crd_documents(paths: Sequence[Path]) -> dict[str, dict[str, Any]]:
    """CustomResourceDefinition documents from the given YAML files, by name (a later file wins)."""
    out: dict[str, dict[str, Any]] = {}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for path in paths:
        with path.open("rb") as f:
            for doc in yaml.load_all(f, Loader=loader):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    out[doc["metadata"]["name"]] = doc
    return out


def default_crd_files() -> list[Path]:
    """Every ``deploy/crds/*.yaml`` present now, plus the InferenceService CRD fixture."""
    files = sorted(PROJECT_CRD_DIR.glob("*.yaml")) + sorted(PROJECT_CRD_DIR.glob("*.yml"))
    files.append(KSERVE_CRD)
    return files


def _served_list_path(doc: dict[str, Any]) -> str:
    spec = doc["spec"]
    version = next(v["name"] for v in spec["versions"] if v.get("served", True))
    return f"/apis/{spec['group']}/{version}/{spec['names']['plural']}"


def apply_crds(info: ClusterInfo, docs: dict[str, dict[str, Any]], *, timeout: float = 60.0) -> None:
    """Server-side apply each CRD (field manager ``aim-engine-tests``, forced; no last-applied
    annotation, so the 2 MB KServe CRD fits) and wait until each is Established and its resource is
    actually served: a list returns 200 (right after Established the API server still answers 429
    while the resource's watch cache initialises). Polling the resource, not the CRD, keeps the
    wait cheap: a GET of the KServe CRD moves 2 MB per poll."""
    base = f"{info.server}/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    headers = {"Authorization": f"Bearer {info.admin_token}"}
    # The biggest first: the API server digests it while the small ones are sent.
    order = sorted(docs.items(), key=lambda kv: -len(json.dumps(kv[1])))
    with httpx2.Client(verify=info.ssl_context(), timeout=60.0, trust_env=False, headers=headers) as client:
        for name, doc in order:
            r = client.patch(
                f"{base}/{name}",
                params={"fieldManager": FIELD_MANAGER, "force": "true"},
                content=json.dumps(doc).encode(),
                headers={"Content-Type": "application/apply-patch+yaml"},
            )
            if r.status_code >= 300:
                raise ControlPlaneError(f"applying CRD {name} failed: HTTP {r.status_code} {r.text[:2000]}")
        pending = {name: _served_list_path(doc) for name, doc in docs.items()}
        deadline = time.monotonic() + timeout
        while pending:
            for name, path in sorted(pending.items()):
                r = client.get(f"{info.server}{path}", params={"limit": "1"})
                if r.status_code == 200:
                    del pending[name]
            if pending and time.monotonic() > deadline:
                raise ControlPlaneError(f"CRDs not served {timeout}s after applying them: {sorted(pending)}")
            if pending:
                time.sleep(0.05)
        # Discovery lags behind serving. kube-controller-manager's garbage collector finds resource
        # types through discovery when it starts and then only every 30 s, so wait until (aggregated)
        # discovery lists every served version of every CRD.
        wanted = {
            (doc["spec"]["group"], v["name"], doc["spec"]["names"]["plural"])
            for doc in docs.values()
            for v in doc["spec"]["versions"]
            if v.get("served", True)
        }
        while wanted:
            r = client.get(
                f"{info.server}/apis",
                headers={"Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"},
            )
            if r.status_code == 200:
                wanted -= {
                    (group["metadata"]["name"], version["version"], resource["resource"])
                    for group in r.json().get("items") or []
                    for version in group.get("versions") or []
                    for resource in version.get("resources") or []
                }
            if wanted and time.monotonic() > deadline:
                raise ControlPlaneError(f"CRD resources missing from discovery: {sorted(wanted)}")
            if wanted:
                time.sleep(0.05)


def ensure_namespace(info: ClusterInfo, name: str) -> None:
    headers = {"Authorization": f"Bearer {info.admin_token}"}
    with httpx2.Client(verify=info.ssl_context(), timeout=10.0, trust_env=False, headers=headers) as client:
        r = client.post(
            f"{info.server}/api/v1/namespaces",
            params={"fieldManager": FIELD_MANAGER},
            json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        )
        if r.status_code not in (201, 409):
            raise ControlPlaneError(f"creating namespace {name} failed: HTTP {r.status_code} {r.text[:500]}")


# --------------------------------------------------------------------------------------------------
# the control plane


APISERVER_READY_TIMEOUT = 60.0


class ControlPlane:
    """Owns the three processes and the working directory. ``start()`` once, ``stop()`` at the end
    (idempotent; also registered with atexit by the plugin). Components run in their own process
    groups and are killed by PID (process group), never by name; those started by this object also
    die with the thread that started them (PR_SET_PDEATHSIG), so even a SIGKILLed test run leaves
    nothing behind."""

    def __init__(
        self,
        *,
        bin_dir: Path | None = None,
        keep_workdir: bool | None = None,
        extra_controllers: Sequence[str] = (),
    ) -> None:
        self._bin_dir = bin_dir
        # e.g. ("deployment-controller", "replicaset-controller") for a test that installs the
        # chart and watches a `helm upgrade` roll its Deployment; the default set is the one the
        # operator's own tests need (garbage collection, namespaces, service accounts).
        self._controllers = ",".join([*CONTROLLERS, *(c for c in extra_controllers if c not in CONTROLLERS)])
        self.keep_workdir = (
            os.environ.get("AIM_KUBE_KEEP", "") not in ("", "0") if keep_workdir is None else keep_workdir
        )
        self.info: ClusterInfo | None = None
        self._procs: list[subprocess.Popen[bytes]] = []
        self._stopped = False
        self._lock = threading.Lock()
        self._workdir: Path | None = None

    # -- start ---------------------------------------------------------------------------------

    def start(self, *, crd_files: Sequence[Path] | None = None, echo: bool = True) -> ClusterInfo:
        t0 = time.monotonic()
        timings: dict[str, float] = {}
        bin_dir = self._bin_dir or ensure_binaries(echo=echo)
        timings["binaries"] = time.monotonic() - t0

        for attempt in (1, 2):
            workdir = Path(tempfile.mkdtemp(prefix="aim-kube-"))
            try:
                return self._start_in(workdir, bin_dir, timings, t0, crd_files)
            except ControlPlaneError as exc:
                self._discard(workdir)
                # The free ports are picked before the servers bind them; another process may have
                # taken one in between. Try once more with fresh ports.
                if attempt == 2 or "address already in use" not in str(exc):
                    self.stop()
                    raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def _discard(self, workdir: Path) -> None:
        """Kill what an attempt started and remove its directory (before a retry)."""
        for proc in self._procs:
            kill_group(proc.pid)
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        self._procs.clear()
        shutil.rmtree(workdir, ignore_errors=True)

    def _start_in(
        self,
        workdir: Path,
        bin_dir: Path,
        timings: dict[str, float],
        t0: float,
        crd_files: Sequence[Path] | None,
    ) -> ClusterInfo:
        self._workdir = workdir
        pki = make_pki(workdir / "pki")
        etcd_client, etcd_peer, api_port, kcm_port = free_ports(4)
        admin_token, operator_token, kcm_token = (secrets.token_urlsafe(24) for _ in range(3))
        tokens = workdir / "tokens.csv"
        tokens.write_text(
            f'{admin_token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n'
            f"{operator_token},{OPERATOR_USER},{OPERATOR_USER}\n"
            f'{kcm_token},{KCM_USER},{KCM_USER},"system:masters"\n'
        )
        tokens.chmod(0o600)
        policy = workdir / "audit-policy.yaml"
        policy.write_text(AUDIT_POLICY)
        audit_log = workdir / "audit.log"
        server = f"https://127.0.0.1:{api_port}"
        etcd_url = f"http://127.0.0.1:{etcd_client}"
        timings["pki"] = time.monotonic() - t0

        # etcd
        log, pid = _component_paths(workdir, "etcd")
        peer = f"http://127.0.0.1:{etcd_peer}"
        etcd = spawn(
            [
                str(bin_dir / "etcd"),
                "--name=aim",
                f"--data-dir={workdir / 'etcd-data'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=aim={peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            log,
            pid,
            die_with_parent=True,
        )
        self._procs.append(etcd)
        etcd_log = log

        # kube-apiserver
        apiserver_argv = [
            str(bin_dir / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={api_port}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--token-auth-file={tokens}",
            "--authorization-mode=RBAC",
            "--anonymous-auth=true",  # /readyz etc. stay reachable, as in a real cluster
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            "--service-cluster-ip-range=10.0.0.0/24",
            f"--audit-policy-file={policy}",
            f"--audit-log-path={audit_log}",
            "--audit-log-format=json",
            "--audit-log-mode=blocking",
            # Priority & fairness adds bootstrap objects and per-user queuing; benchmarks want the
            # plain max-in-flight limits instead.
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--enable-logs-handler=false",
            # The default "lease" reconciler tries every 10 s to publish 127.0.0.1 as the kubernetes
            # Service's endpoint, which validation rejects (loopback): an error and an audited write
            # attempt each time, for nothing (no traffic goes through Services here).
            "--endpoint-reconciler-type=none",
            # Without it a graceful stop (SIGTERM) waits about a minute for open watches.
            "--shutdown-watch-termination-grace-period=2s",
        ]
        log, pid = _component_paths(workdir, "kube-apiserver")
        # Started before etcd answers: kube-apiserver waits for its storage, which overlaps the two.
        apiserver = spawn(apiserver_argv, log, pid, die_with_parent=True)
        self._procs.append(apiserver)
        # The CRD files are parsed (about a second for KServe's 2 MB) while the servers start. The
        # thread is started only now and joined before the next spawn: spawn() forks with a
        # preexec_fn, which must not race other threads.
        parsed: dict[str, dict[str, dict[str, Any]]] = {}
        files = default_crd_files() if crd_files is None else list(crd_files)
        parser = threading.Thread(target=lambda: parsed.setdefault("docs", crd_documents(files)), daemon=True)
        parser.start()
        wait_http(f"{etcd_url}/health", deadline=time.monotonic() + 30, what="etcd", log=etcd_log, proc=etcd)
        timings["etcd"] = time.monotonic() - t0

        info = ClusterInfo(
            workdir=str(workdir),
            bin_dir=str(bin_dir),
            server=server,
            ca_file=str(pki.ca_cert),
            admin_token=admin_token,
            operator_token=operator_token,
            kubeconfig_path=str(
                write_kubeconfig(
                    workdir / "admin.kubeconfig",
                    server=server,
                    ca_file=pki.ca_cert,
                    user=ADMIN_USER,
                    token=admin_token,
                )
            ),
            operator_kubeconfig_path=str(
                write_kubeconfig(
                    workdir / "operator.kubeconfig",
                    server=server,
                    ca_file=pki.ca_cert,
                    user=OPERATOR_USER,
                    token=operator_token,
                )
            ),
            audit_log_path=str(audit_log),
            etcd_url=etcd_url,
            apiserver_argv=apiserver_argv,
            owner_pid=os.getpid(),
            timings=timings,
        )
        self.info = info
        kcm_kubeconfig = write_kubeconfig(
            workdir / "kcm.kubeconfig", server=server, ca_file=pki.ca_cert, user=KCM_USER, token=kcm_token
        )
        wait_http(
            f"{server}/readyz",
            deadline=time.monotonic() + APISERVER_READY_TIMEOUT,
            what="kube-apiserver",
            log=log,
            proc=apiserver,
            verify=info.ssl_context(),
            token=admin_token,
        )
        timings["apiserver_ready"] = time.monotonic() - t0

        # CRDs and the operator namespace, before kube-controller-manager starts so that its garbage
        # collector watches the CRDs' resources from the start (it rediscovers only every 30 s).
        parser.join()
        if "docs" not in parsed:
            raise ControlPlaneError(f"could not parse the CRD files {[str(f) for f in files]}")
        docs = parsed["docs"]
        apply_crds(info, docs)
        info.crds = sorted(docs)
        ensure_namespace(info, OPERATOR_NAMESPACE)
        timings["crds"] = time.monotonic() - t0

        # kube-controller-manager
        log, pid = _component_paths(workdir, "kube-controller-manager")
        kcm = spawn(
            [
                str(bin_dir / "kube-controller-manager"),
                f"--kubeconfig={kcm_kubeconfig}",
                f"--controllers={self._controllers}",
                "--leader-elect=false",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca_cert}",
                "--use-service-account-credentials=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={kcm_port}",
                f"--cert-dir={workdir / 'kcm-certs'}",
                "--profiling=false",
                "--concurrent-gc-syncs=10",
                # The default client rate (20 requests/s) makes the garbage collector take about
                # a minute for the 1,000 templates of the deletion-storm test; the API server here
                # is local and otherwise idle.
                "--kube-api-qps=200",
                "--kube-api-burst=400",
            ],
            log,
            pid,
            die_with_parent=True,
        )
        self._procs.append(kcm)
        wait_http(
            f"https://127.0.0.1:{kcm_port}/healthz",
            deadline=time.monotonic() + 30,
            what="kube-controller-manager",
            log=log,
            proc=kcm,
            verify=False,
        )
        timings["controller_manager_ready"] = time.monotonic() - t0
        timings["total"] = time.monotonic() - t0
        (workdir / "info.json").write_text(info.to_json())
        return info

    def add_component(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> tuple[subprocess.Popen[bytes], Path]:
        """Start one more process beside the control plane (kube-scheduler, KServe, kwok), logged
        to ``<workdir>/<name>.log`` and stopped with the rest. Returns it and its log."""
        if self._workdir is None:
            raise ControlPlaneError("start the control plane before adding components to it")
        log, pid = _component_paths(self._workdir, name)
        proc = spawn(argv, log, pid, die_with_parent=True, env=env)
        self._procs.append(proc)
        return proc, log

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far by each component still running (etcd, kube-apiserver,
        kube-controller-manager), for benchmarks that ask where the machine's time went."""
        names = ("etcd", "kube-apiserver", "kube-controller-manager")
        return {
            name: process_cpu_seconds(proc.pid)
            for name, proc in zip(names, self._procs, strict=False)
            if proc.poll() is None
        }

    # -- stop ----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Kill every component by process group (including an API server restarted by another
        process, found through its PID file) and remove the working directory."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        workdir = self._workdir
        pids: set[int] = {p.pid for p in self._procs if p.poll() is None}
        if workdir is not None:
            for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
                found = read_pid(_component_paths(workdir, name)[1])
                if found is not None and pid_alive(found):
                    pids.add(found)
        for p in pids:
            kill_group(p)
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.02)
        if workdir is not None and not self.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# restarting the API server from any test process


async def restart_apiserver(info: ClusterInfo, *, graceful: bool = True) -> float:
    """Stop kube-apiserver by PID and start it again with the same flags (same port, same etcd,
    same audit log); return once /readyz answers, with the seconds it took. ``graceful`` sends
    SIGTERM first (watches end cleanly), else SIGKILL (connections drop)."""
    t0 = time.monotonic()
    workdir = info.path
    log, pid_path = _component_paths(workdir, "kube-apiserver")
    old = read_pid(pid_path)
    if old is not None and pid_alive(old):
        kill_group(old, signal.SIGTERM if graceful else signal.SIGKILL)
        deadline = time.monotonic() + 15
        while pid_alive(old):
            if time.monotonic() > deadline:
                kill_group(old, signal.SIGKILL)
                deadline = time.monotonic() + 5
            await asyncio.sleep(0.02)
    port = int(info.server.rsplit(":", 1)[1])
    for _ in range(500):  # the listening socket goes with the last thread of the old process
        if port_free(port):
            break
        await asyncio.sleep(0.02)
    with log.open("ab") as f:
        f.write(f"\n==== restarted by pid {os.getpid()} ====\n".encode())
    # Only the owning process (the xdist controller, or the lone pytest process) ties the new server's
    # life to its own thread; a worker may exit before the others finish, and the owner's teardown
    # kills the server through the PID file anyway.
    owner = os.getpid() == info.owner_pid and threading.current_thread() is threading.main_thread()
    proc = spawn(info.apiserver_argv, log, pid_path, die_with_parent=owner)
    deadline = time.monotonic() + APISERVER_READY_TIMEOUT
    try:
        await _await_http(
            f"{info.server}/readyz",
            deadline=deadline,
            what="kube-apiserver (restarted)",
            log=log,
            verify=info.ssl_context(),
            token=info.admin_token,
        )
    except ControlPlaneError:
        if proc.poll() is not None:
            raise ControlPlaneError(
                f"restarted kube-apiserver exited with {proc.returncode}:\n{log_tail(log)}"
            ) from None
        raise
    return time.monotonic() - t0


# --------------------------------------------------------------------------------------------------
# cross-process lock: ordinary API tests share, tests that restart the API server are exclusive


@contextlib.contextmanager
def api_lock(workdir: Path, *, exclusive: bool) -> Iterator[None]:
    """A readers-writer lock over the whole test session (all xdist workers), with writer
    preference: an exclusive holder first closes the gate to new shared holders, then waits for
    the current ones to finish."""
    with (workdir / "api.gate.lock").open("a+") as gate, (workdir / "api.lock").open("a+") as main:
        if exclusive:
            fcntl.flock(gate, fcntl.LOCK_EX)
            fcntl.flock(main, fcntl.LOCK_EX)
        else:
            fcntl.flock(gate, fcntl.LOCK_SH)
            fcntl.flock(main, fcntl.LOCK_SH)
            fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(main, fcntl.LOCK_UN)
            if exclusive:
                fcntl.flock(gate, fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------------------
# what tests get: the ``kube`` fixture


class KubeCluster:
    """A running control plane, as seen from one test process (``kube`` fixture).

    Attributes: ``server`` (https URL on 127.0.0.1), ``ca_file`` (verify TLS with it),
    ``admin_token`` (user ``aim-test-admin``, group system:masters), ``operator_token`` (user
    ``aim-engine``, no privileged group: it can do only what RBAC objects created by a test grant),
    ``kubeconfig_path`` / ``operator_kubeconfig_path`` (files for those two users), ``audit``
    (``AuditLog``), ``crds`` (names of the CRDs installed at session start), ``workdir`` (logs are
    ``<workdir>/<component>.log``).
    """

    admin_user = ADMIN_USER
    operator_user = OPERATOR_USER
    operator_namespace = OPERATOR_NAMESPACE

    def __init__(self, info: ClusterInfo) -> None:
        self.info = info
        self.server = info.server
        self.ca_file = Path(info.ca_file)
        self.admin_token = info.admin_token
        self.operator_token = info.operator_token
        self.kubeconfig_path = Path(info.kubeconfig_path)
        self.operator_kubeconfig_path = Path(info.operator_kubeconfig_path)
        self.audit = AuditLog(Path(info.audit_log_path))
        self.crds = list(info.crds)
        self.workdir = info.path
        self._exclusive = 0

    def __repr__(self) -> str:
        return f"KubeCluster(server={self.server!r}, workdir={str(self.workdir)!r})"

    def log_path(self, component: str) -> Path:
        """``etcd``, ``kube-apiserver`` or ``kube-controller-manager``."""
        return _component_paths(self.workdir, component)[0]

    def kubeconfig(self, user: str = "admin") -> KubeConfig:
        """A lightkube ``KubeConfig`` for ``"admin"`` or ``"operator"``."""
        if user not in ("admin", "operator"):
            raise ValueError(f"user must be 'admin' or 'operator', not {user!r}")
        path = self.kubeconfig_path if user == "admin" else self.operator_kubeconfig_path
        return KubeConfig.from_file(path)

    def client(
        self, user: str = "admin", *, field_manager: str = FIELD_MANAGER, **kwargs: Any
    ) -> AsyncClient:
        """A new lightkube ``AsyncClient`` (close it when done) for ``"admin"`` or ``"operator"``.
        The environment's proxy settings are ignored (``trust_env=False``)."""
        kwargs.setdefault("trust_env", False)
        return AsyncClient(config=self.kubeconfig(user), field_manager=field_manager, **kwargs)

    @contextlib.contextmanager
    def api_lock(self, *, exclusive: bool) -> Iterator[None]:
        """Held around every test that uses ``kube`` (shared), or that is marked
        ``@pytest.mark.kube_exclusive`` (exclusive: no other test in any xdist worker touches the
        API meanwhile). The plugin takes it; tests do not call this."""
        with api_lock(self.workdir, exclusive=exclusive):
            self._exclusive += exclusive
            try:
                yield
            finally:
                self._exclusive -= exclusive

    async def restart_apiserver(self, *, graceful: bool = True) -> float:
        """Restart kube-apiserver in place (same port, flags, etcd, audit log) and wait until it is
        ready; returns the seconds it took (about 3). For tests of watch resumption and the like.

        Every other test talking to the API would see errors meanwhile, so only a test marked
        ``@pytest.mark.kube_exclusive`` may call this: the plugin then holds a session-wide
        exclusive lock (all xdist workers wait) for that test's duration. Session-scoped clients
        (``kube_client``) keep working afterwards; open watches end and must be resumed."""
        if not self._exclusive:
            raise RuntimeError("restart_apiserver() needs a test marked @pytest.mark.kube_exclusive")
        return await restart_apiserver(self.info, graceful=graceful)


# --------------------------------------------------------------------------------------------------
# GPU nodes (Node objects made through the API: there is no kubelet)


# PCI device ids as AMD's GPU operator labels them (amd.com/gpu.device-id), first id per model.
GPU_DEVICE_IDS: dict[str, str] = {
    "MI100": "738c",
    "MI210": "740f",
    "MI250X": "740c",
    "MI300A": "74a0",
    "MI300X": "74a1",
    "MI308X": "74a2",
    "MI325X": "74a5",
    "MI350X": "75a0",
    "MI355X": "75a3",
}
# Per-GPU memory as the operator's node labeller writes it (amd.com/gpu.vram).
GPU_VRAM: dict[str, str] = {
    "MI100": "32G",
    "MI210": "64G",
    "MI250X": "128G",
    "MI300A": "128G",
    "MI300X": "192G",
    "MI308X": "128G",
    "MI325X": "256G",
    "MI350X": "288G",
    "MI355X": "288G",
}
GPU_RESOURCE = "amd.com/gpu"
TEST_NODE_LABEL = "aim-engine.test/gpu-node"
AUTO = "auto"


@dataclass(frozen=True)
class GpuNode:
    """What a GPU node looks like to the operator: labels plus capacity/allocatable.

    ``gpu_model`` ("MI300X") picks ``device_id`` and ``vram`` from the tables above unless they are
    given; ``vram=None`` / ``device_id=None`` (with no model) leave the label off, ``family`` adds
    ``amd.com/gpu.family`` (e.g. "AI"), ``extra_labels`` are added last (and win).
    """

    name: str
    gpu_model: str | None = None
    device_id: str | None = None
    count: int = 8
    vram: str | None = AUTO
    family: str | None = None
    cpu: str = "192"
    memory: str = "2Ti"
    resource_name: str = GPU_RESOURCE
    extra_labels: dict[str, str] = field(default_factory=dict)

    def labels(self) -> dict[str, str]:
        device_id = self.device_id
        if device_id is None and self.gpu_model is not None:
            if self.gpu_model not in GPU_DEVICE_IDS:
                raise ValueError(f"unknown GPU model {self.gpu_model!r}; pass device_id")
            device_id = GPU_DEVICE_IDS[self.gpu_model]
        vram = self.vram
        if vram == AUTO:
            vram = GPU_VRAM.get(self.gpu_model or "") or next(
                (GPU_VRAM[m] for m, d in GPU_DEVICE_IDS.items() if d == device_id), None
            )
        labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            TEST_NODE_LABEL: "true",
        }
        if device_id is not None:
            labels["amd.com/gpu.device-id"] = device_id
        if vram is not None:
            labels["amd.com/gpu.vram"] = vram
        if self.family is not None:
            labels["amd.com/gpu.family"] = self.family
        labels.update(self.extra_labels)
        return labels

    def resources(self) -> dict[str, str]:
        return {self.resource_name: str(self.count), "cpu": self.cpu, "memory": self.memory, "pods": "110"}


async def make_gpu_node(
    client: AsyncClient,
    name: str,
    *,
    gpu_model: str | None = None,
    device_id: str | None = None,
    count: int = 8,
    vram: str | None = AUTO,
    family: str | None = None,
    extra_labels: dict[str, str] | None = None,
    spec: GpuNode | None = None,
) -> NodeModel:
    """Create Node ``name`` with the labels AMD's GPU operator sets and, through the status
    subresource, ``capacity``/``allocatable`` (``amd.com/gpu``, cpu, memory, pods) and a Ready
    condition. Returns the Node as read back. Nodes are cluster-scoped and every xdist worker sees
    them: give them unique names and select by label (all carry ``aim-engine.test/gpu-node=true``).
    Nothing updates them afterwards (no kubelet, no node lifecycle controller). Delete with
    ``delete_nodes`` (or use the ``gpu_nodes`` fixture, which does)."""
    node = spec or GpuNode(
        name=name,
        gpu_model=gpu_model,
        device_id=device_id,
        count=count,
        vram=vram,
        family=family,
        extra_labels=dict(extra_labels or {}),
    )
    await client.create(Node(metadata=ObjectMeta(name=node.name, labels=node.labels())))
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {
        "capacity": node.resources(),
        "allocatable": node.resources(),
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "created by the aim-engine test suite",
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }
        ],
    }
    return await client.patch(Node.Status, node.name, {"status": status}, patch_type=PatchType.MERGE)


async def delete_nodes(client: AsyncClient, names: Sequence[str]) -> None:
    """Delete nodes, ignoring those already gone."""
    for name in names:
        try:
            await client.delete(Node, name)
        except ApiError as exc:
            if exc.status.code != 404:
                raise
