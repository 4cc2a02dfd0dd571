"""Render benchmark: how long `aim-engine render` takes for a catalog of N models.

    uv run python -m bench.bench_render --models 1000 --deployments 6

Generates N cluster models with D recommended deployments each (in `spec.imageMetadata`, so
nothing is inspected), one GPU node, and runs the same path as `aim-engine render -o json`:
read the YAML, run the reconcilers to a fixpoint on the in-memory store, and print every
object. Measured: seconds for each phase, reconciles, objects out, and peak RSS of this
process. A benchmark, not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from aim_engine.offline.render import read_documents, render

GPUS = ("MI300X", "MI325X", "MI355X")


def catalog(models: int, deployments: int) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "gpu", "labels": {"amd.com/gpu.device-id": "74a1"}},
            "status": {"allocatable": {"amd.com/gpu": "8"}},
        }
    ]
    for i in range(models):
        recommended = [
            {
                "gpuModel": GPUS[j % 3],
                "gpuCount": 1 + j // 3,
                "precision": "fp8",
                "metric": "latency" if j % 2 else "throughput",
            }
            for j in range(deployments)
        ]
        docs.append(
            {
                "apiVersion": "aim.eai.amd.com/v1alpha1",
                "kind": "AIMClusterModel",
                "metadata": {"name": f"model-{i}"},
                "spec": {
                    "image": f"registry.example.com/aim/model-{i % 50}:1.0",
                    "imageMetadata": {
                        "model": {"canonicalName": f"org/model-{i}", "recommendedDeployments": recommended}
                    },
                },
            }
        )
    return docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--deployments", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalog.yaml"
        path.write_text(yaml.safe_dump_all(catalog(args.models, args.deployments)))
        start = time.perf_counter()
        documents = read_documents([str(path)])
        read = time.perf_counter()
        rendered = asyncio.run(render(documents, offline=True))
        settled = time.perf_counter()
        output = json.dumps({"apiVersion": "v1", "kind": "List", "items": rendered.objects()})
        done = time.perf_counter()
    result = {
        "models": args.models,
        "deployments": args.deployments,
        "read_s": round(read - start, 2),
        "fixpoint_s": round(settled - read, 2),
        "output_s": round(done - settled, 2),
        "total_s": round(done - start, 2),
        "reconciles": rendered.report.reconciles,
        "objects": output.count('"apiVersion"') - 1,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(result))
    print(
        f"| {args.models:,} x {args.deployments} | {result['total_s']} s | {result['fixpoint_s']} s | "
        f"{result['reconciles']:,} | {result['objects']:,} | {result['peak_rss_mib']} MiB |"
    )


if __name__ == "__main__":
    main()
