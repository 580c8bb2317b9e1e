"""The chat screen's two small dialogs: settings (system prompt, sampling,
stop strings) and the model picker. Both return their result by dismiss()."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from core.chat.generation import Sampling
from core.models.model_folder import check_model_folder
from core.runtime import paths
from core.runtime.errors import TuneDeckError

DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 78; max-width: 100%; height: auto; max-height: 100%;
    border: round $primary; background: $surface; padding: 0 1;
}}
{name} .title {{ text-style: bold; }}
{name} .hint {{ color: $text-muted; }}
{name} .error {{ color: $error; height: auto; }}
"""


def encode_stops(stops: tuple[str, ...]) -> str:
    return " | ".join(
        s.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "\\n").replace("\t", "\\t") for s in stops
    )


def decode_stops(text: str) -> tuple[str, ...]:
    r"""``a | \n\n`` → ("a", "\n\n"); ``\|`` is a literal bar, ``\\`` a backslash."""
    out, cur, i = [], [], 0
    escapes = {"n": "\n", "t": "\t", "|": "|", "\\": "\\"}
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in escapes:
            cur.append(escapes[text[i + 1]])
            i += 2
            continue
        if ch == "|":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    # Spaces around the separators are layout; a stop string of only
    # whitespace must be written with escapes (\n, \t).
    return tuple(s.strip(" ") for s in out if s.strip(" "))


@dataclass
class ChatSettings:
    system: str
    sampling: Sampling


class SettingsDialog(ModalScreen[ChatSettings | None]):
    """System prompt, sampling and stop strings; ctrl+s (or Enter in a
    field) applies, Esc cancels."""

    DEFAULT_CSS = (
        DIALOG_CSS.format(name="SettingsDialog")
        + """
    SettingsDialog TextArea { height: 6; }
    SettingsDialog .row { height: 1; margin: 0 0 0 0; }
    SettingsDialog .row Label { width: 20; }
    SettingsDialog .row Input { width: 1fr; height: 1; border: none; padding: 0 1; background: $boost; }
    SettingsDialog .row Input:focus { background: $primary 30%; }
    """
    )
    BINDINGS = [
        Binding("ctrl+s", "apply", "Apply", id="settings-apply"),
        Binding("escape", "cancel", "Cancel", id="settings-cancel"),
    ]
    FIELDS = (
        ("temperature", "temperature", "0 = greedy; 0.7 is a common choice"),
        ("top_p", "top-p", "1 = off"),
        ("max_tokens", "max tokens", "the cap for a run-away answer"),
        ("repetition_penalty", "repetition penalty", "empty or 1 = off; 1.1 curbs loops"),
        ("seed", "seed", "empty = random each time"),
        ("stop", "stop strings", r"separate with |; \n is a newline"),
    )

    def __init__(self, settings: ChatSettings) -> None:
        super().__init__()
        self.settings = settings

    def compose(self) -> ComposeResult:
        s = self.settings.sampling
        values = {
            "temperature": f"{s.temperature:g}",
            "top_p": f"{s.top_p:g}",
            "max_tokens": str(s.max_tokens),
            "repetition_penalty": "" if s.repetition_penalty is None else f"{s.repetition_penalty:g}",
            "seed": "" if s.seed is None else str(s.seed),
            "stop": encode_stops(s.stop),
        }
        with Vertical():
            yield Static("Chat settings · Tab moves · ctrl+s or Enter applies · Esc cancels", classes="title")
            yield Label("System prompt (sent before every conversation):")
            yield TextArea(self.settings.system, id="system", soft_wrap=True)
            for key, label, hint in self.FIELDS:
                with Horizontal(classes="row"):
                    yield Label(label)
                    yield Input(values[key], id=f"set-{key.replace('_', '-')}", placeholder=hint)
            yield Static("", id="settings-error", classes="error")

    def on_mount(self) -> None:
        self.query_one("#set-temperature", Input).focus()

    def read(self) -> ChatSettings:
        def field(key: str) -> str:
            return self.query_one(f"#set-{key.replace('_', '-')}", Input).value.strip()

        def number(key: str, kind, label: str, optional: bool = False):
            raw = field(key)
            if optional and raw == "":
                return None
            try:
                return kind(raw)
            except ValueError:
                what = "a whole number" if kind is int else "a number"
                raise TuneDeckError(f"{label} must be {what}, not {raw!r}") from None

        sampling = replace(
            self.settings.sampling,
            temperature=number("temperature", float, "temperature"),
            top_p=number("top_p", float, "top-p"),
            max_tokens=number("max_tokens", int, "max tokens"),
            repetition_penalty=number("repetition_penalty", float, "repetition penalty", optional=True),
            seed=number("seed", int, "seed", optional=True),
            stop=decode_stops(field("stop")),
        ).check()
        return ChatSettings(self.query_one("#system", TextArea).text.strip(), sampling)

    def action_apply(self) -> None:
        try:
            settings = self.read()
        except TuneDeckError as exc:
            self.query_one("#settings-error", Static).update(f"✗ {exc}")
            return
        self.dismiss(settings)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_apply()

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass
class ModelChoice:
    kind: str  # tuned | base | folder
    model: str | None
    adapter: str | None = None


