"""`aim-engine run` as its own process against a control plane, with the chart's rules bound to the
identity it authenticates as (the control plane's operator token user): what the benchmark and
the kill -9 test run. Health, metrics and peak memory are read from outside, as a kubelet and
Prometheus would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
import yaml
from prometheus_client.parser import text_string_to_metric_families

from aim_engine.runtime.kube_api import KubeApi
from tests.support.aim_operator import CHART_FILES, OPERATOR_NAMESPACE
from tests.support.kube import OPERATOR_USER, KubeCluster, free_ports, process_cpu_seconds

RBAC = "/apis/rbac.authorization.k8s.io/v1"
DEVICE_ID = "amd.com/gpu.device-id"
GPU = "amd.com/gpu"


async def bind_chart_rbac(api: KubeApi) -> None:
    """The chart's rules, bound to the user the operator process authenticates as."""
    subject = [{"kind": "User", "name": OPERATOR_USER, "apiGroup": "rbac.authorization.k8s.io"}]
    for kind, scope, rules_file in (
        ("ClusterRole", "", "clusterrole-rules.yaml"),
        ("Role", f"/namespaces/{OPERATOR_NAMESPACE}", "role-rules.yaml"),
    ):
        rules = yaml.safe_load((CHART_FILES / rules_file).read_text())
        plural = "clusterroles" if kind == "ClusterRole" else "roles"
        role = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": "aim-bench"},
            "rules": rules,
        }
        await api.request("POST", f"{RBAC}{scope}/{plural}", body=role)
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": f"{kind}Binding",
            "metadata": {"name": "aim-bench"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": "aim-bench"},
            "subjects": subject,
        }
        await api.request(
            "POST",
            f"{RBAC}{scope}/{plural[:-1]}bindings",
            body=binding,
        )


def gpu_node_document(name: str, device_id: str = "74a1", count: int = 8) -> dict[str, Any]:
    """A node with the AMD GPU operator's device-id label and `count` allocatable GPUs (74a1 is
    an MI300X), status included: as YAML for render, or for `add_gpu_node`."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {DEVICE_ID: device_id}},
        "status": {"capacity": {GPU: str(count)}, "allocatable": {GPU: str(count)}},
    }


async def add_gpu_node(api: KubeApi, name: str, device_id: str = "74a1", count: int = 8) -> None:
    """`gpu_node_document` on the cluster, its status written as a kubelet would: no kubelet runs
    on the test control plane."""
    node = gpu_node_document(name, device_id, count)
    status = node.pop("status")
    made = json.loads(await api.request("POST", "/api/v1/nodes", body=node))
    made["status"] = status
    await api.request("PUT", f"/api/v1/nodes/{name}/status", body=made)


class OperatorProcess:
    """`aim-engine run` in its own process, as the chart runs it (without leader election)."""

    def __init__(
        self,
        kube: KubeCluster,
        ca_bundle: str | None,
        concurrency: int,
        *,
        log_name: str = "aim-bench-operator.log",
    ) -> None:
        self.metrics_port, self.health_port = free_ports(2)
        argv = [
            sys.executable, "-m", "aim_engine.cli", "run",
            "--kubeconfig", str(kube.operator_kubeconfig_path),
            "--no-leader-elect",
            "--namespace", OPERATOR_NAMESPACE,
            "--concurrency", str(concurrency),
            "--metrics-address", f"127.0.0.1:{self.metrics_port}",
            "--health-address", f"127.0.0.1:{self.health_port}",
            "--allowed-registry", "127.0.0.1",
            *(["--ca-bundle", ca_bundle] if ca_bundle else []),
            "--log-level", "info",
        ]  # fmt: skip
        # Kept after the run (the control plane's workdir is not): read it when the operator fails.
        self.log_path = Path(tempfile.gettempdir()) / log_name
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)

    async def ready(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        async with httpx2.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise SystemExit(
                        f"the operator exited with {self.process.returncode}; see {self.log_path}"
                    )
                with contextlib.suppress(httpx2.HTTPError):
                    if (await client.get(f"http://127.0.0.1:{self.health_port}/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise SystemExit(f"the operator was not ready within a minute; see {self.log_path}")

    async def metric(self, name: str, label: str | None = None) -> dict[str, float]:
        """Samples named `name` from /metrics, summed by the value of `label` ("" when None)."""
        async with httpx2.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{self.metrics_port}/metrics")).text
        found: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name:
                    key = sample.labels.get(label, "") if label is not None else ""
                    found[key] = found.get(key, 0.0) + sample.value
        return found

    async def registry_requests(self) -> tuple[int, int]:
        """(requests a registry answered, attempts that got no answer). The second are mostly
        the one HTTPS attempt at a plain-HTTP loopback registry, which fails in the TLS
        handshake before any request is sent."""
        by_outcome = await self.metric("aim_engine_registry_requests_total", "outcome")
        failed = by_outcome.pop("error", 0.0)
        return int(sum(by_outcome.values())), int(failed)

    def usage(self) -> tuple[float, float]:
        """(peak RSS MiB, CPU seconds) of the operator process so far."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        peak = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
        return peak / 1024, process_cpu_seconds(self.process.pid)

    def kill(self) -> None:
        """SIGKILL: no graceful stop, no lease release, writes cut off wherever they were."""
        self.process.kill()
        self.process.wait()
        self.log.close()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
