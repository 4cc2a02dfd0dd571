"""v1alpha2 AIMModel / AIMClusterModel.

The spec and status are the v1alpha1 ones: both versions are served from one stored
version (v1alpha1) without a conversion webhook, which is only safe while the schemas agree.
A v1alpha2 model's discovery additionally creates (Cluster)Profiles.
"""

from __future__ import annotations

from typing import ClassVar

from aim_engine.api.meta import KubeObject
from aim_engine.api.v1alpha1.model import AIMModelSpec, AIMModelStatus
from aim_engine.api.v1alpha2.groupversion import GROUP_VERSION


class AIMModel(KubeObject):
    API_VERSION: ClassVar[str] = GROUP_VERSION
    KIND: ClassVar[str] = "AIMModel"
    PLURAL: ClassVar[str] = "aimmodels"
    NAMESPACED: ClassVar[bool] = True

    spec: AIMModelSpec
    status: AIMModelStatus | None = None


class AIMClusterModel(KubeObject):
    API_VERSION: ClassVar[str] = GROUP_VERSION
    KIND: ClassVar[str] = "AIMClusterModel"
    PLURAL: ClassVar[str] = "aimclustermodels"
    NAMESPACED: ClassVar[bool] = False

    spec: AIMModelSpec
    status: AIMModelStatus | None = None
