"""Which runtime config an object uses.

The name is `spec.runtimeConfigName`, or `default` when empty. A namespaced object sees the
AIMRuntimeConfig of that name in its own namespace and the AIMClusterRuntimeConfig of that name;
when both exist they are merged, the namespace config winning field by field (`env` merged by
variable name and `imagePullSecrets` by secret name, the cluster's first), as the published
engine merges them: platform-wide settings do not vanish in a namespace that sets its own.
Cluster-scoped objects see cluster configs only. A missing `default` is fine (built-in defaults
apply); a missing config that was asked for by name is an error the user must fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aim_engine.api.v1alpha1 import AIMClusterRuntimeConfig, AIMRuntimeConfig, ResolvedReference
from aim_engine.api.v1alpha1.runtime_config import AIMRuntimeConfigSpec
from aim_engine.catalog.conditions import Cond

DEFAULT_NAME = "default"
CONDITION = "RuntimeConfigReady"


def effective_name(requested: str | None) -> str:
    return requested or DEFAULT_NAME


@dataclass(frozen=True)
class RuntimeConfigResolution:
    name: str
    spec: AIMRuntimeConfigSpec | None
    reference: ResolvedReference | None
    condition: Cond

    @property
    def fatal(self) -> bool:
        return not self.condition.ok


def merged(cluster: AIMRuntimeConfigSpec, namespaced: AIMRuntimeConfigSpec) -> AIMRuntimeConfigSpec:
    """The cluster config overlaid by the namespace config of the same name, field by field."""
    base = cluster.model_dump(by_alias=True, exclude_none=True, mode="json")
    over = namespaced.model_dump(by_alias=True, exclude_none=True, mode="json")
    return AIMRuntimeConfigSpec.model_validate(_overlay(base, over))


_BY_NAME = ("env", "imagePullSecrets")
"""Lists merged item by item on their `name` (a later one replaces an earlier in place)."""


def _overlay(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in over.items():
        before = result.get(key)
        if key in _BY_NAME and isinstance(before, list) and isinstance(value, list):
            items = {item["name"]: item for item in before}
            items.update({item["name"]: item for item in value})
            result[key] = list(items.values())
        elif isinstance(before, dict) and isinstance(value, dict):
            result[key] = _overlay(before, value)
        else:
            result[key] = value
    return result


def resolve(
    requested: str | None,
    namespaced: AIMRuntimeConfig | None,
    cluster: AIMClusterRuntimeConfig | None,
) -> RuntimeConfigResolution:
    name = effective_name(requested)
    if namespaced is not None and cluster is not None:
        ref = ResolvedReference(
            name=namespaced.name,
            namespace=namespaced.namespace,
            kind=namespaced.KIND,
            scope="Merged",
            uid=namespaced.metadata.uid,
        )
        message = (
            f"Using {cluster.KIND} {name!r} merged with {namespaced.KIND} {name!r} of namespace "
            f"{namespaced.namespace} (the namespace's values win field by field)"
        )
        spec = merged(cluster.spec, namespaced.spec)
        return RuntimeConfigResolution(name, spec, ref, Cond(CONDITION, "True", "ConfigFound", message))
    chosen: AIMRuntimeConfig | AIMClusterRuntimeConfig | None = namespaced or cluster
    if chosen is not None:
        scope = "Namespace" if chosen is namespaced else "Cluster"
        ref = ResolvedReference(
            name=chosen.name,
            namespace=chosen.namespace,
            kind=chosen.KIND,
            scope=scope,
            uid=chosen.metadata.uid,
        )
        where = f"namespace {chosen.namespace}" if chosen.namespace else "the cluster"
        message = f"Using {chosen.KIND} {name!r} from {where}"
        return RuntimeConfigResolution(
            name, chosen.spec, ref, Cond(CONDITION, "True", "ConfigFound", message)
        )
    if not requested or requested == DEFAULT_NAME:
        message = "No runtime config named 'default' exists; built-in defaults apply"
        return RuntimeConfigResolution(
            name, None, None, Cond(CONDITION, "True", "DefaultConfigNotFound", message)
        )
    message = (
        f"Runtime config {name!r} (spec.runtimeConfigName) was not found as an AIMRuntimeConfig in this "
        "namespace or as an AIMClusterRuntimeConfig; create it or fix the name"
    )
    return RuntimeConfigResolution(name, None, None, Cond(CONDITION, "False", "ConfigNotFound", message))
