"""AIMProfile / AIMClusterProfile reconciler: whether the cluster's nodes can run a profile,
and the resources it resolves to (`catalog.profiles.evaluate`). Profiles are created and
pruned by the model reconciler, for v1alpha2 models only."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from aim_engine.api.core import Node
from aim_engine.api.meta import KubeObject, ObjectKey
from aim_engine.api.v1alpha2 import AIMClusterProfile, AIMProfile, AIMProfileStatus, AnyProfile
from aim_engine.catalog import conditions
from aim_engine.catalog.profiles import evaluate
from aim_engine.controllers.gpu_nodes import gpu_signature_changed, inventory
from aim_engine.controllers.settings import ControllerSettings
from aim_engine.runtime.reconciler import Reconciler, Result, Watch
from aim_engine.runtime.store import Store


class ProfileReconciler(Reconciler):
    def __init__(self, store: Store, settings: ControllerSettings, *, cluster: bool) -> None:
        self.store = store
        self.settings = settings
        self.cluster = cluster
        self.kind = AIMClusterProfile if cluster else AIMProfile
        self.watches: list[Watch[Any]] = [Watch(Node, self._all_profiles, gpu_signature_changed)]

    @property
    def name(self) -> str:
        return "clusterprofile" if self.cluster else "profile"

    def _all_profiles(self, node: KubeObject) -> Iterable[ObjectKey]:
        return [p.key for p in self.store.list(self.kind)]

    async def reconcile(self, key: ObjectKey) -> Result | None:
        profile = cast(AnyProfile | None, self.store.get(self.kind, key.name, key.namespace or None))
        if profile is None:
            return None
        verdict = evaluate(profile.spec, inventory(self.store), len(self.store.list(Node)))
        status = profile.status or AIMProfileStatus()
        generation = profile.metadata.generation
        merged = conditions.merge(
            status.conditions,
            verdict.conditions,
            generation=generation,
            timestamp=conditions.timestamp(self.settings.clock()),
        )
        new_status = AIMProfileStatus(
            observed_generation=generation,
            status=verdict.status,
            version=verdict.version,
            matching_nodes=verdict.matching_nodes,
            hardware_summary=verdict.hardware_summary,
            resources=verdict.resources,
            conditions=merged,
        )
        await self.store.write_status(profile, new_status)
        return None
