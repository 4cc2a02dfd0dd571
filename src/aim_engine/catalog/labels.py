"""Label and annotation keys the operator writes and reads."""

from __future__ import annotations

PREFIX = "aim.eai.amd.com"
MODEL = f"{PREFIX}/model"
"""On generated templates: the name of the model they belong to."""
ORIGIN = f"{PREFIX}/origin"
ORIGIN_AUTO = "auto-generated"
ORIGIN_FINE_TUNED = "fine-tuned"
TEMPLATE_ALIAS = f"{PREFIX}/template.alias"
"""On custom templates: the `name` the user gave the entry."""
DEPLOYMENT_IMAGE = f"{PREFIX}/deployment-image-ref"
"""Annotation on a template copy: the image an AIMService deploys for it."""
PAUSED = f"{PREFIX}/reconciliation-paused"
"""Annotation: "true" stops the operator from touching the object (for debugging)."""
