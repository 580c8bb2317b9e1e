"""A line for the Data screen's status: the tabs post it, the screen shows it."""

from __future__ import annotations

from textual.message import Message

from tui.widgets.status_line import Status


class Note(Message):
    """Show ``status`` on the screen's status line (the screen owns that line)."""

    def __init__(self, status: Status) -> None:
        super().__init__()
        self.status = status
