"""The one "namespace first, then cluster" lookup of a model by name.

Templates, fine-tuned matching and services resolve `modelName` the same way: an
AIMModel of that name in the asking object's namespace shadows the AIMClusterModel of the same
name; a cluster-scoped asker sees only cluster models.
"""

from __future__ import annotations

from aim_engine.api.v1alpha1 import AIMClusterModel, AIMClusterRuntimeConfig, AIMModel, AIMRuntimeConfig
from aim_engine.api.v1alpha2 import AIMClusterProfile, AIMProfile
from aim_engine.catalog import runtime_config
from aim_engine.runtime.store import Store


def find_model(store: Store, name: str, namespace: str | None) -> AIMModel | AIMClusterModel | None:
    """The model `name` as seen from `namespace` (None: from cluster scope)."""
    if namespace:
        found = store.get(AIMModel, name, namespace)
        if found is not None:
            return found
    return store.get(AIMClusterModel, name)


def find_profile(store: Store, name: str, namespace: str | None) -> AIMProfile | AIMClusterProfile | None:
    """The profile `name` as seen from `namespace`: an AIMProfile there shadows the
    AIMClusterProfile of the same name (None: from cluster scope, cluster profiles only)."""
    if namespace:
        found = store.get(AIMProfile, name, namespace)
        if found is not None:
            return found
    return store.get(AIMClusterProfile, name)


def find_runtime_config(
    store: Store, requested: str | None, namespace: str | None
) -> runtime_config.RuntimeConfigResolution:
    """The runtime config `requested` (default: `default`) as seen from `namespace`: the
    AIMRuntimeConfig there first, then the AIMClusterRuntimeConfig (None: cluster configs only)."""
    name = runtime_config.effective_name(requested)
    namespaced = store.get(AIMRuntimeConfig, name, namespace) if namespace else None
    return runtime_config.resolve(requested, namespaced, store.get(AIMClusterRuntimeConfig, name))
