"""Label and annotation keys the operator writes and reads."""

from __future__ import annotations

from aim_engine.api.meta import GROUP, PAUSED_ANNOTATION

PREFIX = GROUP
MODEL = f"{PREFIX}/model"
"""On generated templates: the name of the model they belong to."""
ORIGIN = f"{PREFIX}/origin"
ORIGIN_AUTO = "auto-generated"
ORIGIN_FINE_TUNED = "fine-tuned"
TEMPLATE_ALIAS = f"{PREFIX}/template.alias"
"""On custom templates: the `name` the user gave the entry."""
DEPLOYMENT_IMAGE = f"{PREFIX}/deployment-image-ref"
"""Annotation on a template copy: the image an AIMService deploys for it."""
PAUSED = PAUSED_ANNOTATION
"""Annotation: "true" stops the operator from touching the object (for debugging)."""
SOURCE_TEMPLATE = f"{PREFIX}/source-template"
"""Annotation on a template copy: the official template it was copied from (Kind/[ns/]name)."""
SOURCE_VERSION = f"{PREFIX}/source-version"
"""Annotation on a template copy: the version of the official template's model."""
SERVICE = f"{PREFIX}/service"
"""Label on a model an AIMService created: the service that first asked for it."""
CUSTOM_MODEL = f"{PREFIX}/custom-model"
"""Label "true" on a custom model an AIMService created from `spec.model.custom`."""
TEMPLATE = f"{PREFIX}/template"
"""Label on an InferenceService: the template it deploys."""
MANAGED_BY = "app.kubernetes.io/managed-by"
