"""The test suite relies on `--dist loadgroup` keeping each `xdist_group` on one worker (the
operator's tests share one operator; the image tests share one build). With pytest 9.2 and
pytest-xdist 3.8 the groups are silently ignored (pytest-dev/pytest-xdist#1386): this test fails
when that happens again."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.xdist_group("grouping-check")


def test_loadgroup_marks_grouped_tests(request: pytest.FixtureRequest) -> None:
    config = request.config
    if not hasattr(config, "workerinput") or not getattr(config.option, "loadgroup", False):
        pytest.skip("only meaningful on an xdist worker under --dist loadgroup")
    assert request.node.nodeid.endswith("@grouping-check"), (
        f"--dist loadgroup is not grouping: {request.node.nodeid} has no @group suffix, so grouped "
        "tests are spread over workers; pin the pytest version in pyproject.toml "
        "(pytest-dev/pytest-xdist#1386)"
    )
