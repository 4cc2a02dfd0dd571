"""Kubernetes resource quantities ("64Gi", "500m", 4) as the API server accepts them.

Values are kept exactly as written (an int stays an int, "64Gi" stays "64Gi"); `to_decimal`
turns one into a number for comparisons such as minVram against a node's VRAM.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

# The grammar of k8s.io/apimachinery resource.Quantity, as used in CRD schemas.
QUANTITY_PATTERN = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"  # noqa: E501 (one grammar, kept whole)
_QUANTITY_RE = re.compile(QUANTITY_PATTERN)

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def _check(value: str | int) -> str | int:
    if isinstance(value, bool):
        raise ValueError("a quantity is a number or a string such as '64Gi' or '500m', not a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"quantity {value} must not be negative")
        return value
    if not _QUANTITY_RE.match(value):
        raise ValueError(
            f"{value!r} is not a Kubernetes quantity; write a number with an optional suffix "
            "such as '64Gi', '500m' or '4'"
        )
    return value


Quantity = Annotated[
    str | int,
    AfterValidator(_check),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": True,
        }
    ),
]


def to_decimal(value: str | int) -> Decimal:
    """The numeric value of a quantity in base units (bytes, cores)."""
    if isinstance(value, int):
        return Decimal(value)
    text = value.strip()
    for suffix, factor in _BINARY.items():
        if text.endswith(suffix):
            return _number(text[: -len(suffix)], value) * factor
    if text and text[-1] in _DECIMAL and not text[-1].isdigit():
        return _number(text[:-1], value) * _DECIMAL[text[-1]]
    return _number(text, value)


def _number(text: str, original: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"{original!r} is not a Kubernetes quantity") from exc
