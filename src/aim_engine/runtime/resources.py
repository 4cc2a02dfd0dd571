"""API coordinates of a `KubeObject` class: group, REST paths, identity."""

from __future__ import annotations

from aim_engine.api.meta import KubeObject, ObjectKey


def group_of(api_version: str) -> str:
    """ "aim.eai.amd.com/v1alpha1" -> "aim.eai.amd.com"; "v1" (core) -> ""."""
    return api_version.rpartition("/")[0]


def kind_label(kind: type[KubeObject]) -> str:
    """A short, stable name for logs and metric labels, e.g. "AIMModel.aim.eai.amd.com"."""
    group = group_of(kind.API_VERSION)
    return f"{kind.KIND}.{group}" if group else kind.KIND


def collection_path(kind: type[KubeObject], namespace: str | None = None) -> str:
    """REST path of the collection; all namespaces when `namespace` is None."""
    root = f"/apis/{kind.API_VERSION}" if "/" in kind.API_VERSION else f"/api/{kind.API_VERSION}"
    if kind.NAMESPACED and namespace:
        return f"{root}/namespaces/{namespace}/{kind.PLURAL}"
    return f"{root}/{kind.PLURAL}"


def object_path(kind: type[KubeObject], key: ObjectKey, subresource: str | None = None) -> str:
    if kind.NAMESPACED and not key.namespace:
        raise ValueError(f"{kind.KIND} is namespaced: {key.name!r} needs a namespace")
    path = f"{collection_path(kind, key.namespace if kind.NAMESPACED else None)}/{key.name}"
    return f"{path}/{subresource}" if subresource else path


def object_key(kind: type[KubeObject], name: str, namespace: str | None) -> ObjectKey:
    """The cache key of an object: namespace "" for cluster-scoped kinds whatever was passed."""
    return ObjectKey((namespace or "") if kind.NAMESPACED else "", name)
