"""Quitting while a run trains: asked once.

A run trains in a process of its own and outlives the app, so leaving it
training is the default (Enter); s stops it cleanly first (its adapter
and a checkpoint are kept, resumable with r); Esc stays in TuneDeck.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.screens.chat_dialogs import DIALOG_CSS

LEAVE, STOP = "leave", "stop"


class QuitWhileTraining(ModalScreen[str | None]):
    DEFAULT_CSS = DIALOG_CSS.format(name="QuitWhileTraining")
    BINDINGS = [
        Binding("enter", "answer('leave')", "Leave it training", id="quit-leave"),
        Binding("s", "answer('stop')", "Stop it", id="quit-stop"),
        Binding("escape", "answer(None)", "Don't quit", id="quit-cancel"),
    ]

    def __init__(self, runs: list[str]) -> None:
        super().__init__()
        self.runs = runs

    def compose(self) -> ComposeResult:
        names = ", ".join(Path(r).name for r in self.runs)
        it = "them" if len(self.runs) > 1 else "it"
        with Vertical():
            yield Static("Quit while a run trains?", classes="title")
            yield Static(
                f"{names} {'train' if len(self.runs) > 1 else 'trains'} in a process of its own: "
                f"leaving TuneDeck leaves {it} training, and starting tunedeck again shows {it}.",
                id="quit-what",
            )
            yield Static(
                f"Enter quits and leaves {it} training · s stops {it} first (adapter and checkpoint kept, "
                "r resumes) · Esc stays",
                classes="hint",
            )

    def action_answer(self, answer: str | None) -> None:
        self.dismiss(answer)
