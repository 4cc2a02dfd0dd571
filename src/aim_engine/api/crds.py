"""CustomResourceDefinitions generated from the pydantic types.

pydantic's JSON schema is close to what Kubernetes wants but not structural: it uses `$ref`,
`anyOf` with `null` for optional fields, titles and defaults. `structural()` rewrites it into
the structural OpenAPI v3 subset the API server requires. Defaults are deliberately dropped:
the operator applies them in code, so what a user wrote is stored exactly as written.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from aim_engine.api import v1alpha1, v1alpha2
from aim_engine.api.meta import GROUP, KubeObject

Schema = dict[str, Any]

# Keys pydantic emits that have no place in a CRD schema.
_DROP = {"title", "default", "$defs", "examples"}


@dataclass(frozen=True)
class Column:
    name: str
    json_path: str
    type: str = "string"
    priority: int = 0
    description: str | None = None

    def render(self) -> Schema:
        out: Schema = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.priority:
            out["priority"] = self.priority
        if self.description:
            out["description"] = self.description
        return out


AGE = Column("Age", ".metadata.creationTimestamp", "date")


@dataclass(frozen=True)
class Version:
    cls: type[KubeObject]
    storage: bool = True
    served: bool = True


@dataclass(frozen=True)
class CrdSpec:
    plural: str
    kind: str
    short_names: tuple[str, ...]
    versions: tuple[Version, ...]
    columns: tuple[Column, ...]
    namespaced: bool
    categories: tuple[str, ...] = ("aim",)
    status_default: Schema | None = None
    """What the API server shows as the status of an object no controller has written yet."""

    @property
    def name(self) -> str:
        return f"{self.plural}.{GROUP}"


def _resolve(node: Any, defs: dict[str, Schema]) -> Any:
    """Inline every `$ref` (CRD schemas cannot reference) and drop pydantic-only keys."""
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        target.update(siblings)
        return _resolve(target, defs)
    out: Schema = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "additionalProperties" and value is False:
            continue  # structural schemas prune unknown fields anyway; `false` is not allowed
        if key == "properties":
            out[key] = {name: _resolve(sub, defs) for name, sub in value.items()}
        else:
            out[key] = _resolve(value, defs)
    return _unwrap_optional(out)


def _unwrap_optional(node: Schema) -> Schema:
    """`anyOf: [X, {type: null}]` (pydantic's `X | None`) becomes X itself."""
    variants = node.get("anyOf")
    if not isinstance(variants, list):
        return node
    non_null = [v for v in variants if v != {"type": "null"}]
    if len(non_null) == len(variants) or len(non_null) != 1:
        return node
    inner = dict(non_null[0])
    for key, value in node.items():
        if key != "anyOf":
            inner.setdefault(key, value)
    return inner


def structural(model: type[BaseModel]) -> Schema:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    schema: Schema = _resolve(raw, defs)
    return schema


def object_schema(cls: type[KubeObject]) -> Schema:
    fields = cls.model_fields
    properties: Schema = {
        "apiVersion": {"type": "string", "description": "API version of this object."},
        "kind": {"type": "string", "description": "Kind of this object."},
        "metadata": {"type": "object"},
    }
    required: list[str] = []
    for name in ("spec", "status"):
        info = fields.get(name)
        if info is None:
            continue
        annotation = info.annotation
        model = _model_of(annotation)
        properties[name] = structural(model)
        if info.is_required():
            required.append(name)
    schema: Schema = {"type": "object", "properties": properties}
    if cls.__doc__:
        schema["description"] = " ".join(cls.__doc__.split())
    if required:
        schema["required"] = required
    return schema


def _model_of(annotation: Any) -> type[BaseModel]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    raise TypeError(f"no pydantic model in {annotation!r}")


def _with_status_default(schema: Schema, spec: CrdSpec) -> Schema:
    if spec.status_default is not None:
        schema["properties"]["status"]["default"] = spec.status_default
    return schema


# The document's initial state: `kubectl get` shows Pending for a new model or service at once,
# with no write (the API server fills the default in whenever it reads an object without status).
PENDING = {"status": "Pending"}


def render_crd(spec: CrdSpec) -> Schema:
    versions = []
    for version in spec.versions:
        versions.append(
            {
                "name": version.cls.API_VERSION.split("/", 1)[1],
                "served": version.served,
                "storage": version.storage,
                "schema": {"openAPIV3Schema": _with_status_default(object_schema(version.cls), spec)},
                "subresources": {"status": {}},
                "additionalPrinterColumns": [c.render() for c in spec.columns],
            }
        )
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": spec.name, "labels": {"app.kubernetes.io/part-of": "aim-engine"}},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": spec.kind,
                "listKind": f"{spec.kind}List",
                "plural": spec.plural,
                "singular": spec.kind.lower(),
                "shortNames": list(spec.short_names),
                "categories": list(spec.categories),
            },
            "scope": "Namespaced" if spec.namespaced else "Cluster",
            "versions": versions,
        },
    }


