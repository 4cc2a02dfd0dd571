"""A cluster that serves: a private control plane that turns an InferenceService into a Running
pod on a node that has the right GPU, with no GPU and no container runtime.

Beside etcd and kube-apiserver it runs, all built by ``tests/k8sbin/build.sh``:

- kube-controller-manager with the deployment, replicaset and node lifecycle controllers (as well
  as the garbage collector and the others the rest of the suite uses);
- kube-scheduler, which binds each pod to a node that fits its requests, affinity and
  tolerations;
- KServe's controller manager in raw deployment mode (its ``inferenceservice-config`` with
  ``deploy.defaultDeploymentMode: RawDeployment`` and ingress creation off): no Knative, no Istio.
  Its webhooks (the InferenceService defaulter and validator, the pod mutator, the runtime and
  graph validators) are registered as KServe's own manifests register them, pointed at the
  manager on loopback with a certificate made here, so what KServe would change or refuse on
  a real cluster it changes or refuses here too;
- kwok, which plays the kubelet of every node annotated ``kwok.x-k8s.io/node: fake``: it marks
  the node Ready, renews its lease, and moves the pods bound to it to Running and Ready (and
  finishes deleting them).

Everything listens on 127.0.0.1, but KServe's webhook server, which binds every address (its
manager takes a port and no host). It is started by the tests that need it (a module fixture),
never for the rest of the suite.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import yaml

from tests.support.kube import (
    PROJECT_CRD_DIR,
    ClusterInfo,
    ControlPlane,
    ControlPlaneError,
    GpuNode,
    KubeCluster,
    built,
    free_ports,
    log_tail,
    wait_http,
)
from tests.support.pki import issue_server_cert, loopback_sans, new_ca, write_cert, write_key

KSERVE_NAMESPACE = "kserve"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
GPU_TAINT = {"key": "amd.com/gpu", "value": "present", "effect": "NoSchedule"}
"""The taint AMD's GPU operator puts on GPU nodes (the predictor tolerates the key)."""
SERVING_CONTROLLERS = ("deployment-controller", "replicaset-controller", "node-lifecycle-controller")
"""Beside the suite's own: Deployments make ReplicaSets and ReplicaSets pods; the node lifecycle
controller lifts the `node.kubernetes.io/not-ready` taint every new node is born with once the
node is Ready (and would mark a node whose lease kwok stops renewing NotReady)."""


@dataclass
class ServingCluster:
    plane: ControlPlane
    info: ClusterInfo
    kube: KubeCluster
    logs: dict[str, Path]

    def stop(self) -> None:
        self.plane.stop()

    def log_tails(self, lines: int = 15) -> str:
        """The end of each component's log, for a failure message."""
        return "\n".join(f"--- {name} ({path})\n{log_tail(path, lines)}" for name, path in self.logs.items())


def _client(info: ClusterInfo) -> httpx2.Client:
    return httpx2.Client(
        base_url=info.server,
        verify=info.ssl_context(),
        timeout=30.0,
        trust_env=False,
        headers={"Authorization": f"Bearer {info.admin_token}"},
    )


def _create(client: httpx2.Client, path: str, body: dict[str, Any]) -> None:
    r = client.post(path, json=body, params={"fieldManager": "aim-engine-tests"})
    if r.status_code not in (200, 201):
        raise ControlPlaneError(f"POST {path} failed: HTTP {r.status_code} {r.text[:1000]}")


def kserve_config_map(path: Path) -> dict[str, Any]:
    """KServe's own inferenceservice-config, set for raw deployments without an ingress."""
    doc = next(d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "ConfigMap")
    data = doc["data"]
    deploy = json.loads(data.get("deploy") or "{}")
    deploy["defaultDeploymentMode"] = "RawDeployment"
    data["deploy"] = json.dumps(deploy)
    ingress = json.loads(data["ingress"])
    ingress.update(disableIngressCreation=True, disableIstioVirtualHost=True)
    data["ingress"] = json.dumps(ingress)
    # The file documents each key under `_example`; it is no setting.
    data.pop("_example", None)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": doc["metadata"] | {"namespace": KSERVE_NAMESPACE},
        "data": data,
    }


def webhook_configurations(path: Path, *, port: int, ca_pem: bytes) -> list[dict[str, Any]]:
    """KServe's webhook configurations with each service reference turned into the manager's URL
    on loopback, trusted through the suite's CA."""
    bundle = base64.b64encode(ca_pem).decode()
    out = []
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc or not doc.get("kind", "").endswith("WebhookConfiguration"):
            continue
        doc["metadata"] = {"name": doc["metadata"]["name"]}
        for hook in doc["webhooks"]:
            service = hook["clientConfig"]["service"]
            hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{service['path']}", "caBundle": bundle}
        out.append(doc)
    return out


