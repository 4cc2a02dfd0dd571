"""Waiting for the world to converge in integration tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    check: Callable[[T], bool],
    *,
    within: float = 30.0,
    what: str = "",
    interval: float = 0.05,
) -> T:
    """Poll `probe` until `check` accepts its result; fail with the last value seen."""
    deadline = time.monotonic() + within
    value = await probe()
    while not check(value):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {within:.0f}s waiting for {what or 'condition'}; last: {value!r}"
            )
        await asyncio.sleep(interval)
        value = await probe()
    return value
