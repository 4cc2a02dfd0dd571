"""A model as the other kinds see it: the model a template deploys, the owner of a template a
fine-tuned model copies, the model a service resolves. One projection for all three, built from
the stored object by `aim_engine.controllers.views.model_view`."""

from __future__ import annotations

from dataclasses import dataclass

from aim_engine.api.v1alpha1 import AIMModelSpec, ImageMetadata
from aim_engine.api.v1alpha1.common import ObjectStatus
from aim_engine.catalog.naming import describe


@dataclass(frozen=True, kw_only=True)
class ModelView:
    kind: str
    name: str
    namespace: str | None
    spec: AIMModelSpec
    uid: str | None = None
    phase: ObjectStatus | None = None
    """The model's `status.status` (None: not reported yet)."""
    message: str = ""
    """The model's Ready condition message, when it is not ready."""
    image_metadata: ImageMetadata | None = None
    """Its `status.imageMetadata`: None until it has been inspected."""

    @property
    def where(self) -> str:
        """How messages name it: `Kind namespace/name`, or `Kind name` for a cluster model."""
        return describe(self.kind, self.name, self.namespace)