def model_folders() -> list[Path]:
    """Model folders already on this disk: TuneDeck's models and fused runs,
    and the Hugging Face cache (a glob; nothing is imported or loaded)."""
    from core.models.model_info import hf_hub_cache  # stdlib-only module; deferred with the dialog's work

    found: list[Path] = []
    candidates = list(paths.models_dir().glob("*")) + list(paths.runs_dir().glob("*/fused*"))
    candidates += list(hf_hub_cache().glob("models--*/snapshots/*"))
    for folder in sorted(candidates):
        if (folder / "config.json").is_file() and folder not in found:
            found.append(folder)
    return found[:20]


def trained_adapters(limit: int = 5) -> list[tuple[Path, str]]:
    """(adapter folder, its base model) of the newest training runs on this
    disk whose base model is still there: base + adapter, no fuse needed."""
    import json

    found = []
    for adapters in paths.runs_dir().glob("*/adapters"):
        weights = adapters / "adapters.safetensors"
        try:
            config = json.loads((adapters / "adapter_config.json").read_text(encoding="utf-8"))
            model = str(config.get("model") or "")
            if weights.is_file() and model and (Path(model) / "config.json").is_file():
                found.append((weights.stat().st_mtime, adapters, model))
        except (OSError, ValueError, AttributeError):
            continue  # a run still being written, or not a TuneDeck run
    found.sort(reverse=True)
    return [(adapters, model) for _, adapters, model in found[:limit]]


def folder_label(folder: Path) -> str:
    if "snapshots" in folder.parts:  # HF cache: models--org--name/snapshots/<hash>
        repo = folder.parent.parent.name.removeprefix("models--").replace("--", "/")
        return f"{repo} (Hugging Face cache)"
    return f"{folder.name} ({folder.parent})"


