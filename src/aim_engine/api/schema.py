"""Helpers that attach Kubernetes-specific schema (CEL rules, list types) to pydantic models.

The CRD generator (`aim_engine.api.crds`) turns pydantic's JSON schema into structural
OpenAPI v3; anything Kubernetes-only travels through `json_schema_extra`.
"""

from __future__ import annotations

from typing import Any


def cel(rule: str, message: str, *more: tuple[str, str]) -> dict[str, Any]:
    """`x-kubernetes-validations` for a model: one or more (rule, message) pairs.

    Messages name the field and say how to fix it; they are what `kubectl apply` prints.
    """
    rules = [(rule, message), *more]
    return {"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]}
