"""Deterministic names for the objects the operator creates.

A name is a few readable parts followed by a short hash of the inputs that make the object
unique, cut to fit a Kubernetes object name (63 characters, RFC 1123 label). The same inputs
always give the same name, so reconciles are idempotent and names survive operator restarts.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence

MAX_NAME = 63
_INVALID = re.compile(r"[^a-z0-9-]")


def rfc1123_part(text: str) -> str:
    """Lowercase; every character outside [a-z0-9-] becomes '-'; no leading/trailing '-'."""
    part = _INVALID.sub("-", text.lower()).strip("-")
    return part[:MAX_NAME].rstrip("-") or "x"


def short_hash(inputs: Sequence[object], length: int = 8) -> str:
    """Hex SHA-256 of the JSON-encoded inputs joined by '|' (stable across Python runs)."""
    text = "|".join(json.dumps(item, sort_keys=True, separators=(",", ":")) for item in inputs)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def derived_name(
    parts: Sequence[str], hash_inputs: Sequence[object], *, hash_length: int = 8, max_length: int = MAX_NAME
) -> str:
    """`part1-part2-...-hash`, shortening the longest part first until it fits `max_length`."""
    clean = [rfc1123_part(p) for p in parts if p]
    digest = short_hash(hash_inputs, hash_length) if hash_length else ""
    while _length(clean, digest) > max_length:
        longest = max(range(len(clean)), key=lambda i: len(clean[i]))
        if len(clean[longest]) <= 1:
            break
        clean[longest] = clean[longest][:-1].rstrip("-") or "x"
    return "-".join([*clean, digest] if digest else clean)


def _length(parts: Sequence[str], digest: str) -> int:
    joined = sum(len(p) + 1 for p in parts)
    return joined + len(digest) if digest else joined - 1


def describe(kind: str, name: str, namespace: str | None) -> str:
    """How messages name an object: `Kind namespace/name`, or `Kind name` when cluster-scoped."""
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
