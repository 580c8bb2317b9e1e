"""The Judge screen's GGUF dialog: which type, where, and whether to replace.

Enter (or ctrl+s) writes, Esc cancels; the result is a ``GGUFRequest`` by
dismiss(). The file goes beside the fused model or into LM Studio's models
folder, next to where the LM Studio (MLX) export puts the same model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, RadioButton, RadioSet, Static

from core.shipping.gguf import TYPES
from tui.screens.chat_dialogs import DIALOG_CSS

TYPE_HINTS = {
    "f16": "full quality, 2 bytes/weight",
    "bf16": "full range, 2 bytes/weight",
    "q8_0": "near-lossless, ~1 byte/weight",
    "q4_0": "smallest, ~0.6 byte/weight",
}


@dataclass
class GGUFRequest:
    path: str
    gguf_type: str
    replace: bool


class GGUFDialog(ModalScreen[GGUFRequest | None]):
    DEFAULT_CSS = (
        DIALOG_CSS.format(name="GGUFDialog")
        + """
    GGUFDialog RadioSet { layout: horizontal; width: 100%; height: auto; border: none; padding: 0; }
    GGUFDialog RadioSet:focus { border: none; background: $boost; }
    GGUFDialog RadioButton { padding: 0 1 0 0; }
    GGUFDialog .row { height: 1; }
    GGUFDialog .row Label { width: 7; }
    GGUFDialog #gguf-path { width: 1fr; height: 1; border: none; padding: 0 1; background: $boost; }
    GGUFDialog #gguf-path:focus { background: $primary 30%; }
    GGUFDialog Checkbox { border: none; padding: 0; height: 1; }
    """
    )
    BINDINGS = [
        Binding("ctrl+s", "write", "Write", id="gguf-write"),
        Binding("escape", "cancel", "Cancel", id="gguf-cancel"),
    ]

    def __init__(self, name: str, beside: Path, lmstudio_folder: Path) -> None:
        super().__init__()
        self.model_name = name
        self.folders = {"beside": beside, "lmstudio": lmstudio_folder}

    def compose(self) -> ComposeResult:
        from core.shipping.gguf import default_file_name

        with Vertical():
            yield Static("GGUF · Tab moves · arrows and Space pick · ctrl+s writes · Esc cancels", classes="title")
            with RadioSet(id="gguf-type"):
                for t in TYPES:
                    yield RadioButton(t, value=t == "f16", id=f"type-{t}")
            yield Static(TYPE_HINTS["f16"], id="gguf-type-hint", classes="hint")
            with RadioSet(id="gguf-where"):
                yield RadioButton("beside the fused model", value=True, id="where-beside")
                yield RadioButton("LM Studio's models folder", id="where-lmstudio")
            with Horizontal(classes="row"):
                yield Label("file")
                yield Input(str(self.folders["beside"] / default_file_name(self.model_name, "f16")), id="gguf-path")
            yield Checkbox("replace the file if it exists", id="gguf-replace")
            yield Static("", id="gguf-status", classes="error")

    def on_mount(self) -> None:
        self.query_one("#gguf-type", RadioSet).focus()
        self.show_status()

    def chosen(self, selector: str) -> str:
        button = self.query_one(selector, RadioSet).pressed_button
        return button.id.split("-", 1)[1] if button else ""

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        from core.shipping.gguf import default_file_name

        gguf_type = self.chosen("#gguf-type")
        self.query_one("#gguf-type-hint", Static).update(TYPE_HINTS[gguf_type])
        folder = self.folders[self.chosen("#gguf-where") or "beside"]
        self.query_one("#gguf-path", Input).value = str(folder / default_file_name(self.model_name, gguf_type))
        self.show_status()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.show_status()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.show_status()

    def problem(self) -> str:
        path = Path(self.query_one("#gguf-path", Input).value.strip()).expanduser()
        if path.suffix != ".gguf":
            return "✗ the file name must end in .gguf"
        if path.is_dir():
            return "✗ that is a folder: name a .gguf file"
        if path.exists() and not self.query_one("#gguf-replace", Checkbox).value:
            return "✗ that file exists: tick 'replace', or change the name"
        return ""

    def show_status(self) -> None:
        self.query_one("#gguf-status", Static).update(self.problem())

    def action_write(self) -> None:
        if self.problem():
            self.show_status()
            self.query_one("#gguf-path", Input).focus()
            return
        self.dismiss(
            GGUFRequest(
                str(Path(self.query_one("#gguf-path", Input).value.strip()).expanduser()),
                self.chosen("#gguf-type"),
                self.query_one("#gguf-replace", Checkbox).value,
            )
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_write()

    def action_cancel(self) -> None:
        self.dismiss(None)
