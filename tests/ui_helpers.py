"""Helpers shared by the TUI tests (Pilot at 80x24)."""

from __future__ import annotations

import contextlib
import html
import re
import time
from dataclasses import dataclass

from rich.cells import cell_len
from textual.app import App
from textual.widgets import Static

from tui.app import make_app


class Alone(App):
    """One widget mounted alone in a tiny app, for its unit tests."""

    def __init__(self, widget) -> None:
        super().__init__()
        self.widget = widget

    def compose(self):
        yield self.widget


async def wait_for(pilot, predicate, timeout: float = 120.0, step: float = 0.1):
    """Let the app run until ``predicate()`` holds (worker events arrive as messages)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the UI")
        await pilot.pause(step)


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).content)


@dataclass(frozen=True)
class Note:
    message: str
    title: str
    severity: str


class Notes(list):
    """Every notification an app shows, in order, recorded through the public
    ``App.notify`` (which screens and widgets call through too)."""

    def __init__(self, app) -> None:
        super().__init__()
        shown = app.notify

        def notify(message, *, title="", severity="information", **options):
            self.append(Note(str(message), title, severity))
            return shown(message, title=title, severity=severity, **options)

        app.notify = notify


def record_notifications(app) -> Notes:
    """Call before ``run_test``: the app notifies from ``on_mount`` already."""
    return Notes(app)


@contextlib.asynccontextmanager
async def at_step(step: str, *, model_path=None, data_dir=None, pause: float | None = None):
    """A fresh app at 80x24 on ``step``, with the model and data already chosen
    when given: yields (app, pilot, notes)."""
    app = make_app()
    notes = record_notifications(app)
    async with app.run_test(size=(80, 24)) as pilot:
        if model_path is not None:
            app.session.model_path = model_path
        if data_dir is not None:
            app.session.data_dir = data_dir
        app.go(step)
        await pilot.pause(pause)
        yield app, pilot, notes


_SVG_TEXT = re.compile(
    r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="([\d.]+)" '
    r'clip-path="url\(#[\w-]+-line-(\d+)\)">(.*?)</text>'
)


def screen_text(app) -> str:
    """The screen as plain text, as a terminal would show it: read back from
    the public ``export_screenshot`` SVG."""
    return svg_text(app.export_screenshot(), app.size)


def svg_text(svg: str, size: tuple[int, int]) -> str:
    """The text of an ``export_screenshot`` SVG of a ``size`` (columns, rows)
    screen, where each run of text sits at its column times the cell width."""
    width, height = size
    rows = [[" "] * width for _ in range(height)]
    for x, length, row, escaped in _SVG_TEXT.findall(svg):
        text = html.unescape(escaped).replace("\xa0", " ")
        if not text:
            continue
        cells = [c for char in text for c in ((char, "") if cell_len(char) == 2 else (char,))]
        column = round(float(x) / (float(length) / len(cells)))
        rows[int(row)][column : column + len(cells)] = cells
    return "\n".join("".join(row) for row in rows)
