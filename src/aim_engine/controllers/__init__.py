"""The operator's reconcilers, one per kind, wired to a Store and the image inspector."""

from __future__ import annotations

from aim_engine.controllers import indexes
from aim_engine.controllers.model import ModelReconciler
from aim_engine.controllers.profile import ProfileReconciler
from aim_engine.controllers.service import ServiceReconciler
from aim_engine.controllers.settings import ControllerSettings
from aim_engine.controllers.template import TemplateReconciler
from aim_engine.registry.inspector import Inspector
from aim_engine.runtime.reconciler import Reconciler
from aim_engine.runtime.store import Store

__all__ = ["ControllerSettings", "build_reconcilers"]


def build_reconcilers(store: Store, settings: ControllerSettings, inspector: Inspector) -> list[Reconciler]:
    """Every reconciler of the operator. Registers the shared cache indexes on `store`."""
    indexes.register(store)
    return [
        ModelReconciler(store, inspector, settings, cluster=False),
        ModelReconciler(store, inspector, settings, cluster=True),
        TemplateReconciler(store, settings, cluster=False),
        TemplateReconciler(store, settings, cluster=True),
        ServiceReconciler(store, settings),
        ProfileReconciler(store, settings, cluster=False),
        ProfileReconciler(store, settings, cluster=True),
    ]
