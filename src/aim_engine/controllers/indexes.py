"""Cache indexes the controllers share, registered once per store."""

from __future__ import annotations

from aim_engine.api.v1alpha1 import (
    AIMClusterModel,
    AIMClusterServiceTemplate,
    AIMModel,
    AIMServiceTemplate,
)
from aim_engine.catalog.runtime_config import effective_name
from aim_engine.runtime.store import Store

MODEL_NAME = "spec.modelName"
"""Templates by the model they deploy."""
RUNTIME_CONFIG = "runtimeConfig"
"""Models by the runtime config they use (`default` when unset)."""


def register(store: Store) -> None:
    store.add_index(AIMServiceTemplate, MODEL_NAME, lambda t: [t.spec.model_name])
    store.add_index(AIMClusterServiceTemplate, MODEL_NAME, lambda t: [t.spec.model_name])
    store.add_index(AIMModel, RUNTIME_CONFIG, lambda m: [effective_name(m.spec.runtime_config_name)])
    store.add_index(AIMClusterModel, RUNTIME_CONFIG, lambda m: [effective_name(m.spec.runtime_config_name)])
