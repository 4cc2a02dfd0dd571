"""Offline render: the operator's own reconcilers, run to a fixpoint on the in-memory store.

`render` seeds a MemoryStore from YAML (models, runtime configs, templates, services, secrets,
nodes), runs exactly the reconcilers `aim-engine run` runs, and returns every object that would
exist. Nothing reads the wall clock: condition times come from a fixed clock, and the model
reconciler's first-status safety requeue is a delayed requeue, which a fixpoint does not wait
for. Image metadata comes from `spec.imageMetadata`, snapshots (`aim-engine inspect -o json`),
or the registry unless `offline`.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from aim_engine.api import AIM_KINDS
from aim_engine.api.core import Node, Secret
from aim_engine.api.kserve import InferenceService
from aim_engine.api.meta import KubeObject
from aim_engine.catalog.gpu import DEVICE_MODELS, normalize_model
from aim_engine.controllers import ControllerSettings, build_reconcilers
from aim_engine.offline.validation import cel_errors
from aim_engine.registry.inspector import ImageInspector, InspectionResult
from aim_engine.registry.snapshots import SnapshotInspector
from aim_engine.runtime.fixpoint import IdleReport, run_until_idle
from aim_engine.runtime.manager import Manager
from aim_engine.runtime.memory_store import MemoryStore
from aim_engine.runtime.metrics import RuntimeMetrics
from aim_engine.runtime.reconciler import Reconciler
from aim_engine.runtime.store import STATUS_LOG

FIXED_TIME = datetime(2000, 1, 1, tzinfo=UTC)
"""The only time render knows: creation and condition times (they are left out of the output)."""
KINDS: tuple[type[KubeObject], ...] = (*AIM_KINDS, Node, Secret, InferenceService)
SKIPPED_KINDS = {("v1", "Namespace")}
"""Kinds a catalog repository holds that render has nothing to do with (created implicitly)."""
# Output order: what users declare first, then what the operator makes of it.
KIND_ORDER = (
    "Node",
    "AIMClusterRuntimeConfig",
    "AIMRuntimeConfig",
    "AIMClusterModel",
    "AIMModel",
    "AIMClusterServiceTemplate",
    "AIMServiceTemplate",
    "AIMClusterProfile",
    "AIMProfile",
    "AIMService",
    "InferenceService",
)
# libyaml's parser when the wheel has it (several times faster on a big catalog); same results.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_VOLATILE_META = ("uid", "resourceVersion", "creationTimestamp", "managedFields")


def read_documents(paths: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """(origin, document) for every object in files, folders (recursively: *.yaml, *.yml,
    *.json) and `-` (standard input), in the order given; ValueError naming the file."""
    sources: list[tuple[str, str]] = []
    for entry in paths:
        if entry == "-":
            sources.append(("<stdin>", sys.stdin.read()))
            continue
        path = Path(entry)
        if path.is_dir():
            files = sorted(
                p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and p.is_file()
            )
        elif path.exists():
            files = [path]
        else:
            raise ValueError(f"{entry}: no such file or directory")
        for file in files:
            sources.append((str(file), file.read_text()))
    documents = []
    for origin, text in sources:
        try:
            loaded = [d for d in yaml.load_all(text, Loader=_LOADER) if d is not None]
        except yaml.YAMLError as exc:
            raise ValueError(f"{origin}: not YAML: {exc}") from None
        for doc in loaded:
            items = (
                doc.get("items") if isinstance(doc, dict) and doc.get("kind", "").endswith("List") else None
            )
            for item in items if isinstance(items, list) else [doc]:
                if not isinstance(item, dict) or "kind" not in item or "apiVersion" not in item:
                    raise ValueError(f"{origin}: every document needs apiVersion and kind")
                documents.append((origin, item))
    return documents


def gpu_node(spec: str) -> dict[str, Any]:
    """A Node for `--gpu MODEL=COUNT` (e.g. MI300X=8), labelled as AMD's GPU operator would."""
    model, _, count = spec.partition("=")
    name = normalize_model(model)
    ids = sorted(d for d, m in DEVICE_MODELS.items() if m == name)
    if not ids:
        known = ", ".join(sorted(set(DEVICE_MODELS.values())))
        raise ValueError(f"--gpu {spec}: unknown GPU model {model!r}; known: {known}")
    if not count.isdigit() or int(count) < 1:
        raise ValueError(f"--gpu {spec}: give a GPU count, e.g. --gpu {name}=8")
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": f"gpu-{name.lower()}", "labels": {"amd.com/gpu.device-id": ids[0]}},
        "status": {"capacity": {"amd.com/gpu": count}, "allocatable": {"amd.com/gpu": count}},
    }


