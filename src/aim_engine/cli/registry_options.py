"""The registry options, written once for every sub-command that may contact a registry: `run`,
`inspect`, and `render` and `explain`, which inspect images without metadata unless `--offline`.

`add_registry_arguments(parser)` declares them; `registry_settings(args)` turns the parsed
arguments into the `RegistrySettings` the image inspector uses. Their defaults are
`RegistrySettings`' own.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aim_engine.registry.manifest import Platform
from aim_engine.registry.settings import RegistrySettings


def _platform(text: str) -> Platform:
    try:
        return Platform.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_registry_arguments(parser: argparse.ArgumentParser) -> None:
    """--insecure-registry (repeatable), --ca-bundle and --platform."""
    parser.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST",
        help="registry (host[:port]) reachable over plain HTTP or unverified HTTPS (repeatable)",
    )
    parser.add_argument(
        "--ca-bundle", metavar="FILE", help="extra PEM CA certificates trusted for registries"
    )
    parser.add_argument(
        "--platform",
        type=_platform,
        default=RegistrySettings().platform,
        metavar="OS/ARCH[/VARIANT]",
        help="image of a multi-platform index to inspect (default linux/amd64)",
    )


def registry_settings(args: argparse.Namespace) -> RegistrySettings:
    """The settings the options of `add_registry_arguments` ask for."""
    return RegistrySettings(
        insecure_registries=tuple(args.insecure_registry),
        ca_bundle=args.ca_bundle,
        platform=args.platform,
    )


def check_ca_bundle(args: argparse.Namespace) -> None:
    """ValueError when --ca-bundle names no file: a usage error, said before any registry is
    contacted."""
    if args.ca_bundle and not Path(args.ca_bundle).is_file():
        raise ValueError(f"CA bundle {args.ca_bundle}: no such file")
