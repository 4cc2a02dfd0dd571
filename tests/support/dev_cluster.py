"""A control plane for trying aim-engine by hand (how the walk-through in docs/ was made).

    uv run python -m tests.support.dev_cluster

starts etcd, kube-apiserver and kube-controller-manager on loopback with the CRDs installed,
prints the admin kubeconfig to use with kubectl and `aim-engine run --kubeconfig`, and keeps
them running until interrupted.
"""

from __future__ import annotations

import signal
import sys

from tests.support.kube import ControlPlane, default_crd_files, ensure_namespace


def main() -> None:
    plane = ControlPlane()
    info = plane.start(crd_files=default_crd_files())
    try:
        ensure_namespace(info, "aim-system")
        print(f"export KUBECONFIG={info.kubeconfig_path}", flush=True)
        print("control plane running; Ctrl-C to stop", file=sys.stderr, flush=True)
        stops = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stops)  # sigwait needs them blocked
        signal.sigwait(stops)
    finally:
        plane.stop()


if __name__ == "__main__":
    main()
