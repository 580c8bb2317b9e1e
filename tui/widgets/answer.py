"""One model answer in the chat transcript, written as tokens stream in.

Only this widget repaints while an answer streams (never the transcript
around it), and the screen feeds it in batches at most ~30 times a second.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class AnswerView(Static):
    DEFAULT_CSS = """
    AnswerView { height: auto; }
    """

    def __init__(self, label: str, style: str = "green", note: str = "waiting for the model…", **kwargs) -> None:
        kwargs["classes"] = ("turn answer " + kwargs.get("classes", "")).strip()
        super().__init__("", **kwargs)
        self.label = label
        self.label_style = f"bold {style}"
        self._parts: list[str] = []
        self.note = note
        self.note_style = "dim"
        self.finished = False

    @property
    def body(self) -> str:
        return "".join(self._parts)

    def on_mount(self) -> None:
        self._paint()

    def append(self, text: str) -> None:
        if text:
            self._parts.append(text)
            self.note = ""
            self._paint()

    def set_note(self, note: str, style: str = "dim") -> None:
        self.note, self.note_style = note, style
        self._paint()

    def finish(self, text: str, note: str, style: str = "dim") -> None:
        """Final text (the engine's own, so nothing is lost) and the stats line."""
        self._parts = [text]
        self.finished = True
        self.set_note(note, style)

    def _paint(self) -> None:
        text = Text()
        text.append(f"{self.label}: ", self.label_style)
        body = self.body
        text.append(body if body or self.note else "(nothing)")
        if self.note:
            text.append(("\n" if body else "") + self.note, self.note_style)
        self.update(text)
