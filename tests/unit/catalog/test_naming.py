from __future__ import annotations

import hashlib

from aim_engine.catalog.naming import derived_name, rfc1123_part, short_hash


def test_rfc1123_part() -> None:
    assert rfc1123_part("Qwen/Qwen3-32B") == "qwen-qwen3-32b"
    assert rfc1123_part("--a_b--") == "a-b"
    assert rfc1123_part("___") == "x"


def test_short_hash_is_sha256_of_json_joined_by_bar() -> None:
    expected = hashlib.sha256(b'"my-custom-qwen"|0').hexdigest()[:8]
    assert short_hash(["my-custom-qwen", 0]) == expected


def test_derived_name_is_deterministic_and_bounded() -> None:
    name = derived_name(["model", "1x-MI300X", "lat", "fp8"], ["model", 1])
    assert name.startswith("model-1x-mi300x-lat-fp8-")
    assert name == derived_name(["model", "1x-MI300X", "lat", "fp8"], ["model", 1])
    long = derived_name(["a" * 80, "custom", "b" * 40], ["x"])
    assert len(long) <= 63
    assert long.endswith("-" + short_hash(["x"]))
    assert "custom" in long


def test_derived_name_changes_with_inputs() -> None:
    assert derived_name(["m"], [1]) != derived_name(["m"], [2])