@dataclass
class Rendered:
    store: MemoryStore
    reconcilers: list[Reconciler]
    report: IdleReport
    skipped: list[str] = field(default_factory=list)
    """Input objects of kinds render does not model, as `Kind name`."""
    missing_images: list[str] = field(default_factory=list)
    """Images whose metadata could not be had (offline without a snapshot)."""

    def objects(self) -> list[dict[str, Any]]:
        """Every object that would exist (secrets left out), in a stable order, without the
        fields that differ between runs and clusters (uids, versions, times, managedFields)."""
        order = {kind: i for i, kind in enumerate(KIND_ORDER)}
        found = [clean(o) for o in self.store.objects() if o["kind"] != "Secret"]
        return sorted(
            found,
            key=lambda o: (
                order.get(o["kind"], len(order)),
                o["metadata"].get("namespace", ""),
                o["metadata"]["name"],
            ),
        )

    @property
    def gpus_known(self) -> bool:
        return bool(self.store.list(Node))


def clean(obj: Mapping[str, Any]) -> dict[str, Any]:
    """`obj` without what differs between two runs or between render and a cluster."""
    out = dict(obj)
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in _VOLATILE_META}
    if "ownerReferences" in meta:
        meta["ownerReferences"] = [
            {k: v for k, v in r.items() if k != "uid"} for r in meta["ownerReferences"]
        ]
    out["metadata"] = meta
    if "status" in out:
        out["status"] = without_keys(out["status"], ("uid", "lastTransitionTime"))
    return out


def without_keys(value: Any, keys: tuple[str, ...]) -> Any:
    """`value` with `keys` left out of every mapping in it, at any depth."""
    if isinstance(value, dict):
        return {k: without_keys(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [without_keys(v, keys) for v in value]
    return value


async def render(
    documents: Iterable[tuple[str, Mapping[str, Any]]],
    *,
    snapshots: Mapping[str, InspectionResult] | None = None,
    offline: bool = False,
    gpus: Sequence[str] = (),
    settings: ControllerSettings | None = None,
    default_namespace: str = "default",
) -> Rendered:
    """Run the operator on `documents` until nothing changes; ValueError for bad input."""
    store = MemoryStore(KINDS, clock=lambda: FIXED_TIME)
    skipped: list[str] = []
    seeded: list[dict[str, Any]] = []
    for origin, doc in documents:
        api_version, kind = str(doc.get("apiVersion")), str(doc.get("kind"))
        name = (doc.get("metadata") or {}).get("name")
        if (api_version, kind) in SKIPPED_KINDS:
            continue
        cls = next((c for c in KINDS if api_version == c.API_VERSION and kind == c.KIND), None)
        if cls is None:
            skipped.append(f"{kind} {name} ({origin})")
            continue
        body = dict(doc)
        if cls.NAMESPACED and not (doc.get("metadata") or {}).get("namespace"):
            body["metadata"] = {**(doc.get("metadata") or {}), "namespace": default_namespace}
        seeded.append(body)
    seeded += [gpu_node(spec) for spec in gpus]
    # What the API server would refuse, render refuses: the CRDs' CEL rules here, their types
    # in the store's load (ValueError naming the object and the field either way).
    for body in seeded:
        if broken := cel_errors(body):
            name = (body.get("metadata") or {}).get("name")
            raise ValueError(f"{body.get('kind')} {name} is invalid: {'; '.join(broken)}")
    store.load(seeded)
    fallback = None if offline else ImageInspector((settings or ControllerSettings()).registry)
    inspector = SnapshotInspector(snapshots or {}, fallback)
    settings = replace(settings or ControllerSettings(), clock=lambda: FIXED_TIME)
    try:
        reconcilers = build_reconcilers(store, settings, inspector)
        manager = Manager(store, reconcilers, metrics=RuntimeMetrics(CollectorRegistry()))
        # Every object settles in a handful of reconciles; a catalog that needs far more is
        # one whose reconcilers keep changing each other's objects (NotConverged names them).
        # The operator's warning lines stay out of render's output: they would only repeat, in
        # passing states too, the conditions it prints, and failures are summed up on stderr.
        with _quiet(logging.getLogger(STATUS_LOG)):
            report = await run_until_idle(manager, max_reconciles=100 * (len(seeded) + 10))
    finally:
        if fallback is not None:
            await fallback.aclose()
    return Rendered(store, reconcilers, report, skipped, sorted(inspector.missing))


@contextlib.contextmanager
def _quiet(log: logging.Logger) -> Iterator[None]:
    disabled, log.disabled = log.disabled, True
    try:
        yield
    finally:
        log.disabled = disabled


def failures(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """`Kind namespace/name: reason: message` for every object that ends Failed."""
    out = []
    for obj in objects:
        status = obj.get("status") or {}
        if status.get("status") != "Failed":
            continue
        ready: Mapping[str, Any] = next(
            (c for c in status.get("conditions") or () if c.get("type") == "Ready"), {}
        )
        meta = obj["metadata"]
        where = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
        out.append(f"{obj['kind']} {where}: {ready.get('reason', 'Failed')}: {ready.get('message', '')}")
    return out
