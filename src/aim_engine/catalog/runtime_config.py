"""Which runtime config an object uses.

The name is `spec.runtimeConfigName`, or `default` when empty. A namespaced object looks for an
AIMRuntimeConfig of that name in its own namespace first, then an AIMClusterRuntimeConfig;
cluster-scoped objects only see cluster configs. A missing `default` is fine (built-in
defaults apply); a missing config that was asked for by name is an error the user must fix.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def resolve(
    requested: str | None,
    namespaced: AIMRuntimeConfig | None,
    cluster: AIMClusterRuntimeConfig | None,
) -> RuntimeConfigResolution:
    name = effective_name(requested)
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
