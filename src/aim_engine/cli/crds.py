"""`aim-engine crds`: the CustomResourceDefinitions as YAML (a stream, or one file per CRD), or
the field reference as Markdown."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from aim_engine.api.crds import all_crds, crd_file_name
from aim_engine.api.reference import markdown


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "crds", help="print the CustomResourceDefinitions as YAML"
    )
    parser.add_argument("--output-dir", help="write one file per CRD into this directory instead")
    parser.add_argument("--reference", action="store_true", help="print the field reference as Markdown")
    parser.set_defaults(func=crds_command)
    return parser


def crds_command(args: argparse.Namespace) -> int:
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
