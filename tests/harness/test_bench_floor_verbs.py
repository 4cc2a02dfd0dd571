"""The floor-verbs benchmark's variant names: letters it knows, and a clear error otherwise."""

from __future__ import annotations

import argparse

import pytest
from bench.bench_floor_verbs import variants


def test_variants_are_comma_separated_letter_sets() -> None:
    assert variants("p, s,m,smw,") == ["p", "s", "m", "smw"]


def test_an_unknown_letter_names_the_variant_and_the_letters_it_may_use() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"unknown variant 'sx'.*s, m, w"):
        variants("p,sx")
