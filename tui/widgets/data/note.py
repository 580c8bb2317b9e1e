"""A line for the Data screen's status: the tabs post it, the screen shows it."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message


class Note(Message):
    """Say ``text`` on the screen's status line (the screen owns that line)."""

    def __init__(self, text: str | Text) -> None:
        super().__init__()
        self.text = text
