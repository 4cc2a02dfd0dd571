"""The three kinds of model, decided once from the spec.

- `ImageModel`: weights are in `spec.image`; discovery inspects it and templates come from the
  deployments it recommends (plus custom templates).
- `CustomModel`: `spec.modelSources` without `spec.aimId`; weights are downloaded at run time,
  the image is not inspected, templates come from `spec.custom` / `spec.customTemplates`.
- `FineTunedModel`: `spec.aimId` with `spec.modelSources`; templates are copies of the official
  templates of the base model family (`aimId`), filtered by version policy and `modelId`.

Planning, status and pruning switch on this value instead of re-testing the spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aim_engine.api.v1alpha1 import AIMModelSpec, ModelSource
from aim_engine.api.v1alpha1.common import SourceType
from aim_engine.catalog.images import image_tag

Policy = Literal["pinned", "latest", "any"]


@dataclass(frozen=True)
class ImageModel:
    source_type: SourceType = "Image"


@dataclass(frozen=True)
class CustomModel:
    source_type: SourceType = "Custom"


@dataclass(frozen=True)
class FineTunedModel:
    aim_id: str
    policy: Policy
    image: str | None
    """spec.image: with `pinned`, the deployment image of every copy and (its tag) the version."""
    sources: tuple[ModelSource, ...]
    source_type: SourceType = "Custom"

    @property
    def pinned_version(self) -> str | None:
        return image_tag(self.image) if self.policy == "pinned" else None

    @property
    def model_ids(self) -> list[str]:
        return [s.model_id for s in self.sources]


ModelType = ImageModel | CustomModel | FineTunedModel


def classify(spec: AIMModelSpec) -> ModelType:
    if not spec.model_sources:
        return ImageModel()
    if not spec.aim_id:
        return CustomModel()
    requested = spec.custom.version_policy if spec.custom else None
    # `all` is accepted as another spelling of `any`; unset means the documented default.
    policy: Policy = (
        "any" if requested in ("any", "all") else ("latest" if requested == "latest" else "pinned")
    )
    return FineTunedModel(spec.aim_id, policy, spec.image, tuple(spec.model_sources))
