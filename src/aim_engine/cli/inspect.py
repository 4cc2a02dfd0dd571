"""`aim-engine inspect IMAGE`: read an image's AIM metadata from its registry, as the operator does.

Prints a table (default), or with `-o json|yaml` the object the operator writes to
`status.imageMetadata` plus the resolved `digest` (and `indexDigest` for multi-platform images).
Failures are one line on stderr naming the image and the registry, with an exit status per kind:

| status | meaning |
| --- | --- |
| 2 | bad usage or image reference |
| 3 | authentication refused (RegistryAuthError) |
| 4 | repository, tag, manifest or platform not found (ImageNotFoundError) |
| 5 | registry unreachable, timing out, 5xx or rate limited (RegistryUnavailableError) |
| 6 | invalid manifest, config or labels (InvalidMetadataError) |
| 7 | unreadable Docker config file (PullSecretError) |
| 1 | any other registry error |
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import yaml

from aim_engine.api.image_reference import parse_reference
from aim_engine.cli.registry_options import add_registry_arguments, check_ca_bundle, registry_settings
from aim_engine.registry.credentials import Keychain, default_docker_config_path, load_docker_config
from aim_engine.registry.errors import (
    ImageNotFoundError,
    InvalidMetadataError,
    InvalidReferenceError,
    PullSecretError,
    RegistryAuthError,
    RegistryError,
    RegistryUnavailableError,
)
from aim_engine.registry.inspector import ImageInspector, InspectionResult
from aim_engine.registry.settings import RegistrySettings

EXIT_CODES: tuple[tuple[type[RegistryError], int], ...] = (
    (InvalidReferenceError, 2),
    (RegistryAuthError, 3),
    (ImageNotFoundError, 4),
    (RegistryUnavailableError, 5),
    (InvalidMetadataError, 6),
    (PullSecretError, 7),
)
PROG = "aim-engine inspect"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="read an image's AIM metadata (labels, recommended deployments, base image) from its registry",
        description="Read an image's AIM metadata from its registry: only the manifest(s) and the config "
        "blob are fetched, never the layers.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "image", metavar="IMAGE", help="image reference, e.g. docker.io/amdenterpriseai/aim-x:0.8.4"
    )
    parser.add_argument(
        "--docker-config",
        metavar="FILE",
        help="Docker config.json with registry credentials (default: $DOCKER_CONFIG/config.json or "
        "~/.docker/config.json when it exists)",
    )
    add_registry_arguments(parser)
    parser.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")


def _keychain(args: argparse.Namespace) -> Keychain | None:
    if args.docker_config:
        return load_docker_config(args.docker_config)
    default = default_docker_config_path()
    return load_docker_config(default) if default.is_file() else None


def status_document(result: InspectionResult) -> dict[str, Any]:
    """What the operator writes to status.imageMetadata, plus the image and the digests it
    resolved to (the form `aim-engine render --metadata` reads)."""
    document: dict[str, Any] = {"image": result.image, "digest": result.digest}
    if result.index_digest:
        document["indexDigest"] = result.index_digest
    document.update(result.metadata.dump())
    return document


def render_table(result: InspectionResult) -> str:
    metadata = result.metadata
    model = metadata.model
    title = (model.title if model else None) or (metadata.oci.title if metadata.oci else None)
    rows = [("IMAGE", result.image), ("DIGEST", result.digest)]
    if result.index_digest:
        rows.append(("INDEX DIGEST", result.index_digest))
    rows += [
        ("PLATFORM", result.platform),
        ("CANONICAL NAME", (model.canonical_name if model else None) or "-"),
        ("TITLE", title or "-"),
        ("BASE IMAGE", metadata.base_image_ref or "-"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    deployments = (model.recommended_deployments if model else None) or []
    lines.append("")
    if not deployments:
        lines.append("No recommended deployments.")
        return "\n".join(lines) + "\n"
    table = [("GPU", "COUNT", "PRECISION", "METRIC", "PROFILE ID")]
    for d in deployments:
        count = str(d.gpu_count) if d.gpu_count is not None else "-"
        table.append((d.gpu_model or "-", count, d.precision or "-", d.metric or "-", d.profile_id or "-"))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    return "\n".join(lines) + "\n"


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return code


async def _inspect(args: argparse.Namespace, settings: RegistrySettings) -> InspectionResult:
    async with ImageInspector(settings) as inspector:
        return await inspector.inspect(args.image, _keychain(args))


def run(args: argparse.Namespace) -> int:
    try:
        check_ca_bundle(args)
    except ValueError as exc:
        return _fail(str(exc), 2)
    try:
        settings = registry_settings(args)
        result = asyncio.run(_inspect(args, settings))
    except RegistryError as exc:
        code = next((c for cls, c in EXIT_CODES if isinstance(exc, cls)), 1)
        try:
            registry = parse_reference(args.image).registry
        except ValueError:
            registry = ""
        return _fail(str(exc.with_context(image=args.image, registry=registry)), code)
    except OSError as exc:  # e.g. an unreadable CA bundle
        return _fail(f"{args.image}: {exc}", 1)
    except KeyboardInterrupt:
        return 130

    if args.output == "json":
        sys.stdout.write(json.dumps(status_document(result), indent=2) + "\n")
    elif args.output == "yaml":
        sys.stdout.write(yaml.safe_dump(status_document(result), sort_keys=False, width=120))
    else:
        sys.stdout.write(render_table(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (`python -m aim_engine.cli.inspect IMAGE`), same as `aim-engine inspect`."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0] if __doc__ else None)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