def _wait_listening(
    port: int, *, deadline: float, what: str, log: Path, proc: subprocess.Popen[bytes]
) -> None:
    while True:
        if proc.poll() is not None:
            raise ControlPlaneError(f"{what} exited with {proc.returncode}; log {log}:\n{log_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        if time.monotonic() > deadline:
            raise ControlPlaneError(f"{what} not listening on {port}; log {log}:\n{log_tail(log)}")
        time.sleep(0.05)


def start_serving_cluster() -> ServingCluster:
    kserve_dir, kwok_dir = built("kserve"), built("kwok")
    plane = ControlPlane(extra_controllers=SERVING_CONTROLLERS)
    crds = sorted(PROJECT_CRD_DIR.glob("*.yaml")) + sorted((kserve_dir / "crds").glob("*.yaml"))
    try:
        info = plane.start(crd_files=crds, echo=False)
        return _start_serving(plane, info, kserve_dir, kwok_dir)
    except BaseException:
        plane.stop()
        raise


def _start_serving(
    plane: ControlPlane, info: ClusterInfo, kserve_dir: Path, kwok_dir: Path
) -> ServingCluster:
    workdir = Path(info.workdir)
    bin_dir = Path(info.bin_dir)
    admin = info.kubeconfig_path
    scheduler_port, probe_port, webhook_port = free_ports(3)
    logs: dict[str, Path] = {}

    scheduler, logs["kube-scheduler"] = plane.add_component(
        "kube-scheduler",
        [
            str(bin_dir / "kube-scheduler"),
            f"--kubeconfig={admin}",
            f"--authentication-kubeconfig={admin}",
            f"--authorization-kubeconfig={admin}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={scheduler_port}",
            "--profiling=false",
        ],
    )

    # kwok: the stages of its module, for the nodes the tests annotate.
    kwok, logs["kwok"] = plane.add_component(
        "kwok",
        [
            str(kwok_dir / "kwok"),
            f"--kubeconfig={admin}",
            f"--config={kwok_dir / 'stages.yaml'}",
            f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
            # A lease per node, renewed: without it the node lifecycle controller marks the
            # node NotReady after its grace period (the status heartbeat stage is every 10 min).
            "--node-lease-duration-seconds=40",
        ],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir)},
    )

    # KServe: its namespace and config map first (the manager reads the map once, at start), the
    # webhook server's certificate where controller-runtime looks for it, then the manager.
    with _client(info) as client:
        _create(
            client,
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": KSERVE_NAMESPACE}},
        )
        _create(
            client,
            f"/api/v1/namespaces/{KSERVE_NAMESPACE}/configmaps",
            kserve_config_map(kserve_dir / "inferenceservice-config.yaml"),
        )
    tmp = workdir / "kserve-tmp"
    certs = tmp / "k8s-webhook-server" / "serving-certs"
    certs.mkdir(parents=True)
    ca_key, ca_cert = new_ca("aim-engine-test-kserve-webhook-ca", days=7)
    key, cert = issue_server_cert(ca_key, ca_cert, "kserve-webhook", loopback_sans(), days=7)
    write_cert(certs / "tls.crt", cert)
    write_key(certs / "tls.key", key)
    kserve, logs["kserve"] = plane.add_component(
        "kserve",
        [
            str(kserve_dir / "manager"),
            "--metrics-addr=0",
            f"--health-probe-addr=127.0.0.1:{probe_port}",
            f"--webhook-port={webhook_port}",
            "--leader-elect=false",
        ],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "KUBECONFIG": admin,
            "POD_NAMESPACE": KSERVE_NAMESPACE,
            # controller-runtime's default certificate folder is under os.TempDir().
            "TMPDIR": str(tmp),
        },
    )

    deadline = time.monotonic() + 60
    wait_http(
        f"https://127.0.0.1:{scheduler_port}/healthz",
        deadline=deadline,
        what="kube-scheduler",
        log=logs["kube-scheduler"],
        proc=scheduler,
        verify=False,
    )
    wait_http(
        f"http://127.0.0.1:{probe_port}/readyz",
        deadline=deadline,
        what="KServe",
        log=logs["kserve"],
        proc=kserve,
    )
    _wait_listening(
        webhook_port, deadline=deadline, what="KServe's webhook server", log=logs["kserve"], proc=kserve
    )
    with _client(info) as client:
        for doc in webhook_configurations(
            kserve_dir / "webhooks.yaml", port=webhook_port, ca_pem=(certs / "tls.crt").read_bytes()
        ):
            plural = (
                "mutatingwebhookconfigurations"
                if doc["kind"].startswith("Mutating")
                else "validatingwebhookconfigurations"
            )
            _create(client, f"/apis/admissionregistration.k8s.io/v1/{plural}", doc)
    if kwok.poll() is not None:
        raise ControlPlaneError(f"kwok exited with {kwok.returncode}:\n{log_tail(logs['kwok'])}")
    return ServingCluster(plane=plane, info=info, kube=KubeCluster(info), logs=logs)


@contextlib.contextmanager
def serving_cluster() -> Iterator[ServingCluster]:
    cluster = start_serving_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


def kwok_node(node: GpuNode) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Node kwok runs (its body, and the status to write through the status subresource): the
    labels AMD's GPU operator sets, its GPU capacity, and the GPU taint. kwok adds the Ready
    condition, addresses and node info."""
    body = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "labels": node.labels(), "annotations": {KWOK_ANNOTATION: "fake"}},
        "spec": {"taints": [GPU_TAINT]},
    }
    status = {"status": {"capacity": node.resources(), "allocatable": node.resources()}}
    return body, status