_MODEL_COLUMNS = (
    Column("Status", ".status.status"),
    Column("Source", ".status.sourceType"),
    Column("Image", ".spec.image"),
    Column("Model", ".status.imageMetadata.model.canonicalName"),
    Column("Templates", ".status.templateCount", "integer"),
    AGE,
)
_TEMPLATE_COLUMNS = (
    Column("Model", ".spec.modelName"),
    Column("Status", ".status.status"),
    Column("Hardware", ".status.hardwareSummary"),
    Column("Metric", ".status.profile.metadata.metric"),
    Column("Precision", ".status.profile.metadata.precision"),
    Column("Type", ".status.profile.metadata.type", priority=1),
    Column("Image", ".status.deploymentImage", priority=1),
    AGE,
)
_RUNTIME_CONFIG_COLUMNS = (
    Column("Service-Account", ".spec.serviceAccountName"),
    Column("Auto-Discovery", ".spec.model.autoDiscovery", "boolean"),
    AGE,
)
_PROFILE_COLUMNS = (
    Column("Status", ".status.status"),
    Column("Model", ".spec.modelId"),
    Column("Accelerator", ".spec.acceleratorModel"),
    Column("Count", ".spec.acceleratorCount", "integer"),
    Column("Metric", ".spec.metric"),
    Column("Precision", ".spec.precision"),
    Column("Image", ".spec.image", priority=1),
    AGE,
)

CRDS: tuple[CrdSpec, ...] = (
    CrdSpec(
        "aimmodels",
        "AIMModel",
        ("aimmdl",),
        (Version(v1alpha1.AIMModel), Version(v1alpha2.AIMModel, storage=False)),
        _MODEL_COLUMNS,
        namespaced=True,
        status_default=PENDING,
    ),
    CrdSpec(
        "aimclustermodels",
        "AIMClusterModel",
        ("aimclmdl",),
        (Version(v1alpha1.AIMClusterModel), Version(v1alpha2.AIMClusterModel, storage=False)),
        _MODEL_COLUMNS,
        namespaced=False,
        status_default=PENDING,
    ),
    CrdSpec(
        "aimservicetemplates",
        "AIMServiceTemplate",
        ("aimtpl",),
        (Version(v1alpha1.AIMServiceTemplate),),
        _TEMPLATE_COLUMNS,
        namespaced=True,
    ),
    CrdSpec(
        "aimclusterservicetemplates",
        "AIMClusterServiceTemplate",
        ("aimcltpl",),
        (Version(v1alpha1.AIMClusterServiceTemplate),),
        _TEMPLATE_COLUMNS,
        namespaced=False,
    ),
    CrdSpec(
        "aimruntimeconfigs",
        "AIMRuntimeConfig",
        ("aimrc",),
        (Version(v1alpha1.AIMRuntimeConfig),),
        _RUNTIME_CONFIG_COLUMNS,
        namespaced=True,
    ),
    CrdSpec(
        "aimclusterruntimeconfigs",
        "AIMClusterRuntimeConfig",
        ("aimclrc",),
        (Version(v1alpha1.AIMClusterRuntimeConfig),),
        _RUNTIME_CONFIG_COLUMNS,
        namespaced=False,
    ),
    CrdSpec(
        "aimservices",
        "AIMService",
        ("aimsvc",),
        (Version(v1alpha1.AIMService),),
        (
            Column("Status", ".status.status"),
            Column("Model", ".status.resolvedModel.name"),
            Column("Template", ".status.resolvedTemplate.name"),
            Column("Image", ".status.resolvedImage", priority=1),
            Column("Replicas", ".spec.replicas", "integer", priority=1),
            AGE,
        ),
        namespaced=True,
        status_default=PENDING,
    ),
    CrdSpec(
        "aimprofiles",
        "AIMProfile",
        ("aimprof",),
        (Version(v1alpha2.AIMProfile),),
        _PROFILE_COLUMNS,
        namespaced=True,
    ),
    CrdSpec(
        "aimclusterprofiles",
        "AIMClusterProfile",
        ("aimclprof",),
        (Version(v1alpha2.AIMClusterProfile),),
        _PROFILE_COLUMNS,
        namespaced=False,
    ),
)


def all_crds() -> list[Schema]:
    return [render_crd(spec) for spec in CRDS]


def crd_file_name(crd: Schema) -> str:
    return f"{GROUP}_{crd['spec']['names']['plural']}.yaml"
