"""Kubernetes building blocks shared by every AIM kind: object metadata, conditions, env vars,
resource requirements and the `KubeObject` base class that ties a pydantic model to its API
coordinates (group/version, kind, plural, scope).

Python attribute names are snake_case; the wire names (aliases) are exactly the Kubernetes
JSON names, so `model_validate(yaml_dict)` and `dump()` round-trip user documents unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, WithJsonSchema, model_validator
from pydantic.alias_generators import to_camel

from aim_engine.api.quantity import Quantity

GROUP = "aim.eai.amd.com"
PAUSED_ANNOTATION = f"{GROUP}/reconciliation-paused"


def field_path(location: Sequence[str | int]) -> str:
    """A field path as the API server writes it: `spec.modelSources[0].modelId`."""
    out = ""
    for step in location:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


"""`"true"` on an object: the operator leaves it alone (checked by the Manager, for every kind)."""


class ApiModel(BaseModel):
    """Base for every typed API structure: camelCase on the wire, snake_case in Python.

    Unknown fields are rejected at parse time so a typo in YAML fed to the CLI is reported,
    exactly as the API server's schema would prune it on a cluster.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=False,
        serialize_by_alias=True,
        # Field docstrings become descriptions in the generated CRDs (kubectl explain).
        use_attribute_docstrings=True,
    )

    def dump(self) -> dict[str, Any]:
        """The object as the API server sees it: wire names, only fields that were set, and no
        nulls (the API server prunes them, so sending one would make a stored object differ
        from what we believe we wrote)."""
        return self.model_dump(by_alias=True, exclude_unset=True, exclude_none=True, mode="json")


class OpenModel(ApiModel):
    """For Kubernetes structures we carry but do not own (metadata we only read)."""

    model_config = ConfigDict(extra="allow")


class OwnerReference(ApiModel):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(OpenModel):
    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    owner_references: list[OwnerReference] | None = None
    finalizers: list[str] | None = None


class LocalObjectReference(ApiModel):
    name: str


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(ApiModel):
    """The `metav1.Condition` shape."""

    type: Annotated[str, Field(min_length=1, max_length=316)]
    status: ConditionStatus
    reason: Annotated[str, Field(max_length=1024)] = ""
    message: Annotated[str, Field(max_length=32768)] = ""
    last_transition_time: str | None = None
    observed_generation: Annotated[int, Field(ge=0)] | None = None


# Conditions are a list-map keyed by type, as metav1.Condition lists are everywhere.
Conditions = Annotated[
    list[Condition],
    Field(
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ),
]


class SecretKeySelector(ApiModel):
    name: str | None = None
    key: str
    optional: bool | None = None


class ObjectFieldSelector(ApiModel):
    api_version: str | None = None
    field_path: str


class ResourceFieldSelector(ApiModel):
    container_name: str | None = None
    resource: str
    divisor: Quantity | None = None


class EnvVarSource(ApiModel):
    secret_key_ref: SecretKeySelector | None = None
    config_map_key_ref: SecretKeySelector | None = None
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None


class EnvVar(ApiModel):
    name: Annotated[str, Field(min_length=1)]
    value: str | None = None
    value_from: EnvVarSource | None = None


class ResourceClaim(ApiModel):
    name: str
    request: str | None = None


class ResourceRequirements(ApiModel):
    limits: dict[str, Quantity] | None = None
    requests: dict[str, Quantity] | None = None
    claims: list[ResourceClaim] | None = None


# A free-form JSON object (engine args): the CRD keeps every key and value as written.
FreeObject = Annotated[
    dict[str, JsonValue],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]


class KubeObject(ApiModel):
    """A top-level Kubernetes object of one of our kinds (or a core kind we read)."""

    API_VERSION: ClassVar[str]
    KIND: ClassVar[str]
    PLURAL: ClassVar[str]
    NAMESPACED: ClassVar[bool]
    METADATA_ONLY: ClassVar[bool] = False
    """Listed and watched as PartialObjectMetadata: the server sends no spec, data or status."""
    LABEL_SELECTOR: ClassVar[str | None] = None
    """Listed and watched with this label selector: the cache holds only the objects it selects
    (the predictor pods of our services, not every pod of the cluster)."""
    FIELD_SELECTOR: ClassVar[str | None] = None
    """Listed and watched with this field selector (the events about InferenceServices)."""

    model_config = ConfigDict(extra="ignore")

    api_version: str
    kind: str
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    @model_validator(mode="before")
    @classmethod
    def _fill_type(cls, data: Any) -> Any:
        # Items of a LIST of built-in kinds come without apiVersion/kind; the class knows them.
        if not isinstance(data, dict) or not hasattr(cls, "KIND"):
            return data
        filled = dict(data)
        if "apiVersion" not in filled and "api_version" not in filled:
            filled["apiVersion"] = cls.API_VERSION
        filled.setdefault("kind", cls.KIND)
        return filled

    @classmethod
    def new(cls, name: str, namespace: str | None = None, **fields: Any) -> Self:
        """Build an object of this kind with apiVersion/kind filled in."""
        meta = ObjectMeta(name=name, namespace=namespace if cls.NAMESPACED else None)
        return cls(api_version=cls.API_VERSION, kind=cls.KIND, metadata=meta, **fields)

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    @property
    def namespace(self) -> str | None:
        return self.metadata.namespace

    @property
    def key(self) -> ObjectKey:
        return ObjectKey(self.metadata.namespace or "", self.name)

    @property
    def labels(self) -> dict[str, str]:
        return self.metadata.labels or {}

    @property
    def annotations(self) -> dict[str, str]:
        return self.metadata.annotations or {}

    def owner_reference(self, *, controller: bool = True) -> OwnerReference:
        return OwnerReference(
            api_version=self.API_VERSION,
            kind=self.KIND,
            name=self.name,
            uid=self.metadata.uid or "",
            controller=controller,
            block_owner_deletion=True if controller else None,
        )


class ObjectKey(tuple[str, str]):
    """(namespace, name); namespace is "" for cluster-scoped objects."""

    __slots__ = ()

    def __new__(cls, namespace: str, name: str) -> ObjectKey:
        return super().__new__(cls, (namespace, name))

    @property
    def namespace(self) -> str:
        return self[0]

    @property
    def name(self) -> str:
        return self[1]

    def __str__(self) -> str:
        return f"{self[0]}/{self[1]}" if self[0] else self[1]
