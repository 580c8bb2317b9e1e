"""Tab 3: how many rows, how they split, the seed, and the folder to write.

A sample-rows or seed box that holds no valid number says so under the
boxes as it is typed; Enter in any box posts ``BuildRequested``.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Label

from tui.widgets.data.tab import DataTab
from tui.widgets.status_line import Status, StatusLine

ALL_ROWS = ("", "all")  # what the sample rows box takes for every row (its placeholder says all)
DEFAULT_SPLIT = "80%,10%,10%"
SPLIT_INFO = "Enter or ctrl+r writes the folder (built aside, renamed when complete)."


def _whole(text: str) -> int:
    """The whole number typed; -1 (never a valid count or seed) for anything else."""
    try:
        return int(text)
    except ValueError:
        return -1


class SplitTab(DataTab):
    DEFAULT_CSS = "SplitTab #split-info { padding: 0 1; height: auto; }"

    class BuildRequested(Message):
        """Write the folder with what the boxes hold."""

    def __init__(self, title: str = "3 Split & write", *, id: str = "tab-split") -> None:
        super().__init__(title, id=id)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label("sample rows")
            yield Input(placeholder="all", id="sample", classes="short")
            yield Label("split")
            yield Input(DEFAULT_SPLIT, id="split", classes="short")
            yield Label("seed")
            yield Input("0", id="seed", classes="short")
        with Horizontal(classes="row"):
            yield Label("folder")
            yield Input(placeholder="output folder", id="out")
        yield StatusLine(SPLIT_INFO, id="split-info")

    def _value(self, box: str) -> str:
        return self.query_one(f"#{box}", Input).value.strip()

    @on(Input.Submitted, "#sample, #split, #seed, #out")
    def submitted(self) -> None:
        self.post_message(self.BuildRequested())

    @on(Input.Changed, "#sample, #seed")
    def numbers_changed(self) -> None:
        self.show_info()  # a mistake is said by the box, and goes once it is fixed

    def problem(self) -> Status | None:
        """What is wrong with the sample rows or seed typed, if anything."""
        sample, seed = self._value("sample"), self._value("seed") or "0"
        if sample.lower() not in ALL_ROWS and _whole(sample) < 1:
            return Status(
                "error",
                f"sample rows: {sample!r} is not a count",
                "type a whole number of at least 1, or all (or leave it blank) for every row",
            )
        if not 0 <= _whole(seed) < 2**32:
            return Status("error", f"seed: {seed!r} is not a seed", "type a whole number from 0 to 4294967295")
        return None

    def show_info(self) -> None:
        self.query_one("#split-info", StatusLine).status = self.problem() or Status(message=SPLIT_INFO)

    def show_build_failed(self) -> None:
        self.query_one("#split-info", StatusLine).show("The build stopped (below); nothing was written.", "error")

    # -- what the build takes (once problem() is None) ------------------
    @property
    def sample(self) -> int | None:
        """Rows to sample; None for every row."""
        value = self._value("sample")
        return None if value.lower() in ALL_ROWS else _whole(value)

    @property
    def seed(self) -> int:
        return _whole(self._value("seed") or "0")

    @property
    def split(self) -> str:
        return self._value("split") or DEFAULT_SPLIT

    @property
    def out(self) -> str:
        return self._value("out")

    @out.setter
    def out(self, folder: str) -> None:
        self.query_one("#out", Input).value = folder
