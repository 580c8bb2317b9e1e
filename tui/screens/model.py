"""Step 2: choose the base model to fine-tune."""

from __future__ import annotations

import json
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from core import events as ev
from core import paths
from core.demo_model import is_demo_model
from core.errors import TuneDeckError
from core.hub import RECIPE_MODEL
from tui.screens.base import ChoiceScreen

DEMO, RECIPE, FOLDER = "demo", "recipe", "folder"

DESCRIPTIONS = {
    DEMO: ("Offline demo: a tiny Qwen2 (about 0.2M parameters, random weights) with a tokenizer "
           "trained on the sample data. Built on this machine in seconds; needs no network. "
           "It learns the shape of SQL in a minute of training, which is all it is for."),
    RECIPE: (f"{RECIPE_MODEL}: the model the classic MLX recipe fine-tunes. About 1 GB from "
             "the Hugging Face hub (or the mirror in HF_ENDPOINT); trains well on a Mac."),
    FOLDER: ("A model folder already on this disk (config.json + *.safetensors + tokenizer), "
             "for example one you fused earlier. Type its path below and press Enter."),
}


class Downloaded(Message):
    def __init__(self, path: str | None, error: TuneDeckError | None) -> None:
        super().__init__()
        self.path, self.error = path, error


def describe_model(path: str) -> str:
    try:
        cfg = json.loads((Path(path) / "config.json").read_text())
    except (OSError, ValueError):
        return path
    arch = cfg.get("model_type", "?")
    layers = cfg.get("num_hidden_layers", "?")
    hidden = cfg.get("hidden_size", "?")
    quant = cfg.get("quantization", {}).get("bits") if isinstance(cfg.get("quantization"), dict) else None
    q = f", {quant}-bit" if quant else ""
    return f"{path}\n{arch}, {layers} layers, hidden {hidden}{q}"


class ModelScreen(ChoiceScreen):
    STEP = "model"
    NEXT = "data"
    BACK = "env"
    GUIDE = ("Step 2: the base model. Use the offline demo when the hub is out of reach; "
             "on a Mac with network, the recipe's Qwen2.5-0.5B-Instruct. Enter chooses.")

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield OptionList(
            Option("Offline demo model (built here, no download)", id=DEMO),
            Option(f"{RECIPE_MODEL} (download from the hub)", id=RECIPE),
            Option("A model folder on this disk…", id=FOLDER),
            id="models",
        )
        yield Static(DESCRIPTIONS[DEMO], id="about", classes="detail")
        yield Input(placeholder="path/to/model-folder", id="folder")
        yield Static("No model chosen yet.", id="status", classes="status")
        yield from self.compose_bottom()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.query_one("#about", Static).update(DESCRIPTIONS[event.option.id])

    def choose(self, which: str) -> None:
        if self.app.engine.worker.busy:
            self.set_status("A job (training or chat) is running: wait for it, or stop it, "
                            "before changing the model.")
            return
        if which == DEMO:
            target = paths.demo_model_dir()
            if is_demo_model(target):
                self.use_model(str(target), "offline demo model")
            else:
                self.set_status("Building the demo model…")
                self.track(self.app.engine.build_demo_model(target))
        elif which == RECIPE:
            if self.app.session.hub_reachable is False:
                self.set_status(f"The Hugging Face hub is unreachable from here, so {RECIPE_MODEL} "
                                "cannot be downloaded. Choose the offline demo, or set HF_ENDPOINT "
                                "to a mirror and restart.")
                return
            self.set_status(f"Downloading {RECIPE_MODEL}… (about 1 GB; this can take minutes)")
            self.download(RECIPE_MODEL)
        else:
            self.ask_for_folder()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = Path(event.value.strip()).expanduser()
        if not event.value.strip():
            self.set_status("Type the path of a model folder first.")
        elif not path.is_dir():
            self.set_status(f"✗ {path} is not a folder. Check the path.")
        elif not (path / "config.json").is_file():
            self.set_status(f"✗ {path} has no config.json, so it is not a model folder.")
        else:
            self.use_model(str(path.resolve()), path.name)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def download(self, repo_id: str) -> None:
        from core.hub import download_model  # network I/O: fine on a plain thread

        try:
            self.post_message(Downloaded(str(download_model(repo_id)), None))
        except TuneDeckError as exc:
            self.post_message(Downloaded(None, exc))
        except Exception as exc:  # never leave "Downloading…" on screen forever
            self.post_message(Downloaded(None, TuneDeckError(f"download failed: {exc}",
                                                             "check the network and try again")))

    def on_downloaded(self, message: Downloaded) -> None:
        if message.error:
            self.set_status(f"✗ {message.error.message}\nfix: {message.error.hint}")
        else:
            self.use_model(message.path, RECIPE_MODEL)

    def handle_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.Progress):
            self.set_status(f"Building the demo model: {event.message}…")
        elif isinstance(event, ev.JobFinished) and event.name == "demo-model":
            self.use_model(event.result, "offline demo model")
        elif isinstance(event, ev.JobFailed):
            self.set_status(f"✗ {event.message}")

    def use_model(self, path: str, label: str) -> None:
        session = self.app.session
        if session.model_path != path:
            session.adapter_path = None  # an adapter belongs to its base model
        session.model_path, session.model_label = path, label
        self.set_status(f"✓ Using {label}: {describe_model(path)}\nPress n to build the dataset.")
        self.refresh_stepbar()

    def can_leave(self) -> str | None:
        return None if self.app.session.model_path else "Choose a model first (Enter on a line)."
