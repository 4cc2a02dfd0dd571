"""Cache indexes the controllers share, registered once per store."""

from __future__ import annotations

from aim_engine.api.v1alpha1 import (
    AIMClusterModel,
    AIMClusterServiceTemplate,
    AIMModel,
    AIMService,
    AIMServiceTemplate,
)
from aim_engine.catalog.model_kind import FineTunedModel, classify
from aim_engine.catalog.runtime_config import effective_name
from aim_engine.runtime.store import Store

MODEL_NAME = "spec.modelName"
"""Templates by the model they deploy."""
RUNTIME_CONFIG = "runtimeConfig"
"""Models by the runtime config they use (`default` when unset)."""
AIM_ID = "spec.aimId"
"""Templates by the model family they serve (what fine-tuned models match on)."""
FINE_TUNED_AIM_ID = "fineTunedAimId"
"""Fine-tuned models by their `spec.aimId` (other models are not indexed)."""
SERVICE_TEMPLATE = "serviceTemplate"
"""Services by the template they name (`spec.template.name`) or resolved (`status.resolvedTemplate`)."""


def _fine_tuned_aim_id(model: AIMModel | AIMClusterModel) -> list[str]:
    kind = classify(model.spec)
    return [kind.aim_id] if isinstance(kind, FineTunedModel) else []


def service_templates(service: AIMService) -> list[str]:
    named = service.spec.template.name if service.spec.template else None
    resolved = service.status.resolved_template if service.status else None
    return sorted({n for n in (named, resolved.name if resolved else None) if n})


def _model_name(template: AIMServiceTemplate | AIMClusterServiceTemplate) -> list[str]:
    return [template.spec.model_name]


def _aim_id(template: AIMServiceTemplate | AIMClusterServiceTemplate) -> list[str]:
    return [template.spec.aim_id] if template.spec.aim_id else []


def _runtime_config(model: AIMModel | AIMClusterModel) -> list[str]:
    return [effective_name(model.spec.runtime_config_name)]


def register(store: Store) -> None:
    store.add_index(AIMServiceTemplate, MODEL_NAME, _model_name)
    store.add_index(AIMClusterServiceTemplate, MODEL_NAME, _model_name)
    store.add_index(AIMServiceTemplate, AIM_ID, _aim_id)
    store.add_index(AIMClusterServiceTemplate, AIM_ID, _aim_id)
    store.add_index(AIMModel, RUNTIME_CONFIG, _runtime_config)
    store.add_index(AIMClusterModel, RUNTIME_CONFIG, _runtime_config)
    store.add_index(AIMModel, FINE_TUNED_AIM_ID, _fine_tuned_aim_id)
    store.add_index(AIMClusterModel, FINE_TUNED_AIM_ID, _fine_tuned_aim_id)
    store.add_index(AIMService, SERVICE_TEMPLATE, service_templates)
