"""aim.eai.amd.com/v1alpha1."""

from aim_engine.api.v1alpha1.common import (
    CustomProfile,
    Hardware,
    ImageMetadata,
    ModelMetadata,
    ModelSource,
    RecommendedDeployment,
    ResolvedReference,
    TemplateProfile,
)
from aim_engine.api.v1alpha1.model import (
    AIMClusterModel,
    AIMModel,
    AIMModelSpec,
    AIMModelStatus,
    CustomModelSpec,
    CustomTemplate,
    Discovery,
)
from aim_engine.api.v1alpha1.runtime_config import (
    AIMClusterRuntimeConfig,
    AIMRuntimeConfig,
    AIMRuntimeConfigSpec,
)
from aim_engine.api.v1alpha1.service import AIMService, AIMServiceSpec, AIMServiceStatus
from aim_engine.api.v1alpha1.template import (
    AIMClusterServiceTemplate,
    AIMServiceTemplate,
    AIMServiceTemplateSpec,
    AIMServiceTemplateStatus,
)

AnyModel = AIMModel | AIMClusterModel
"""A model of either scope."""
AnyTemplate = AIMServiceTemplate | AIMClusterServiceTemplate
"""A service template of either scope."""
AnyRuntimeConfig = AIMRuntimeConfig | AIMClusterRuntimeConfig
"""A runtime config of either scope."""

__all__ = [
    "AIMClusterModel",
    "AIMClusterRuntimeConfig",
    "AIMClusterServiceTemplate",
    "AIMModel",
    "AIMModelSpec",
    "AIMModelStatus",
    "AIMRuntimeConfig",
    "AIMRuntimeConfigSpec",
    "AIMService",
    "AIMServiceSpec",
    "AIMServiceStatus",
    "AIMServiceTemplate",
    "AIMServiceTemplateSpec",
    "AIMServiceTemplateStatus",
    "AnyModel",
    "AnyRuntimeConfig",
    "AnyTemplate",
    "CustomModelSpec",
    "CustomProfile",
    "CustomTemplate",
    "Discovery",
    "Hardware",
    "ImageMetadata",
    "ModelMetadata",
    "ModelSource",
    "RecommendedDeployment",
    "ResolvedReference",
    "TemplateProfile",
]
