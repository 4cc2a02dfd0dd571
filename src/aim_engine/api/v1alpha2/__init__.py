"""aim.eai.amd.com/v1alpha2: models served beside v1alpha1, and profiles."""

from aim_engine.api.v1alpha2.model import AIMClusterModel, AIMModel
from aim_engine.api.v1alpha2.profile import (
    AIMClusterProfile,
    AIMProfile,
    AIMProfileSpec,
    AIMProfileStatus,
)

AnyProfile = AIMProfile | AIMClusterProfile
"""A profile of either scope."""

__all__ = [
    "AIMClusterModel",
    "AIMClusterProfile",
    "AIMModel",
    "AIMProfile",
    "AIMProfileSpec",
    "AIMProfileStatus",
    "AnyProfile",
]
