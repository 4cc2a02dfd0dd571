"""KServe's InferenceService (serving.kserve.io/v1beta1), the object an AIMService deploys.

The spec is carried as plain JSON: aim-engine writes a handful of predictor fields (built in
`catalog.inference_service`) and KServe's own webhooks add many more, which a cache of ours
must keep without modelling them. The status is read for its conditions only.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from aim_engine.api.meta import ApiModel, KubeObject

KSERVE_GROUP = "serving.kserve.io"
KSERVE_VERSION = "v1beta1"


class KServeCondition(ApiModel):
    """A Knative condition (KServe's conditions are of that shape, not metav1.Condition)."""

    model_config = ConfigDict(extra="ignore")

    type: str
    status: str
    reason: str | None = None
    message: str | None = None
    severity: str | None = None


class InferenceServiceStatus(ApiModel):
    model_config = ConfigDict(extra="ignore")

    url: str | None = None
    observed_generation: int | None = None
    conditions: list[KServeCondition] | None = None
    model_status: dict[str, Any] | None = None
    """KServe's `modelStatus` (transitionStatus, states, lastFailureInfo), read as written."""

    def condition(self, type_: str) -> KServeCondition | None:
        return next((c for c in self.conditions or () if c.type == type_), None)


class InferenceService(KubeObject):
    API_VERSION: ClassVar[str] = f"{KSERVE_GROUP}/{KSERVE_VERSION}"
    KIND: ClassVar[str] = "InferenceService"
    PLURAL: ClassVar[str] = "inferenceservices"
    NAMESPACED: ClassVar[bool] = True

    spec: dict[str, Any] = Field(default_factory=dict)
    status: InferenceServiceStatus | None = None
