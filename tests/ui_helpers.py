"""Helpers shared by the TUI tests (Pilot at 80x24)."""

from __future__ import annotations

import time

from textual.widgets import Static


async def wait_for(pilot, predicate, timeout: float = 120.0, step: float = 0.1):
    """Let the app run until ``predicate()`` holds (worker events arrive as messages)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the UI")
        await pilot.pause(step)


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).content)
