"""Typed views of the core Kubernetes kinds the runtime and the controllers read.

Only the fields we use are modelled. Top-level objects ignore unknown fields (inherited from
`KubeObject`), and the nested structures below ignore them too: these kinds belong to
Kubernetes, which adds fields across releases, and a cache must never refuse a Node because
the API server learnt something new. Never write one of these views back with a full-object
PUT: what is not modelled would be lost.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field

from aim_engine.api.meta import ApiModel, KubeObject
from aim_engine.api.quantity import Quantity


class CoreModel(ApiModel):
    """A nested structure of a core kind: unknown fields are dropped, not rejected."""

    model_config = ConfigDict(extra="ignore")


class NodeStatus(CoreModel):
    capacity: dict[str, Quantity] | None = None
    allocatable: dict[str, Quantity] | None = None


class Node(KubeObject):
    API_VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "Node"
    PLURAL: ClassVar[str] = "nodes"
    NAMESPACED: ClassVar[bool] = False

    status: NodeStatus | None = None


class Secret(KubeObject):
    """Values in `data` are base64 as on the wire; never log them."""

    API_VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "Secret"
    PLURAL: ClassVar[str] = "secrets"
    NAMESPACED: ClassVar[bool] = True

    type: str | None = None
    # repr=False keeps secret values out of reprs, and so out of tracebacks and debug logs.
    data: dict[str, str] | None = Field(default=None, repr=False)


class SecretMetadata(KubeObject):
    """A Secret's name and version, watched so that a pull secret created or fixed after a
    model failed is used at once. The server sends metadata only (PartialObjectMetadata), and the
    informer drops the annotations too: `kubectl apply` keeps a copy of the values in
    `kubectl.kubernetes.io/last-applied-configuration`."""

    API_VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "Secret"
    PLURAL: ClassVar[str] = "secrets"
    NAMESPACED: ClassVar[bool] = True
    METADATA_ONLY: ClassVar[bool] = True


class PodCondition(CoreModel):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None


class ContainerStateWaiting(CoreModel):
    reason: str | None = None
    message: str | None = None


class ContainerStateTerminated(CoreModel):
    reason: str | None = None
    exit_code: int | None = None


class ContainerState(CoreModel):
    waiting: ContainerStateWaiting | None = None
    terminated: ContainerStateTerminated | None = None


class ContainerStatus(CoreModel):
    name: str
    ready: bool | None = None
    restart_count: int | None = None
    state: ContainerState | None = None
    last_state: ContainerState | None = None


class PodStatus(CoreModel):
    conditions: list[PodCondition] | None = None
    container_statuses: list[ContainerStatus] | None = None
    init_container_statuses: list[ContainerStatus] | None = None


class PredictorPod(KubeObject):
    """A pod of one of our services' predictors (KServe copies the predictor's labels, ours
    among them, to its pods): read so that a service says why its pod does not run."""

    API_VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "Pod"
    PLURAL: ClassVar[str] = "pods"
    NAMESPACED: ClassVar[bool] = True
    LABEL_SELECTOR: ClassVar[str | None] = "app.kubernetes.io/managed-by=aim-engine"

    status: PodStatus | None = None


class NamespaceStatus(CoreModel):
    phase: str | None = None


class Namespace(KubeObject):
    API_VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "Namespace"
    PLURAL: ClassVar[str] = "namespaces"
    NAMESPACED: ClassVar[bool] = False

    status: NamespaceStatus | None = None


class LeaseSpec(CoreModel):
    holder_identity: str | None = None
    lease_duration_seconds: int | None = None
    acquire_time: str | None = None
    """RFC 3339 with microseconds (metav1.MicroTime)."""
    renew_time: str | None = None
    lease_transitions: int | None = None


class Lease(KubeObject):
    API_VERSION: ClassVar[str] = "coordination.k8s.io/v1"
    KIND: ClassVar[str] = "Lease"
    PLURAL: ClassVar[str] = "leases"
    NAMESPACED: ClassVar[bool] = True

    spec: LeaseSpec | None = None


class ObjectReference(CoreModel):
    api_version: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None


class EventSource(CoreModel):
    component: str | None = None
    host: str | None = None


class Event(KubeObject):
    """A core v1 Event (the kind `kubectl describe` shows)."""

    API_VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "Event"
    PLURAL: ClassVar[str] = "events"
    NAMESPACED: ClassVar[bool] = True

    involved_object: ObjectReference
    reason: str | None = None
    message: str | None = None
    type: str | None = None
    source: EventSource | None = None
    count: int | None = None
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    reporting_component: str | None = None
    reporting_instance: str | None = None


class InferenceServiceEvent(Event):
    """An Event about an InferenceService: KServe says there why it could not deploy one
    (`InternalError`, `ServerlessModeRejected`) when it can write no condition."""

    FIELD_SELECTOR: ClassVar[str | None] = "involvedObject.kind=InferenceService"
