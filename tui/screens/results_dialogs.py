"""The Judge screen's two small dialogs: "replace the fused model?" (y/N)
and the LM Studio models folder. Both return their result by dismiss()."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from core.runtime.errors import TuneDeckError
from tui.screens.chat_dialogs import DIALOG_CSS


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question; anything but y keeps things as they are."""

    DEFAULT_CSS = DIALOG_CSS.format(name="ConfirmDialog")
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm-yes"),
        Binding("n", "answer(False)", "No", id="confirm-no"),
        Binding("escape", "answer(False)", "No", id="confirm-cancel"),
    ]

    def __init__(self, title: str, body: str, keys: str = "y replaces it · n or Esc keeps it") -> None:
        super().__init__()
        self.title_text, self.body, self.keys = title, body, keys

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="title")
            yield Static(self.body, id="confirm-body")
            yield Static(self.keys, classes="hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class LMStudioFolderDialog(ModalScreen[Path | None]):
    """Type LM Studio's models folder; Enter checks it (it must exist, be a
    folder and be writable), Esc keeps the current one."""

    DEFAULT_CSS = (
        DIALOG_CSS.format(name="LMStudioFolderDialog")
        + """
    LMStudioFolderDialog Input { margin: 0 0; }
    """
    )
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="lmstudio-cancel")]

    def __init__(self, current: Path, note: str = "") -> None:
        super().__init__()
        self.current, self.note = current, note

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("LM Studio models folder · Enter saves · Esc cancels", classes="title")
            yield Static(
                "Exports go to FOLDER/tunedeck/NAME. LM Studio shows its folder under My Models.", classes="hint"
            )
            yield Input(str(self.current), id="lmstudio-root")
            yield Static(self.note, classes="hint")
            yield Static("", id="lmstudio-error", classes="error")

    def on_mount(self) -> None:
        self.query_one("#lmstudio-root", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        from core.shipping.lmstudio import check_lmstudio_root

        event.stop()
        try:
            root = check_lmstudio_root(event.value)
        except TuneDeckError as exc:
            self.query_one("#lmstudio-error", Static).update(f"{exc.message}\nfix: {exc.hint}")
            return
        self.dismiss(root)

    def action_cancel(self) -> None:
        self.dismiss(None)
