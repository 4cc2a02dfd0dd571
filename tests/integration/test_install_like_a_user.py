"""Installing aim-engine the way a user does, on a control plane of this module's own (the
walk-through makes cluster-wide objects, GPU nodes among them, that other tests must not see):

* `helm install` of the chart, with the image that `scripts/build-image --push` put in the test
  registry, by the helm and kubectl built from Go modules (tests/k8sbin);
* the Deployment's container run from that image (no kubelet runs here): its arguments and
  environment as the chart renders them, a token of the chart's service account mounted where
  in-cluster config looks for it, the root filesystem read-only, user 65532;
* every console block of the walk-through (docs/walkthrough.md) run against it and compared with
  what it says (tests/support/walkthrough.py); `AIM_WALKTHROUGH_RECORD=1` writes what the commands
  printed back into docs/walkthrough.md instead, for a maintainer who changed the walk-through;
* `helm upgrade` with changed values rolls the Deployment; `helm uninstall` leaves the CRDs and
  the user's objects.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import IMAGE_GROUP, BuiltImage
from tests.support.kube import ClusterInfo, ControlPlane, KubeCluster, built, free_ports, log_tail
from tests.support.oci_images import ImageBuilder, ImageSpec
from tests.support.operator_image import contained
from tests.support.registries import Registries
from tests.support.walkthrough import DOCUMENT, REPO_TREES, Command, Directive, File, parse, record

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(IMAGE_GROUP), pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
WALKTHROUGH = REPO / DOCUMENT
# The registry addresses the walk-through shows; the test's registries listen elsewhere.
README_REGISTRY = "127.0.0.1:41129"
README_PRIVATE_REGISTRY = "127.0.0.1:59999"
POLL_SECONDS = 60.0
RECORD = os.environ.get("AIM_WALKTHROUGH_RECORD", "") not in ("", "0")

QWEN_DEPLOYMENTS = [
    {"gpuModel": "MI300X", "gpuCount": 1, "precision": "fp8", "metric": "latency"},
    {"gpuModel": "MI300X", "gpuCount": 1, "precision": "fp8", "metric": "throughput"},
    {"gpuModel": "MI325X", "gpuCount": 2, "precision": "fp16", "metric": "latency"},
]


@dataclass
class User:
    """A user's shell: kubectl and helm on PATH, KUBECONFIG set, a working directory."""

    info: ClusterInfo
    registries: Registries
    workdir: Path
    env: dict[str, str]
    operator: subprocess.Popen[bytes] | None = None
    operator_log: Path | None = None
    recorded: dict[int, tuple[Command, str]] = field(default_factory=dict)

    def localize(self, text: str) -> str:
        return text.replace(README_REGISTRY, self.registries.noauth.host).replace(
            README_PRIVATE_REGISTRY, self.registries.basic.host
        )

    def as_in_readme(self, text: str) -> str:
        return text.replace(self.registries.noauth.host, README_REGISTRY).replace(
            self.registries.basic.host, README_PRIVATE_REGISTRY
        )

    def sh(self, command: str, rc: int = 0) -> tuple[int, str]:
        """One command line, stdout and stderr together as a terminal shows them; `$?` is `rc`."""
        proc = subprocess.run(
            ["bash", "-c", f"(exit {rc}); {self.localize(command)}"],
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=180,
            check=False,
        )
        return proc.returncode, proc.stdout.decode()

    def json(self, command: str) -> Any:
        rc, out = self.sh(command)
        assert rc == 0, f"{command}: {out}"
        return json.loads(out)

    def stop_operator(self) -> None:
        if self.operator is not None and self.operator.poll() is None:
            self.operator.terminate()
            try:
                self.operator.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.operator.kill()
                self.operator.wait(timeout=10)
        self.operator = None


@pytest.fixture(scope="module")
def plane() -> Iterator[ClusterInfo]:
    control_plane = ControlPlane(extra_controllers=("deployment-controller", "replicaset-controller"))
    try:
        yield control_plane.start(crd_files=[], echo=False)
    finally:
        control_plane.stop()


def seed_images(registries: Registries) -> None:
    """The images the walk-through inspects and declares."""
    labels = {
        "com.amd.aim.model.canonicalName": "Qwen/Qwen3-32B",
        "com.amd.aim.model.recommendedDeployments": json.dumps(QWEN_DEPLOYMENTS),
        "org.opencontainers.image.title": "Qwen3 32B",
    }
    spec = ImageSpec(labels=labels, env=("AIM_BASE_IMAGE_REF=docker.io/amdenterpriseai/aim-base:0.8",))
    with ImageBuilder(registries.noauth.url) as builder:
        builder.push_image("amdenterpriseai/aim-qwen-qwen3-32b", "0.8.5", spec)
    basic = registries.basic
    with ImageBuilder(basic.url, username=basic.username, password=basic.password) as builder:
        builder.push_image("models/proprietary", "v1", spec)


