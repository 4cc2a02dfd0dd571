"""One read-only fields set for every cached model instance that set the same fields.

Pydantic keeps, on every model instance, the set of field names that were set
(`__pydantic_fields_set__`, what `exclude_unset` dumps read). A set costs 216 bytes with up to
four names and 728 with up to eighteen, so in a cached template (15 model instances: metadata,
spec, status, conditions, profile, ...) the sets are about half of what pydantic adds: 7.8 KB
of a template's 16 KB. The sets repeat: every Ready condition set the same fields, every
template of a model the same spec fields. `share_fields_sets` replaces each set of a parsed,
cached object by one shared `ReadOnlyFieldsSet` per distinct set of names.

Cached objects are shared by every reconciler and must never be changed in place; with a
shared set that rule is enforced: assigning a field of a cached object raises a TypeError
that says to copy it first. `model_copy` (and copy/deepcopy) of a cached object give the
copy a plain set of its own, so copies stay freely changeable.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NoReturn, get_args

from pydantic import BaseModel

_MAX_SHARED = 4096
"""Distinct fields sets kept; there are a few hundred at most (one per combination of fields
a schema allows that objects use), the bound only guards against the unforeseen."""


class ReadOnlyFieldsSet(set[str]):
    """A set of field names shared by model instances of the cache: never changed in place."""

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(
            "this object belongs to the informer cache and is shared by every reconciler: "
            "change a copy of it (model_copy(deep=True)), not the cached object"
        )

    add = discard = remove = pop = clear = update = _read_only
    difference_update = intersection_update = symmetric_difference_update = _read_only
    __ior__ = __iand__ = __isub__ = __ixor__ = _read_only

    def __copy__(self) -> set[str]:
        return set(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> set[str]:
        return set(self)

    def __reduce__(self) -> tuple[type[set[str]], tuple[list[str]]]:
        return set, (list(self),)


_shared: dict[frozenset[str], ReadOnlyFieldsSet] = {}


def shared_fields_set(names: Iterable[str]) -> ReadOnlyFieldsSet:
    key = frozenset(names)
    found = _shared.get(key)
    if found is None:
        if len(_shared) >= _MAX_SHARED:
            _shared.clear()  # the sets in use stay where they are; only sharing with them ends
        found = ReadOnlyFieldsSet(key)
        _shared[key] = found
    return found


def share_fields_sets(model: BaseModel) -> None:
    """Give `model` and every model instance inside it (in fields, lists and dict values) the
    shared read-only set of its field names."""
    fields_set = model.__pydantic_fields_set__
    if type(fields_set) is not ReadOnlyFieldsSet:
        object.__setattr__(model, "__pydantic_fields_set__", shared_fields_set(fields_set))
    values = model.__dict__
    for name in _fields_with_models(type(model)):
        value = values.get(name)
        if value is None:
            continue
        # Models sit in fields, in lists (conditions) and in dict values, never deeper.
        if type(value) is list:
            items: Iterable[Any] = value
        elif type(value) is dict:
            items = value.values()
        else:
            items = (value,)
        for item in items:
            if isinstance(item, BaseModel):
                share_fields_sets(item)


_MODEL_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {}


def _fields_with_models(cls: type[BaseModel]) -> tuple[str, ...]:
    """The fields of `cls` whose type can hold a model: the walk visits only those (extra
    fields of open models are raw JSON, never models)."""
    found = _MODEL_FIELDS.get(cls)
    if found is None:
        found = tuple(name for name, info in cls.model_fields.items() if _may_hold_model(info.annotation))
        _MODEL_FIELDS[cls] = found
    return found


def _may_hold_model(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_may_hold_model(arg) for arg in get_args(annotation))
