"""The `aim-engine` command line: one sub-command per module, registered here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from aim_engine import __version__, cli_explain, cli_inspect, cli_render, cli_run
from aim_engine.api.crds import all_crds, crd_file_name
from aim_engine.api.reference import markdown


def _crds(args: argparse.Namespace) -> int:
    if args.reference:
        sys.stdout.write(markdown())
        return 0
    crds = all_crds()
    if args.output_dir is None:
        sys.stdout.write(yaml.safe_dump_all(crds, sort_keys=False, width=120))
        return 0
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for crd in crds:
        (out / crd_file_name(crd)).write_text(render_yaml(crd))
    return 0


def render_yaml(document: object) -> str:
    """The one YAML style used for generated files, so regeneration is byte-stable."""
    return yaml.safe_dump(document, sort_keys=False, width=120)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aim-engine",
        description="Operator and tools for the AIM model catalog (AMD Inference Microservices).",
    )
    parser.add_argument("--version", action="version", version=f"aim-engine {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    crds = subparsers.add_parser("crds", help="print the CustomResourceDefinitions as YAML")
    crds.add_argument("--output-dir", help="write one file per CRD into this directory instead")
    crds.add_argument("--reference", action="store_true", help="print the field reference as Markdown")
    crds.set_defaults(func=_crds)
    cli_render.register(subparsers)
    cli_explain.register(subparsers)
    cli_inspect.register(subparsers)
    cli_run.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
