"""Kinds and a reconciler for the runtime's own tests (unit, integration, subprocess operator).

`Gadget` (group runtime.aim-engine.test) is a tiny CRD with a status subresource; its
reconciler owns one ConfigMap per gadget and watches "config" ConfigMaps that gadgets refer
to by name (a mapped watch through an index). No tests here: this module is imported.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Sequence
from typing import Any, ClassVar

from aim_engine.api.meta import ApiModel, KubeObject, ObjectKey
from aim_engine.runtime import Reconciler, Result, Store, Watch

GROUP = "runtime.aim-engine.test"


class ConfigMap(KubeObject):
    API_VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "ConfigMap"
    PLURAL: ClassVar[str] = "configmaps"
    NAMESPACED: ClassVar[bool] = True

    data: dict[str, str] | None = None


class GadgetSpec(ApiModel):
    size: int
    config_ref: str | None = None
    labels_on_child: dict[str, str] | None = None


class GadgetStatus(ApiModel):
    phase: str | None = None
    observed_size: int | None = None
    config_value: str | None = None


class Gadget(KubeObject):
    API_VERSION: ClassVar[str] = f"{GROUP}/v1"
    KIND: ClassVar[str] = "Gadget"
    PLURAL: ClassVar[str] = "gadgets"
    NAMESPACED: ClassVar[bool] = True

    spec: GadgetSpec
    status: GadgetStatus | None = None


class ClusterGadget(KubeObject):
    API_VERSION: ClassVar[str] = f"{GROUP}/v1"
    KIND: ClassVar[str] = "ClusterGadget"
    PLURAL: ClassVar[str] = "clustergadgets"
    NAMESPACED: ClassVar[bool] = False

    spec: GadgetSpec
    status: GadgetStatus | None = None


def _crd(kind: str, plural: str, scope: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": scope,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["size"],
                                    "properties": {
                                        "size": {"type": "integer"},
                                        "configRef": {"type": "string"},
                                        "labelsOnChild": {
                                            "type": "object",
                                            "additionalProperties": {"type": "string"},
                                        },
                                    },
                                },
                                "status": {
                                    "type": "object",
                                    "properties": {
                                        "phase": {"type": "string"},
                                        "observedSize": {"type": "integer"},
                                        "configValue": {"type": "string"},
                                    },
                                },
                            },
                        }
                    },
                }
            ],
        },
    }


GADGET_CRDS = {
    f"gadgets.{GROUP}": _crd("Gadget", "gadgets", "Namespaced"),
    f"clustergadgets.{GROUP}": _crd("ClusterGadget", "clustergadgets", "Cluster"),
}

CONFIG_INDEX = "configRef"


def child_name(gadget: str) -> str:
    return f"{gadget}-child"


class GadgetReconciler(Reconciler):
    """Owns `<gadget>-child` (data.size = spec.size, labels = spec.labelsOnChild) and writes
    status {phase: Ready, observedSize, configValue (data.value of the referenced ConfigMap)}.

    `namespace` limits it to one namespace, so that several test operators on one cluster do
    not act on each other's gadgets."""

    kind = Gadget
    owns = (ConfigMap,)

    def __init__(self, store: Store, namespace: str | None = None, *, fail_times: int = 0) -> None:
        self.store = store
        self.namespace = namespace
        self.fail_times = fail_times
        self.calls: collections.Counter[ObjectKey] = collections.Counter()
        self.running: set[ObjectKey] = set()
        self.overlaps = 0
        # Indexes live on the store (as aim_engine.controllers.indexes.register puts the product's).
        store.add_index(Gadget, CONFIG_INDEX, lambda g: [g.spec.config_ref] if g.spec.config_ref else [])
        self.watches = (Watch(ConfigMap, self.gadgets_using),)

    def gadgets_using(self, config: ConfigMap) -> list[ObjectKey]:
        return [g.key for g in self.store.list(Gadget, config.namespace, index=(CONFIG_INDEX, config.name))]

    async def reconcile(self, key: ObjectKey) -> Result | None:
        if self.namespace is not None and key.namespace != self.namespace:
            return None
        if key in self.running:
            self.overlaps += 1
        self.running.add(key)
        try:
            return await self._reconcile(key)
        finally:
            self.running.discard(key)

    async def _reconcile(self, key: ObjectKey) -> Result | None:
        self.calls[key] += 1
        if self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError("induced failure")
        gadget = self.store.get(Gadget, key.name, key.namespace)
        if gadget is None:
            return None
        child = ConfigMap.new(child_name(gadget.name), gadget.namespace, data={"size": str(gadget.spec.size)})
        if gadget.spec.labels_on_child:
            child.metadata.labels = dict(gadget.spec.labels_on_child)
        await self.store.apply(child, owner=gadget)
        value = None
        if gadget.spec.config_ref:
            config = self.store.get(ConfigMap, gadget.spec.config_ref, gadget.namespace)
            value = (config.data or {}).get("value") if config is not None else None
        status = GadgetStatus(phase="Ready", observed_size=gadget.spec.size, config_value=value)
        await self.store.apply_status(gadget.model_copy(update={"status": status}))
        return None


def build(store: Store, settings: Any) -> Sequence[Reconciler]:
    """Reconciler factory for `aim-engine run --reconcilers tests.support.gadgets:build`;
    the namespace to act in comes from $AIM_TEST_GADGET_NAMESPACE."""
    return [GadgetReconciler(store, os.environ.get("AIM_TEST_GADGET_NAMESPACE") or None)]
