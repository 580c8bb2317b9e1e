"""Step 3: the training data, written and checked before training."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from core import events as ev
from core import paths
from core.data_check import CheckReport, check_folder
from core.jsonl import read_manifest, read_rows
from tui.screens.base import ChoiceScreen

SAMPLE, FOLDER = "sample", "folder"


class Checked(Message):
    def __init__(self, folder: str, report: CheckReport, example: dict | None) -> None:
        super().__init__()
        self.folder, self.report, self.example = folder, report, example


def render_example(example: dict | None) -> Text:
    text = Text()
    if not example:
        return text
    if "messages" in example:
        for m in example["messages"]:
            role = m.get("role", "?")
            style = {"system": "dim", "user": "bold", "assistant": "bold green"}.get(role, "")
            text.append(f"{role:>9}: ", style="bold")
            text.append(str(m.get("content", "")).replace("\n", " ⏎ ") + "\n", style=style)
    elif "prompt" in example:
        text.append("   prompt: ", style="bold").append(str(example["prompt"]) + "\n")
        text.append("completion: ", style="bold").append(str(example["completion"]) + "\n", style="green")
    else:
        text.append(str(example.get("text", ""))[:400])
    return text


class DatasetScreen(ChoiceScreen):
    STEP = "data"
    NEXT = "train"
    BACK = "model"
    GUIDE = ("Step 3: training data, as mlx-lm's train/valid/test.jsonl. The sample is text-to-SQL "
             "chat in the recipe's shape. Every line is checked before training starts.")

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield OptionList(
            Option("Sample text-to-SQL dataset (generated here: 1000/100/100)", id=SAMPLE),
            Option("A data folder on this disk (train.jsonl, valid.jsonl…)", id=FOLDER),
            id="sources",
        )
        yield Input(placeholder="path/to/data-folder", id="folder")
        yield Static("No dataset chosen yet.", id="status", classes="status")
        yield Static("", id="preview", classes="detail")
        yield from self.compose_bottom()

    def choose(self, which: str) -> None:
        if which == SAMPLE:
            target = paths.sample_data_dir()
            if read_manifest(target).get("preset") == "text-to-sql":
                self.check(str(target))
            else:
                self.set_status("Writing the sample dataset…")
                self.track(self.app.engine.write_sample_data(target))
        else:
            self.ask_for_folder()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if not value:
            self.set_status("Type the path of a data folder first.")
            return
        self.check(str(Path(value).expanduser().resolve()))

    def handle_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.JobFinished) and event.name == "sample-data":
            self.check(str(paths.sample_data_dir()))
        elif isinstance(event, ev.JobFailed):
            self.set_status(Text(f"✗ {event.message}", style="bold red"))

    def check(self, folder: str) -> None:
        self._checking = folder
        self.set_status(f"Checking every line of {folder}…")
        self.run_check(folder)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_check(self, folder: str) -> None:
        report = check_folder(folder)  # pure Python streaming: fine on a plain thread
        example = None
        if report.ok:
            example = (read_rows(Path(folder) / "train.jsonl", limit=1) or [None])[0]
        self.post_message(Checked(folder, report, example))

    def on_checked(self, message: Checked) -> None:
        if message.folder != getattr(self, "_checking", None):
            return  # a newer check was asked for since
        report = message.report
        preview = self.query_one("#preview", Static)
        if report.ok:
            self.app.session.data_dir = message.folder
            status = Text(f"✓ {report.summary()}\n", style="bold green")
            status.append(f"{message.folder}   Press n to train.", style="")
            self.set_status(status)
            preview.update(Text("First training example:\n", style="bold") + render_example(message.example))
            self.refresh_stepbar()
        else:
            if self.app.session.data_dir == message.folder:
                self.app.session.data_dir = None
            self.set_status(Text(f"✗ {report.summary()}", style="bold red"))
            lines = [str(p) for p in report.problems[:8]]
            if report.errors + report.warnings > 8:
                lines.append(f"… run `tunedeck data check {message.folder}` for all of them")
            preview.update("\n".join(lines))
            self.refresh_stepbar()

    def can_leave(self) -> str | None:
        return None if self.app.session.data_dir else "Choose and check a dataset first."
