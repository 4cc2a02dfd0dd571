"""`aim-engine run`: the operator.

`register(subparsers)` adds the subcommand to the main CLI; the parsed arguments carry
`func`, which runs it and returns the exit code (0 after a graceful stop, 1 when the leader
lease was lost or the operator failed, 2 for a usage problem).

Also runnable on its own: `python -m aim_engine.cli.run run --kubeconfig ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any, cast

from aim_engine.cli.registry_options import add_registry_arguments, registry_settings

DEFAULT_RECONCILERS = "aim_engine.controllers:build_reconcilers"

log = logging.getLogger("aim_engine.run")


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add `run` to an `argparse` subparsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="run the operator against a cluster",
        description="Run the AIM operator: watch the cluster and reconcile AIM resources.",
    )
    p.add_argument(
        "--kubeconfig",
        metavar="PATH",
        help="kubeconfig file (default: in-cluster config, else $KUBECONFIG or ~/.kube/config)",
    )
    p.add_argument(
        "--namespace",
        default=os.environ.get("AIM_SYSTEM_NAMESPACE") or "aim-system",
        help="operator namespace, home of the leader Lease (default: $AIM_SYSTEM_NAMESPACE or aim-system)",
    )
    p.add_argument(
        "--concurrency", type=int, default=4, metavar="N", help="reconciles run in parallel (default 4)"
    )
    p.add_argument(
        "--metrics-address",
        default="0.0.0.0:8080",
        metavar="HOST:PORT",
        help="serve /metrics here; 0 disables (default 0.0.0.0:8080)",
    )
    p.add_argument(
        "--health-address",
        default="0.0.0.0:8081",
        metavar="HOST:PORT",
        help="serve /healthz and /readyz here; 0 disables (default 0.0.0.0:8081)",
    )
    p.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="take a Lease before reconciling, so only one replica acts (default on)",
    )
    p.add_argument("--lease-duration", type=float, default=15.0, metavar="S", help=argparse.SUPPRESS)
    p.add_argument("--renew-deadline", type=float, default=10.0, metavar="S", help=argparse.SUPPRESS)
    p.add_argument("--retry-period", type=float, default=2.0, metavar="S", help=argparse.SUPPRESS)
    p.add_argument(
        "--log-level",
        default=os.environ.get("AIM_LOG_LEVEL") or "info",
        choices=["debug", "info", "warning", "error"],
        help="(default info)",
    )
    add_registry_arguments(p)
    p.add_argument(
        "--allowed-registry",
        action="append",
        default=[],
        metavar="HOST",
        help="inspect images only from these registries (host[:port]; repeatable; default: any)",
    )
    # A hidden test hook: MODULE:FUNCTION (FUNCTION defaults to build_reconcilers), imported and
    # called as FUNCTION(store, operator_settings), a runtime.operator.ReconcilerFactory, in
    # place of the AIM controllers (tests pass tests.support.gadgets:build). The default value
    # is never imported: it stands for the AIM controllers, which _run builds with the
    # controller settings and one image inspector.
    p.add_argument("--reconcilers", default=DEFAULT_RECONCILERS, help=argparse.SUPPRESS)
    p.set_defaults(func=run_command)
    return p


def load_factory(spec: str) -> Any:
    """Import MODULE:FUNCTION for --reconcilers; SystemExit naming the spec when the module or
    the function does not exist."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr or "build_reconcilers")
    except (ImportError, AttributeError) as exc:
        raise SystemExit(
            f"aim-engine run: cannot load the reconcilers from {spec!r} ({exc}); "
            "--reconcilers takes MODULE:FUNCTION, a function of (store, operator settings)"
        ) from exc


