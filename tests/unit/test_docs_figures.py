"""Figures the docs quote that the repository can count: the invalid objects tested against the
API server (tests/data/invalid_objects.yaml), and the number of tests in the suite (quoted once,
in docs/development.md, and checked whenever the whole suite runs)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([REPO / "README.md", REPO / "examples" / "README.md", *(REPO / "docs").glob("*.md")])
INVALID_OBJECTS = REPO / "tests" / "data" / "invalid_objects.yaml"
TEST_COUNT_IN = REPO / "docs" / "development.md"

_NUMBER = r"(\d[\d,]*)"
# "47 invalid objects", and the reliability table's "47 rejected by the API server".
_INVALID = re.compile(rf"\b{_NUMBER}\s+(?:invalid\s+objects?|rejected\s+by\s+the\s+API\s+server)\b")
_SUITE = re.compile(rf"\bThe suite has {_NUMBER} tests\b")
# Any other count of tests ("687 tests", "691 passed") would go stale unchecked.
_TEST_COUNT = re.compile(rf"\b{_NUMBER}\s+(?:tests|passed)\b")


def quoted(pattern: re.Pattern[str]) -> Iterator[tuple[str, int]]:
    """(`file:line`, number) for every match in the docs; a match may span a line break."""
    for path in DOCUMENTS:
        text = path.read_text()
        for match in pattern.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            yield f"{path.relative_to(REPO)}:{line}", int(match.group(1).replace(",", ""))


def test_the_invalid_object_count_quoted_is_the_number_of_cases() -> None:
    cases = yaml.safe_load(INVALID_OBJECTS.read_text())
    assert isinstance(cases, list) and all("object" in case and "expect" in case for case in cases)
    found = list(quoted(_INVALID))
    assert found, "the docs no longer say how many invalid objects are tested"
    wrong = [f"{where}: {number}" for where, number in found if number != len(cases)]
    assert not wrong, (
        f"{INVALID_OBJECTS.name} has {len(cases)} cases; the docs say otherwise at:\n" + "\n".join(wrong)
    )


def test_the_test_count_is_quoted_in_one_place_only() -> None:
    suite = list(quoted(_SUITE))
    where = f"{TEST_COUNT_IN.relative_to(REPO)}:"
    assert len(suite) == 1 and suite[0][0].startswith(where), (
        f"'The suite has N tests' must be said once, in {TEST_COUNT_IN.relative_to(REPO)}: {suite}"
    )
    others = [f"{place}: {number}" for place, number in quoted(_TEST_COUNT)]
    assert others == [f"{suite[0][0]}: {suite[0][1]}"], (
        "test counts quoted elsewhere go stale; quote the one in docs/development.md instead:\n"
        + "\n".join(others)
    )


def partial_because(config: pytest.Config) -> str | None:
    """Why this session does not collect the whole suite, or None when it does.

    Under pytest-xdist every worker collects the full list itself (the controller hands out
    indices into it), so a worker's `session.items` is the whole suite as much as a plain run's;
    the options and arguments below reach the workers unchanged."""
    option = config.option
    for flag, name in (
        ("-k", "keyword"),
        ("-m", "markexpr"),
        ("--deselect", "deselect"),
        ("--ignore", "ignore"),
        ("--ignore-glob", "ignore_glob"),
        ("--last-failed", "lf"),
        ("--stepwise", "stepwise"),
    ):
        if getattr(option, name, None):
            return f"{flag} {getattr(option, name)!r}"
    testpaths = {(config.rootpath / path).resolve() for path in config.getini("testpaths")}
    args = set()
    for arg in config.args:
        path, _, node = arg.partition("::")
        if node:
            return f"the node argument {arg}"
        args.add((config.invocation_params.dir / path).resolve())
    if args != testpaths:
        return f"the arguments {' '.join(config.args)} (not the testpaths {config.getini('testpaths')})"
    return None


def test_the_quoted_test_count_is_what_pytest_collects(request: pytest.FixtureRequest) -> None:
    collected = len(request.session.items)
    ((where, quoted_count),) = quoted(_SUITE)
    reason = partial_because(request.config)
    if reason is not None:
        pytest.skip(
            f"this session collected {collected} tests, not the whole suite ({reason}); "
            f"{where} says the suite has {quoted_count}"
        )
    assert collected == quoted_count, f"pytest collected {collected} tests; {where} says {quoted_count}"
