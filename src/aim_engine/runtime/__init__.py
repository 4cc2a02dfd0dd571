"""The controller runtime: informer caches, a deduplicating work queue, reconcilers, leader
election, server-side apply, status writes, events and metrics (see each module).

What a controller author uses::

    from aim_engine.runtime import (
        Backoff, KubeApi, KubeStore, Manager, MemoryStore, ObjectKey, Owns, Reconciler, Result,
        Store, Watch, run_until_idle,
    )
"""

from aim_engine.api.meta import ObjectKey
from aim_engine.runtime.errors import (
    ApiError,
    Conflict,
    ControllerRuntimeError,
    Gone,
    KindNotWatched,
    LeadershipLost,
    NotFound,
)
from aim_engine.runtime.fixpoint import IdleReport, NotConverged, run_until_idle
from aim_engine.runtime.kube_api import KubeApi, load_config
from aim_engine.runtime.kube_store import KubeStore
from aim_engine.runtime.leader import KubeLeaseLock, LeaderElector, MemoryLeaseLock
from aim_engine.runtime.manager import Manager
from aim_engine.runtime.memory_store import MemoryStore
from aim_engine.runtime.metrics import RuntimeMetrics
from aim_engine.runtime.operator import Operator, OperatorSettings, ReconcilerFactory
from aim_engine.runtime.reconciler import Backoff, Owns, Reconciler, Result, Watch
from aim_engine.runtime.store import FIELD_MANAGER, ChangeEvent, Store

__all__ = [
    "FIELD_MANAGER",
    "ApiError",
    "Backoff",
    "ChangeEvent",
    "Conflict",
    "ControllerRuntimeError",
    "Gone",
    "IdleReport",
    "KindNotWatched",
    "KubeApi",
    "KubeLeaseLock",
    "KubeStore",
    "LeaderElector",
    "LeadershipLost",
    "Manager",
    "MemoryLeaseLock",
    "MemoryStore",
    "NotConverged",
    "NotFound",
    "ObjectKey",
    "Operator",
    "OperatorSettings",
    "Owns",
    "Reconciler",
    "ReconcilerFactory",
    "Result",
    "RuntimeMetrics",
    "Store",
    "Watch",
    "load_config",
    "run_until_idle",
]
