"""How many test examples the task score answers and grades (the N box)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label


class TaskCount(Horizontal):
    DEFAULT_CSS = """
    TaskCount { height: 1; padding: 0 1; }
    TaskCount Label { padding: 0 1 0 0; }
    TaskCount #task-n { width: 8; height: 1; border: none; padding: 0 1; background: $boost; }
    TaskCount #task-n:focus { background: $primary 30%; }
    """

    def compose(self) -> ComposeResult:
        yield Label("task score on the first")
        yield Input("20", id="task-n", type="integer")
        yield Label("test examples (0 = loss only, blank = all)")

    def count(self) -> int | None:
        """The number typed (0: loss only), None for all; a ValueError says
        what to type instead."""
        raw = self.query_one("#task-n", Input).value.strip()
        try:
            n = None if raw.lower() in ("", "all") else int(raw)
        except ValueError:
            n = -1
        if n is not None and n < 0:
            raise ValueError(
                f"Task score: {raw!r} is not a count. Type a whole number of examples "
                "(0 = loss only), or leave the box blank for all."
            )
        return n
