"""The catalog's projections of stored objects, built in one place."""

from __future__ import annotations

from aim_engine.api.v1alpha1 import AnyModel, AnyTemplate
from aim_engine.catalog import conditions
from aim_engine.catalog.model_view import ModelView
from aim_engine.catalog.service_templates import TemplateView


def model_view(model: AnyModel) -> ModelView:
    status = model.status
    ready = conditions.find(status.conditions if status else None, conditions.READY)
    return ModelView(
        kind=model.KIND,
        name=model.name,
        namespace=model.namespace,
        spec=model.spec,
        uid=model.metadata.uid,
        phase=status.status if status else None,
        message=ready.message if ready is not None and ready.status != "True" else "",
        image_metadata=status.image_metadata if status else None,
    )


def template_view(template: AnyTemplate) -> TemplateView:
    return TemplateView(
        kind=template.KIND,
        name=template.name,
        namespace=template.namespace,
        uid=template.metadata.uid,
        spec=template.spec,
        status=template.status,
        annotations=template.annotations,
    )
