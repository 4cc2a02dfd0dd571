"""The `aim-engine` command line: one module per sub-command (`crds`, `render`, `explain`,
`inspect`, `run`), registered here."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from aim_engine import __version__


def build_parser() -> argparse.ArgumentParser:
    # Imported here rather than at the top, so that `python -m aim_engine.cli.run` (or
    # `.inspect`) does not find its own module already imported by the package.
    from aim_engine.cli import crds, explain, inspect, render, run

    parser = argparse.ArgumentParser(
        prog="aim-engine",
        description="Operator and tools for the AIM model catalog (AMD Inference Microservices).",
    )
    parser.add_argument("--version", action="version", version=f"aim-engine {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    crds.register(subparsers)
    render.register(subparsers)
    explain.register(subparsers)
    inspect.register(subparsers)
    run.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    result: int = args.func(args)
    return result
