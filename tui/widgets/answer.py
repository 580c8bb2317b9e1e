"""One model answer in the chat transcript, written as text streams in.

Only this widget repaints while an answer streams (never the transcript
around it), and only the answer's *tail* is re-rendered: once the tail grows
past a few lines, everything up to its last newline is frozen into a
finished block that is never rendered again. So a paint costs the same at
token 2000 as at token 20.

Long runs of blank lines or spaces (a run-away model often emits hundreds)
are shown as one dim marker, so they cannot push everything else off the
screen; the answer itself (``body``, the transcript) keeps every character.
"""

from __future__ import annotations

import re

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

FREEZE_CHARS = 600  # a tail longer than this is split at its last newline
STREAMING_NOTE = "… Esc stops"
# Three or more blank lines in a row (spaces between them included), or 16+ spaces/tabs.
BLANK_RUN = re.compile(r"[ \t\r]*\n(?:[ \t\r]*\n){3,}[ \t\r]*|[ \t]{16,}")


def shown(text: str) -> Text:
    """The answer as displayed: whitespace runs compacted into a dim marker."""
    out = Text()
    pos = 0
    for match in BLANK_RUN.finditer(text):
        out.append(text[pos : match.start()])
        run = match.group()
        lines = run.count("\n")
        if lines:
            out.append("\n")
            out.append(f"⋯ {lines - 1} blank lines ⋯", "dim")
            out.append("\n")
        else:
            out.append(" ")
            out.append(f"⋯ {len(run)} spaces ⋯", "dim")
            out.append(" ")
        pos = match.end()
    out.append(text[pos:])
    return out


class AnswerView(Vertical):
    DEFAULT_CSS = """
    AnswerView { height: auto; }
    AnswerView > Static { height: auto; }
    """

    def __init__(self, label: str, style: str = "green", note: str = "waiting for the model…", **kwargs) -> None:
        kwargs["classes"] = ("turn answer " + kwargs.get("classes", "")).strip()
        super().__init__(**kwargs)
        self.label = label
        self.label_style = f"bold {style}"
        self._frozen: list[str] = []  # text already in finished blocks
        self._tail: list[str] = []
        self.note = note
        self.note_style = "dim"
        self.finished = False

    def compose(self) -> ComposeResult:
        yield Static(self._tail_text(), classes="answer-tail")
        note = Static(Text(self.note, self.note_style), classes="answer-note")
        note.display = bool(self.note)
        yield note

    def _part(self, name: str) -> Static | None:
        """A child, or None before they are composed (events can come first:
        the state kept here is what compose then shows)."""
        found = self.query(f".{name}")
        return found.first(Static) if found else None

    @property
    def note_widget(self) -> Static | None:
        """The line under the answer (status, then statistics): the screen
        scrolls it into view to follow the answer being written."""
        return self._part("answer-note")

    @property
    def body(self) -> str:
        return "".join(self._frozen) + "".join(self._tail)

    @property
    def content(self) -> Text:
        """The whole answer as shown: label, text and the note (for tests and copy)."""
        text = Text()
        text.append(f"{self.label}: ", self.label_style)
        text.append(self.body or ("" if self.note else "(nothing)"))
        if self.note:
            text.append(("\n" if self.body else "") + self.note, self.note_style)
        return text

    def _rendered(self, body: str, first: bool) -> Text:
        text = Text()
        if first:
            text.append(f"{self.label}: ", self.label_style)
        if body or not self.finished:
            text.append_text(shown(body))
        else:
            text.append("(nothing)")
        return text

    def _tail_text(self) -> Text:
        return self._rendered("".join(self._tail), not self._frozen)

    def append(self, text: str) -> None:
        if not text:
            return
        self._tail.append(text)
        tail = "".join(self._tail)
        # The last newline before any trailing whitespace: a blank run still
        # growing stays whole in the tail (one marker, not one per block).
        cut = tail.rstrip().rfind("\n") if len(tail) > FREEZE_CHARS else -1
        tail_widget = self._part("answer-tail")
        if cut > 0 and tail_widget is not None:
            block = self._rendered(tail[:cut], not self._frozen)
            self._frozen.append(tail[: cut + 1])
            self._tail = [tail[cut + 1 :]]
            self.mount(Static(block, classes="answer-block"), before=tail_widget)
        if not self.finished and self.note != STREAMING_NOTE and self.note_style == "dim":
            self.set_note(STREAMING_NOTE)
        if tail_widget is not None:
            tail_widget.update(self._tail_text())

    def set_note(self, note: str, style: str = "dim") -> None:
        self.note, self.note_style = note, style
        widget = self._part("answer-note")
        if widget is not None:
            widget.update(Text(note, style))
            widget.display = bool(note)

    def finish(self, text: str, note: str, style: str = "dim") -> None:
        """Final text (the engine's own, so nothing is lost) and the stats line."""
        self.finished = True
        if text != self.body:  # only if a paint was missed; normally they are equal
            self.query(".answer-block").remove()
            self._frozen, self._tail = [], [text]
        tail_widget = self._part("answer-tail")
        if tail_widget is not None:
            tail_widget.update(self._tail_text())
        self.set_note(note, style)