@pytest.fixture(scope="module")
def user(
    plane: ClusterInfo,
    registries: Registries,
    operator_image: BuiltImage,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[User]:
    workdir = tmp_path_factory.mktemp("walkthrough")
    for tree in REPO_TREES:  # the walk-through's commands name paths from the repository root
        (workdir / tree).symlink_to(REPO / tree)
    home = workdir / ".home"
    home.mkdir()
    kubectl, helm = built("kubectl"), built("helm")
    path = [
        str(kubectl.parent),
        str(helm.parent),
        str(REPO / ".venv" / "bin"),
        "/usr/sbin",
        "/usr/bin",
        "/bin",
    ]
    env = {
        "PATH": ":".join(path),
        "HOME": str(home),
        "KUBECONFIG": plane.kubeconfig_path,
        "LANG": "C.UTF-8",
        "HELM_CACHE_HOME": str(home / "helm-cache"),
        "HELM_CONFIG_HOME": str(home / "helm-config"),
        "HELM_DATA_HOME": str(home / "helm-data"),
    }
    seed_images(registries)
    shell = User(plane, registries, workdir, env)
    try:
        yield shell
    finally:
        shell.stop_operator()


def start_operator(user: User, image: BuiltImage) -> None:
    """What the kubelet would do with the chart's Deployment, from the image the chart names."""
    deployment = user.json("kubectl -n aim-system get deployment aim-engine -o json")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == image.pushed, "the chart runs the image build-image pushed"
    assert pod["serviceAccountName"] == "aim-engine"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True

    account = user.workdir / ".serviceaccount"
    account.mkdir(exist_ok=True)
    rc, token = user.sh("kubectl -n aim-system create token aim-engine --duration=2h")
    assert rc == 0, token
    (account / "token").write_text(token.strip())
    shutil.copy(user.info.ca_file, account / "ca.crt")
    (account / "namespace").write_text("aim-system")
    for item in account.iterdir():
        item.chmod(0o644)
    account.chmod(0o755)

    metrics, health = free_ports(2)  # the chart's 8080/8081 are the host's here: no pod network
    args = [
        f"--metrics-address=127.0.0.1:{metrics}"
        if a.startswith("--metrics-address=")
        else f"--health-address=127.0.0.1:{health}"
        if a.startswith("--health-address=")
        else a
        for a in container["args"]
    ]
    config = image.archive.config()["config"]
    env = dict(e.split("=", 1) for e in config["Env"])
    for variable in container["env"]:
        field_path = variable.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        env[variable["name"]] = {"metadata.namespace": "aim-system", "metadata.name": "aim-engine-0"}.get(
            field_path, variable.get("value", "")
        )
    host, port = user.info.server.removeprefix("https://").rsplit(":", 1)
    env |= {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}
    log = user.workdir / "operator.log"
    user.operator_log = log
    with log.open("wb") as sink:
        user.operator = subprocess.Popen(
            contained(image.rootfs, [*config["Entrypoint"], *args], env=env, service_account=account),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if user.operator.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the operator from the image did not become ready:\n{log_tail(log, 40)}")
        time.sleep(0.5)


def run_command(user: User, step: Command, rc: int) -> tuple[int, str]:
    """Run once, or poll a read until it prints what the walk-through says (when recording too: what
    it prints after POLL_SECONDS is what the operator settled on)."""
    deadline = time.monotonic() + (POLL_SECONDS if step.polled else 0)
    while True:
        new_rc, output = user.sh(step.command, rc)
        if step.matches(user.as_in_readme(output)) or time.monotonic() > deadline:
            return new_rc, output
        time.sleep(1.0)


def test_readme_walkthrough(user: User, operator_image: BuiltImage) -> None:
    steps = parse(WALKTHROUGH.read_text())
    assert any(isinstance(s, Directive) and s.name == "operator" for s in steps)
    rc = 0
    failures: list[str] = []
    for step in steps:
        if isinstance(step, File):
            (user.workdir / step.name).write_text(user.localize(step.text))
        elif isinstance(step, Directive):
            assert step.name == "operator", f"{DOCUMENT} line {step.line}: unknown directive {step.name}"
            start_operator(user, operator_image)
        else:
            began = time.monotonic()
            rc, output = run_command(user, step, rc)
            took = time.monotonic() - began
            readme_output = user.as_in_readme(output)
            if RECORD:
                if not step.matches(readme_output):
                    user.recorded[step.line] = (step, readme_output)
                continue
            if not step.matches(readme_output):
                failures.append(
                    f"{DOCUMENT} line {step.line}: $ {step.command}\n--- {DOCUMENT} says"
                    + (f" (polled {took:.0f} s)" if step.polled else "")
                    + ":\n"
                    + "\n".join(step.expected)
                    + f"\n--- the command printed:\n{readme_output}"
                )
                break  # later steps build on this one
    if RECORD:
        record(WALKTHROUGH, user.recorded)
    operator = user.operator_log
    assert not failures, "\n\n".join(failures) + (
        f"\n--- operator log:\n{log_tail(operator, 30)}" if operator else ""
    )
    assert user.operator is not None and user.operator.poll() is None, "the operator kept running"
    # It ran the whole walk-through as the chart's service account: nothing it asked for was
    # refused (a permission the chart lacks would show as 403 in its log, and in the audit log
    # for writes).
    assert operator is not None
    log = operator.read_text()
    # A status code, not the digits inside a port number (127.0.0.1:54037 failed this once).
    forbidden = re.search(r"(?<!\d)403(?!\d)", log) or "forbidden" in log.lower()
    assert not forbidden, log_tail(operator, 30)
    writes = KubeCluster(user.info).audit.writes(user="system:serviceaccount:aim-system:aim-engine")
    assert writes, "the audit log saw its writes"
    refused = [e for e in writes if e.code == 403]
    assert not refused, refused[:5]


def test_helm_upgrade_rolls_the_operator(user: User) -> None:
    before = user.json("kubectl -n aim-system get deployment aim-engine -o json")
    allowed = user.registries.noauth.host
    rc, out = user.sh(
        "helm upgrade aim-engine deploy/chart --namespace aim-system --reuse-values "
        f"--set concurrency=4 --set logLevel=debug --set 'allowedRegistries={{{allowed}}}'"
    )
    assert rc == 0, out
    after = user.json("kubectl -n aim-system get deployment aim-engine -o json")
    args = after["spec"]["template"]["spec"]["containers"][0]["args"]
    assert {"--concurrency=4", "--log-level=debug", f"--allowed-registry={allowed}"} <= set(args)
    assert after["metadata"]["generation"] > before["metadata"]["generation"]
    # The Deployment controller rolls out a new ReplicaSet for the new pod template.
    deadline = time.monotonic() + 30
    while True:
        sets = user.json("kubectl -n aim-system get replicasets -l app.kubernetes.io/name=aim-engine -o json")
        hashes = {rs["metadata"]["labels"]["pod-template-hash"] for rs in sets["items"]}
        if len(hashes) >= 2:
            break
        assert time.monotonic() < deadline, f"no new ReplicaSet after the upgrade: {hashes}"
        time.sleep(0.5)
    newest = max(
        sets["items"], key=lambda rs: int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
    )
    assert "--log-level=debug" in newest["spec"]["template"]["spec"]["containers"][0]["args"]


def test_helm_uninstall_keeps_crds_and_user_objects(user: User) -> None:
    user.stop_operator()  # its service account goes with the release
    kinds = "aimmodels,aimservicetemplates,aimservices,inferenceservices"

    def user_objects() -> set[tuple[str, str, str]]:
        items = user.json(f"kubectl get {kinds} --all-namespaces -o json")["items"]
        return {(o["kind"], o["metadata"]["name"], o["metadata"]["uid"]) for o in items}

    before = user_objects()
    assert {kind for kind, _, _ in before} == {
        "AIMModel",
        "AIMServiceTemplate",
        "AIMService",
        "InferenceService",
    }, "the walk-through left a catalog and a service"
    # A canary owned by the release's Deployment and service account: when the garbage collector
    # has deleted it, it has dealt with both owners' deletions, and would have taken anything
    # else they owned.
    owners = [
        user.json(f"kubectl -n aim-system get {kind} aim-engine -o json")
        for kind in ("deployment", "serviceaccount")
    ]
    canary = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "gc-canary",
            "namespace": "aim-system",
            "ownerReferences": [
                {
                    "apiVersion": o["apiVersion"],
                    "kind": o["kind"],
                    "name": o["metadata"]["name"],
                    "uid": o["metadata"]["uid"],
                }
                for o in owners
            ],
        },
    }
    (user.workdir / "gc-canary.json").write_text(json.dumps(canary))
    rc, out = user.sh("kubectl apply -f gc-canary.json")
    assert rc == 0, out
    rc, out = user.sh("helm uninstall aim-engine --namespace aim-system")
    assert rc == 0, out
    rc, out = user.sh("kubectl -n aim-system get deployment,serviceaccount,role aim-engine")
    assert out.count("NotFound") == 3, out
    rc, out = user.sh("kubectl get clusterrole,clusterrolebinding aim-engine")
    assert out.count("NotFound") == 2, out
    crds = user.json("kubectl get crd -o json")["items"]
    ours = len(list((REPO / "deploy" / "crds").glob("*.yaml")))
    assert sum(c["spec"]["group"] == "aim.eai.amd.com" for c in crds) == ours, "helm keeps crds/"
    deadline = time.monotonic() + 120
    while "NotFound" not in user.sh("kubectl -n aim-system get configmap gc-canary")[1]:
        assert time.monotonic() < deadline, "the garbage collector never collected the canary"
        time.sleep(0.5)
    assert user_objects() == before
