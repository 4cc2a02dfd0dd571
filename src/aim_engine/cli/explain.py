"""`aim-engine explain service|model NAME`: why the operator decided what it did.

Offline with `-f PATH` (the catalog is rendered first, exactly as `aim-engine render` does), or
against a cluster with `--kubeconfig` (read-only: the objects are listed once, nothing is
written, no registry is contacted). Exit status: 0 explained; 1 no such object; 2 bad usage or
input.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from aim_engine.cli.render import add_input_arguments, load_and_render
from aim_engine.runtime.fixpoint import NotConverged

PROG = "aim-engine explain"


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "explain",
        help="explain how a service found its model and template, or what a model plans",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("what", choices=("service", "model"))
    parser.add_argument("name")
    parser.add_argument(
        "-n",
        "--namespace",
        help="namespace of the service (default: default) or of the model (default: a cluster model)",
    )
    add_input_arguments(parser, required=False)
    parser.add_argument("--kubeconfig", help="explain what is on this cluster (read-only) instead of -f")
    parser.set_defaults(func=explain_command)
    return parser


def explain_command(args: argparse.Namespace) -> int:
    from aim_engine.api.v1alpha1 import AIMService
    from aim_engine.controllers.lookup import find_model
    from aim_engine.controllers.model import ModelReconciler
    from aim_engine.controllers.service import ServiceReconciler
    from aim_engine.offline import explain

    if bool(args.filename) == bool(args.kubeconfig):
        print(
            f"{PROG}: error: give -f PATH (a catalog, offline) or --kubeconfig FILE (a cluster)",
            file=sys.stderr,
        )
        return 2
    try:
        if args.filename:
            rendered = load_and_render(args)
            store, reconcilers = rendered.store, rendered.reconcilers
        else:
            store, reconcilers = asyncio.run(_cluster_snapshot(args.kubeconfig))
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except NotConverged as exc:
        print(f"{PROG}: error: the catalog does not settle: {exc}", file=sys.stderr)
        return 2
    if args.what == "service":
        namespace = args.namespace or "default"
        service = store.get(AIMService, args.name, namespace)
        if service is None:
            print(f"{PROG}: AIMService {namespace}/{args.name} not found", file=sys.stderr)
            return 1
        services = next(r for r in reconcilers if isinstance(r, ServiceReconciler))
        sys.stdout.write(explain.explain_service(services, service))
        return 0
    model = find_model(store, args.name, args.namespace)
    if model is None:
        where = f"in namespace {args.namespace} or the cluster" if args.namespace else "(AIMClusterModel)"
        print(f"{PROG}: model {args.name} not found {where}", file=sys.stderr)
        return 1
    cluster = model.namespace is None
    models = next(r for r in reconcilers if isinstance(r, ModelReconciler) and r.cluster == cluster)
    sys.stdout.write(asyncio.run(explain.explain_model(models, model)))
    return 0


async def _cluster_snapshot(kubeconfig: str) -> tuple[Any, list[Any]]:
    """Every object explain reads, listed once from the cluster into an in-memory store that
    keeps their identities (so owner references still match); the reconcilers over it only
    plan, never run."""
    import json

    from aim_engine.api.core import Secret
    from aim_engine.api.kserve import InferenceService
    from aim_engine.controllers import ControllerSettings, build_reconcilers
    from aim_engine.offline.render import KINDS
    from aim_engine.registry.snapshots import SnapshotInspector
    from aim_engine.runtime.errors import NotFound
    from aim_engine.runtime.kube_api import KubeApi, load_config
    from aim_engine.runtime.memory_store import MemoryStore
    from aim_engine.runtime.resources import collection_path, group_of

    # What render models, less secrets (explain never reads a secret's values), each resource
    # once (v1alpha2 models are the v1alpha1 objects served in another version).
    kinds = list(
        {(group_of(k.API_VERSION), k.PLURAL): k for k in reversed(KINDS) if k is not Secret}.values()
    )
    try:
        api = KubeApi.from_config(load_config(kubeconfig))
    except Exception as exc:
        raise ValueError(f"cannot load the cluster configuration: {exc}") from None
    store = MemoryStore(KINDS)
    kserve = True
    try:
        for kind in kinds:
            try:
                listing = json.loads(await api.request("GET", collection_path(kind)))
            except NotFound:
                if kind is InferenceService:
                    kserve = False
                    continue
                raise
            items = [{"apiVersion": kind.API_VERSION, "kind": kind.KIND, **item} for item in listing["items"]]
            store.load(items, keep_identity=True)
    finally:
        await api.close()
    reconcilers = build_reconcilers(store, ControllerSettings(kserve=kserve), SnapshotInspector({}))
    return store, reconcilers