def run_command(args: argparse.Namespace) -> int:
    from aim_engine.runtime.logs import configure_logging
    from aim_engine.runtime.operator import OperatorSettings

    configure_logging(args.log_level)
    factory: Any = None
    if args.reconcilers != DEFAULT_RECONCILERS:
        try:
            factory = load_factory(args.reconcilers)
        except SystemExit as exc:
            print(exc, file=sys.stderr)
            return 2
    settings = OperatorSettings(
        namespace=args.namespace,
        concurrency=args.concurrency,
        leader_elect=args.leader_elect,
        lease_duration=args.lease_duration,
        renew_deadline=args.renew_deadline,
        retry_period=args.retry_period,
        metrics_address=args.metrics_address,
        health_address=args.health_address,
    )
    try:
        controllers = _controller_settings(args)
    except ValueError as exc:
        print(f"aim-engine run: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_run(args.kubeconfig, settings, factory, controllers))


def _controller_settings(args: argparse.Namespace) -> Any:
    from aim_engine.controllers import ControllerSettings

    return ControllerSettings(
        operator_namespace=args.namespace,
        registry=registry_settings(args),
        allowed_registries=tuple(args.allowed_registry),
    )


def log_registry_trust(controllers: Any) -> None:
    """Say at start which registries are trusted less than by default: TLS verification is on for
    every registry but those named with --insecure-registry (one warning each, so that a
    forgotten flag shows in the first lines of the log)."""
    registry = controllers.registry
    for host in registry.insecure_registries:
        log.warning(
            "registry %s is insecure (--insecure-registry): HTTPS without certificate verification, "
            "or plain HTTP",
            host,
            extra={"registry": host},
        )
    log.info(
        "registry trust",
        extra={
            "tlsVerify": "on for every registry not listed insecure",
            "insecureRegistries": list(registry.insecure_registries),
            "allowedRegistries": list(controllers.allowed_registries) or "any",
            "caBundle": registry.ca_bundle,
        },
    )


async def _run(kubeconfig: str | None, settings: Any, factory: Any, controllers: Any) -> int:
    from aim_engine.controllers import build_reconcilers
    from aim_engine.registry.inspector import ImageInspector
    from aim_engine.runtime.errors import LeadershipLost
    from aim_engine.runtime.kube_api import KubeApi, load_config
    from aim_engine.runtime.operator import Operator

    try:
        api = KubeApi.from_config(load_config(kubeconfig))
    except Exception as exc:
        log.error("cannot load the cluster configuration: %s", exc)
        return 2
    if not await _serves_inference_services(api):
        log.warning(
            "the cluster serves no serving.kserve.io/v1beta1 InferenceService API: AIMServices will "
            "report KServeNotInstalled; install KServe and restart the operator"
        )
        controllers = dataclasses.replace(controllers, kserve=False)
    # One image inspector (and its caches) for the life of the process.
    inspector = ImageInspector(controllers.registry)
    if factory is None:

        def factory(store: Any, _settings: Any) -> Any:
            return build_reconcilers(store, controllers, inspector)

    try:
        operator = Operator(api, settings, factory)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, _on_signal, operator, sig)
        log_registry_trust(controllers)
        log.info(
            "starting",
            extra={
                "namespace": settings.namespace,
                "leaderElection": settings.leader_elect,
                "identity": operator.elector.identity if operator.elector else None,
                "controllers": sorted(operator.manager.reconcilers),
            },
        )
        await operator.run()
    except LeadershipLost as exc:
        log.error("%s; exiting", exc)
        return 1
    except Exception:
        log.exception("operator failed")
        return 1
    finally:
        await inspector.aclose()
        await api.close()
    log.info("stopped")
    return 0


async def _serves_inference_services(api: Any) -> bool:
    """Whether the API server has KServe's InferenceService kind (API discovery)."""
    import json

    from aim_engine.runtime.errors import NotFound

    try:
        found = json.loads(await api.request("GET", "/apis/serving.kserve.io/v1beta1"))
    except NotFound:
        return False
    return any(r.get("name") == "inferenceservices" for r in found.get("resources", ()))


def _on_signal(operator: Any, sig: signal.Signals) -> None:
    log.info("received %s, shutting down", sig.name)
    operator.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aim-engine")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return cast(int, args.func(args))


if __name__ == "__main__":
    sys.exit(main())