class ModelPicker(ModalScreen[ModelChoice | None]):
    """Which model the chat talks to: tuned, base, the adapter of an earlier
    training run, or any model folder (fused models included), optionally
    with an adapter."""

    DEFAULT_CSS = (
        DIALOG_CSS.format(name="ModelPicker")
        + """
    ModelPicker Input { margin: 0 0; }
    """
    )
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="picker-cancel")]

    def __init__(self, model: str | None, adapter: str | None, current: ModelChoice) -> None:
        super().__init__()
        self.base_model = model
        self.session_adapter = adapter
        self.current = current
        self.folders = model_folders()
        session = Path(adapter).resolve() if adapter else None
        self.adapters = [(a, m) for a, m in trained_adapters() if a.resolve() != session]

    def compose(self) -> ComposeResult:
        options = []
        name = Path(self.base_model).name if self.base_model else None
        if self.base_model and self.session_adapter:
            run = Path(self.session_adapter)
            options.append(Option(f"Tuned: {name} + adapter ({run.parent.name}/{run.name})", id="tuned"))
        if self.base_model:
            options.append(Option(f"Base: {name}", id="base"))
        for i, (adapters, model) in enumerate(self.adapters):
            options.append(Option(f"Run: {adapters.parent.name} ({Path(model).name} + adapter)", id=f"run-{i}"))
        for i, folder in enumerate(self.folders):
            options.append(Option(f"Folder: {folder_label(folder)}", id=f"found-{i}"))
        options.append(Option("Another model folder (fused or downloaded)…", id="folder"))
        with Vertical():
            yield Static("Talk to which model? Enter chooses · Esc cancels", classes="title")
            yield OptionList(*options, id="models")
            yield Input(
                self.current.model if self.current.kind == "folder" else "",
                placeholder="model folder path (config.json + *.safetensors)",
                id="picker-model",
            )
            yield Input(
                (self.current.adapter or "") if self.current.kind == "folder" else "",
                placeholder="adapter folder (optional: no fuse needed)",
                id="picker-adapter",
            )
            yield Static("", id="picker-error", classes="error")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        # The app stylesheet caps every OptionList at 6 lines (and beats this
        # screen's DEFAULT_CSS), which hid the last choices: show up to 8.
        options.styles.max_height = min(options.option_count, 8) + 2
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        # Highlight the other one of tuned/base, so ctrl+o Enter flips between them.
        prefer = {"tuned": "base", "base": "tuned"}.get(self.current.kind, "tuned")
        options.highlighted = ids.index(prefer) if prefer in ids else 0
        self._show_inputs(False)
        options.focus()

    def _show_inputs(self, show: bool) -> None:
        for widget in self.query(Input):
            widget.display = show

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._show_inputs(event.option.id == "folder")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        which = event.option.id
        if which == "tuned":
            self.dismiss(ModelChoice("tuned", self.base_model, self.session_adapter))
        elif which == "base":
            self.dismiss(ModelChoice("base", self.base_model, None))
        elif which.startswith("run-"):
            adapters, model = self.adapters[int(which.split("-")[1])]
            self.dismiss(ModelChoice("folder", model, str(adapters)))
        elif which.startswith("found-"):
            self.dismiss(ModelChoice("folder", str(self.folders[int(which.split("-")[1])]), None))
        else:
            self._show_inputs(True)
            self.query_one("#picker-model", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        model = self.query_one("#picker-model", Input).value.strip()
        adapter = self.query_one("#picker-adapter", Input).value.strip() or None
        problem, field = self.folder_problem(model, adapter)
        if problem:  # said by the field, the dialog stays open: fix the path and Enter again
            self.query_one("#picker-error", Static).update(problem)
            self.query_one(field, Input).focus()
            return
        self.dismiss(
            ModelChoice("folder", str(Path(model).expanduser()), str(Path(adapter).expanduser()) if adapter else None)
        )

    @staticmethod
    def folder_problem(model: str, adapter: str | None) -> tuple[str, str]:
        """What is wrong with the typed folders (cheap: files, not weights), and which field."""
        if not model:
            return "✗ type the path of a model folder", "#picker-model"
        try:
            check_model_folder(Path(model).expanduser())
        except TuneDeckError as exc:
            return f"✗ {exc.message}" + (f"\nfix: {exc.hint}" if exc.hint else ""), "#picker-model"
        if adapter and not (Path(adapter).expanduser() / "adapters.safetensors").is_file():
            return (
                f"✗ no adapters.safetensors in {adapter}\nfix: type a training run's adapters folder, "
                "or leave the adapter empty"
            ), "#picker-adapter"
        return "", ""

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#picker-error", Static).update("")  # an old complaint goes once the path is edited

    def action_cancel(self) -> None:
        self.dismiss(None)
