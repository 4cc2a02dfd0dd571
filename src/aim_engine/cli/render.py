"""`aim-engine render -f PATH ...`: what a catalog becomes, without a cluster.

Runs the operator's reconcilers to a fixpoint on the in-memory store
(`aim_engine.offline.render`) and prints every object that would exist: `-o table` (default),
`-o yaml` (a stream) or `-o json` (a `List`). Objects that end `Failed` (and reconcile errors)
stay in the output and are named in one line on stderr. Exit status: 0 when the catalog
rendered, whatever its objects' status; with `--check`, 1 when something ends `Failed` or a
reconciler failed (a CI gate, in the sense of `black --check`); 2 for bad usage or input; 3 when
the reconcilers do not settle.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from aim_engine.cli.registry_options import add_registry_arguments, check_ca_bundle, registry_settings
from aim_engine.controllers import ControllerSettings
from aim_engine.offline.render import Rendered, failures, read_documents, render
from aim_engine.offline.table import table
from aim_engine.offline.validation import cel_available
from aim_engine.runtime.fixpoint import NotConverged

PROG = "aim-engine render"
MAX_SUMMARY = 5
"""Failures named in the stderr summary; the rest are counted."""


def add_input_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """The options render and explain share: where the catalog and its metadata come from, and
    how the registry is reached for images without metadata (unless --offline)."""
    parser.add_argument(
        "-f",
        "--filename",
        action="append",
        default=[],
        required=required,
        metavar="PATH",
        help="YAML or JSON file, folder (read recursively) or - for standard input; repeatable",
    )
    parser.add_argument(
        "--metadata",
        action="append",
        default=[],
        metavar="FILE",
        help="image metadata snapshots, as `aim-engine inspect -o json` prints them (one or a list); "
        "repeatable",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="never contact a registry: images without spec.imageMetadata or a snapshot fail, and are listed",
    )
    parser.add_argument(
        "--gpu",
        action="append",
        default=[],
        metavar="MODEL=COUNT",
        help="declare a GPU node without Node YAML, e.g. --gpu MI300X=8; repeatable",
    )
    add_registry_arguments(parser)


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "render",
        help="run the operator offline on a catalog and print what it would create",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_arguments(parser, required=True)
    parser.add_argument("-o", "--output", choices=("table", "yaml", "json"), default="table")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when an object ends Failed or a reconciler fails (for a CI gate); without it, "
        "render exits 0 once it rendered",
    )
    parser.set_defaults(func=render_command)
    return parser


def load_and_render(args: argparse.Namespace) -> Rendered:
    """Render the inputs `add_input_arguments` declared; ValueError for bad input."""
    from aim_engine.registry.snapshots import load_snapshots

    check_ca_bundle(args)
    snapshots = load_snapshots(Path(p) for p in args.metadata)
    documents = read_documents(args.filename)
    settings = ControllerSettings(registry=registry_settings(args))
    return asyncio.run(
        render(documents, snapshots=snapshots, offline=args.offline, gpus=args.gpu, settings=settings)
    )


def notes(rendered: Rendered) -> list[str]:
    """What the user should know about the input itself (stderr)."""
    out = []
    if not cel_available():
        out.append(
            "the CRDs' CEL rules were not checked (the CEL library of the render dependency group, "
            "common-expression-language, is not installed); kubectl apply may still refuse objects"
        )
    if not rendered.gpus_known:
        out.append(
            "no GPUs are known: the input has no Node objects and no --gpu; templates that need GPUs "
            "are NotAvailable (add Node YAML or --gpu MI300X=8)"
        )
    if rendered.missing_images:
        images = ", ".join(rendered.missing_images)
        out.append(f"offline: no metadata for {len(rendered.missing_images)} image(s): {images}")
    if rendered.skipped:
        skipped = ", ".join(rendered.skipped)
        out.append(f"skipped {len(rendered.skipped)} object(s) of kinds render does not model: {skipped}")
    if rendered.report.errors:
        listed = "; ".join(f"{name} {key}: {error}" for (name, key), error in rendered.report.errors.items())
        out.append(f"reconcile errors: {listed}")
    return out


def render_command(args: argparse.Namespace) -> int:
    try:
        rendered = load_and_render(args)
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except NotConverged as exc:
        print(f"{PROG}: error: the catalog does not settle: {exc}", file=sys.stderr)
        return 3
    objects = rendered.objects()
    if args.output == "yaml":
        sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False, width=120))
    elif args.output == "json":
        listing = {"apiVersion": "v1", "kind": "List", "items": objects}
        sys.stdout.write(json.dumps(listing, indent=2) + "\n")
    else:
        sys.stdout.write(table(objects))
    for note in notes(rendered):
        print(f"{PROG}: {note}", file=sys.stderr)
    failed = failures(objects)
    if failed:
        shown = "; ".join(failed[:MAX_SUMMARY])
        more = f"; and {len(failed) - MAX_SUMMARY} more" if len(failed) > MAX_SUMMARY else ""
        print(f"{PROG}: {len(failed)} object(s) would fail: {shown}{more}", file=sys.stderr)
    # Rendering worked even when objects fail: that is what render is for. --check makes
    # failures (and reconciler errors, already listed by notes()) the exit status.
    if args.check and (failed or rendered.report.errors):
        return 1
    return 0
