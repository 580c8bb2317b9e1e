"""Asking before a write replaces TuneDeck's own earlier output.

The write rule (``core.runtime.targets``) replaces an existing target only when it
is TuneDeck's own output of the same kind and the user asked: in the TUI
that asking is this dialog (y replaces, n or escape keeps it). Anything else
at the target is refused with the rule's message; the dialog never offers
to replace it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from core.runtime.errors import TuneDeckError
from core.runtime.targets import Kind, TargetRefused, claim
from tui.screens.chat_dialogs import DIALOG_CSS


class ConfirmReplace(ModalScreen[bool]):
    DEFAULT_CSS = DIALOG_CSS.format(name="ConfirmReplace")
    BINDINGS = [
        Binding("y", "answer(True)", "Replace it", id="confirm-replace"),
        Binding("n,escape", "answer(False)", "Keep it", id="confirm-keep"),
    ]

    def __init__(self, refused: TargetRefused) -> None:
        super().__init__()
        self.refused = refused

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Replace it?", classes="title")
            yield Static(self.refused.message, id="confirm-what")
            yield Static(
                "y replaces it (the new one is written first, then swapped in) · "
                "n or escape keeps it and writes nothing",
                classes="hint",
            )

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


def write_checked(
    screen: Screen,
    target: str | Path,
    kind: Kind,
    start: Callable[[bool], None],
    refuse: Callable[[TuneDeckError], None] | None = None,
) -> None:
    """Call ``start(overwrite)`` when the write rule allows writing ``kind``
    at ``target``: at once for a new or empty target, after a y for an
    earlier TuneDeck output of that kind, never for anything else
    (``refuse(error)`` shows why; by default a notification)."""

    def show(exc: TuneDeckError) -> None:
        if refuse is not None:
            refuse(exc)
        else:
            screen.notify(f"{exc.message}\nfix: {exc.hint}", title="Not written", severity="error", timeout=12)

    try:
        claim(target, kind)
    except TargetRefused as exc:
        refused = exc
    except TuneDeckError as exc:  # a name no filesystem takes
        show(exc)
        return
    else:
        start(False)
        return
    if not refused.replaceable:
        show(refused)
        return

    def answered(yes: bool | None) -> None:
        if yes:
            start(True)
        else:
            screen.notify(f"Kept {refused.path}; nothing was written.", timeout=6)

    screen.app.push_screen(ConfirmReplace(refused), answered)
