"""Step 3: the training data, built from any source and checked before training.

Four tabs, one per step of the flow, each reachable by keyboard:
Source (pick and preview raw rows) → Map (preset, format, column templates,
rendered examples) → Split (sample, split, seed, folder; write) → Check
(every line, token lengths against the model, the masked preview). The
ready-made sample and an existing mlx-lm folder go straight to Check.
Loading, building and tokenizing run as engine jobs, so the UI stays live.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import (Checkbox, DataTable, Input, Label, OptionList, ProgressBar, Select, Static,
                             TabbedContent, TabPane)
from textual.widgets.option_list import Option

from core import events as ev
from core import paths
from core.data_check import CheckReport, check_folder
from core.errors import TuneDeckError
from core.jsonl import read_manifest, read_rows
from core.presets import FORMATS, PRESETS, check_columns, custom_preset, suggest_preset
from core.targets import DATASET
from tui.screens.base import ChoiceScreen
from tui.screens.confirm import refusal_text, write_checked

SAMPLE, SAMPLE_ROWS, FOLDER, HUB = "sample", "sample-rows", "folder", "hub"
TABS = ("tab-source", "tab-map", "tab-split", "tab-check")
CUSTOM = "custom"
KEEP = "keep"  # format option: the rows' own (preset as-is)
JOB_NAMES = {"open-data": "opening the source", "build-data": "the build", "data-tokens": "tokenizing",
             "sample-data": "writing the sample"}
STYLE = {"prompt": "dim italic", "trained-prompt": "bold", "trained": "bold green", "cut": "red strike"}


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
        text.append("   prompt: ", style="bold").append(str(example["prompt"]).replace("\n", " ⏎ ") + "\n")
        text.append("completion: ", style="bold").append(str(example["completion"]) + "\n", style="green")
    else:
        text.append(str(example.get("text", ""))[:400].replace("\n", " ⏎ ") + "\n")
    return text


def render_tokens(report) -> Text:
    """The first example as training sees it: masked prompt vs trained tokens."""
    masked, trained = report.preview_tokens
    text = Text()
    text.append("masked (not trained on)", style=STYLE["prompt"]).append("  ")
    text.append("trained", style=STYLE["trained"]).append("  ")
    text.append("cut by max_seq_length", style=STYLE["cut"])
    text.append(f"   {masked} masked / {trained} trained tokens\n")
    for seg in report.preview:
        text.append(seg.text, style=STYLE[seg.kind])
    return text


def _cell(value, width: int = 40) -> str:
    text = str(value).replace("\n", " ⏎ ")
    return text if len(text) <= width else text[:width - 1] + "…"


class DatasetScreen(ChoiceScreen):
    STEP = "data"
    NEXT = "train"
    BACK = "model"
    GUIDE = ("Step 3: data as mlx-lm's train/valid/test.jsonl: source → map columns → split & write → "
             "check. ctrl+n/ctrl+p switch tabs.")
    BINDINGS = [
        Binding("ctrl+r", "write", "Write", id="data-write"),
        Binding("ctrl+g", "tokens", "Tokens", id="data-tokens"),
        Binding("escape", "cancel_job", "Cancel", id="data-cancel", show=False),
        Binding("ctrl+n", "tab(1)", "Next tab", id="data-next-tab"),
        Binding("ctrl+p", "tab(-1)", "Prev tab", id="data-prev-tab", show=False),
    ]
    DEFAULT_CSS = """
    DatasetScreen TabbedContent { height: 1fr; }
    DatasetScreen TabPane { padding: 0; }
    DatasetScreen .row { height: 1; padding: 0 1; }
    DatasetScreen .row Label { padding: 0 1 0 0; }
    DatasetScreen .row Input { height: 1; border: none; padding: 0 1; background: $boost; width: 1fr; }
    DatasetScreen .row Input:focus { background: $primary 30%; }
    DatasetScreen .row Input.short { width: 14; margin: 0 1 0 0; }
    DatasetScreen .row Select { width: 1fr; height: 1; margin: 0 1 0 0; }
    DatasetScreen .row Select > SelectCurrent { border: none; height: 1; padding: 0 1; }
    DatasetScreen .row Checkbox { border: none; height: 1; padding: 0; background: transparent; }
    DatasetScreen #hub-row { display: none; }
    DatasetScreen OptionList { border: none; max-height: 4; }
    DatasetScreen Input#folder { height: 1; border: none; padding: 0 1; margin: 0 1; background: $boost; }
    DatasetScreen #raw { height: 1fr; }
    DatasetScreen #rendered, DatasetScreen #split-info, DatasetScreen #token-info,
    DatasetScreen #token-preview { padding: 0 1; height: auto; }
    DatasetScreen #token-preview { margin: 0 0 1 0; }
    DatasetScreen #check-body { height: 1fr; }
    DatasetScreen #token-plot { height: 12; display: none; }
    DatasetScreen #build-progress { height: 1; padding: 0 1; display: none; }
    DatasetScreen #build-progress Bar { width: 1fr; }
    DatasetScreen #status { max-height: 4; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.source = None  # core.data_sources.Source, once loaded
        self._job = None  # the running engine job (cancel with escape)
        self._tokens_for: str | None = None

    # -- layout ----------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        with TabbedContent(id="tabs"):
            with TabPane("1 Source", id="tab-source"):
                yield OptionList(
                    Option("Sample text-to-SQL dataset (generated here: 1000/100/100)", id=SAMPLE),
                    Option("A file or folder: JSONL, JSON, CSV, Parquet, mlx-lm or saved dataset", id=FOLDER),
                    Option("A Hugging Face dataset (id, config, split)", id=HUB),
                    Option("Build from the sample's raw rows (question, context, answer)", id=SAMPLE_ROWS),
                    id="sources",
                )
                yield Input(placeholder="path: data.csv, rows.jsonl, a folder…  (Enter loads)", id="folder")
                with Horizontal(id="hub-row", classes="row"):
                    yield Input(placeholder="b-mc2/sql-create-context", id="hub-id")
                    yield Input(placeholder="config", id="hub-config", classes="short")
                    yield Input(placeholder="split: train", id="hub-split", classes="short")
                yield DataTable(id="raw", zebra_stripes=True, cursor_type="row")
            with TabPane("2 Map", id="tab-map"):
                with Horizontal(classes="row"):
                    yield Label("preset")
                    yield Select([(p.name, p.name) for p in PRESETS.values()]
                                 + [("custom: your own templates", CUSTOM)], id="preset", allow_blank=False,
                                 value="text-to-sql")
                    yield Label("format")
                    yield Select([(f, f) for f in FORMATS] + [("as in source", KEEP)], id="format",
                                 allow_blank=False, value="chat",
                                 classes="short")
                for role in ("system", "user", "assistant"):
                    with Horizontal(classes="row"):
                        yield Label(f"{role:>9}")
                        yield Input(placeholder="{column} template", id=f"tpl-{role}")
                with VerticalScroll(id="map-body"):
                    yield Static("Load a source first.", id="rendered")
            with TabPane("3 Split & write", id="tab-split"):
                with Horizontal(classes="row"):
                    yield Label("sample rows")
                    yield Input(placeholder="all", id="sample", classes="short")
                    yield Label("split")
                    yield Input("80%,10%,10%", id="split", classes="short")
                    yield Label("seed")
                    yield Input("0", id="seed", classes="short")
                with Horizontal(classes="row"):
                    yield Label("folder")
                    yield Input(placeholder="output folder", id="out")
                yield Static("Enter or ctrl+r writes the folder (built aside, renamed when complete).",
                             id="split-info")
                with Horizontal(id="build-progress"):
                    yield ProgressBar(id="build-bar", show_eta=False)
            with TabPane("4 Check", id="tab-check"):
                with Horizontal(classes="row"):
                    yield Label("max_seq_length")
                    yield Input("2048", id="max-seq", classes="short")
                    yield Checkbox("mask prompt", id="mask", value=True)
                with VerticalScroll(id="check-body"):
                    yield Static("", id="token-info")
                    yield Static("", id="token-preview")
                    yield Static("", id="preview", classes="detail")
        yield Static("No dataset chosen yet.", id="status", classes="status")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        self.query_one("#raw", DataTable).display = False
        # The app stylesheet gives #preview 1fr (it outranks DEFAULT_CSS); here
        # it sits in a scroll area below the plot, so it takes its own height.
        self.query_one("#preview").styles.height = "auto"

    # -- tabs ------------------------------------------------------------
    def show_tab(self, tab: str) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        tabs.active = tab
        # Focus inside the new pane: TabbedContent follows focus, so focus left
        # in a hidden pane would switch straight back. The Check pane focuses
        # the tab bar, so n/b (next/back step) work there.
        target = {"tab-source": "#sources", "tab-map": "#preset", "tab-split": "#sample"}.get(tab)
        widget = self.query_one(target) if target else tabs.query_one("Tabs")
        widget.focus()

    def action_tab(self, step: int) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        self.show_tab(TABS[(TABS.index(tabs.active) + step) % len(TABS)])

    # -- source ----------------------------------------------------------
    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.query_one("#hub-row").display = event.option.id == HUB

    def choose(self, which: str) -> None:
        if which == SAMPLE:
            target = paths.sample_data_dir()
            if read_manifest(target).get("preset") == "text-to-sql":
                self.check(str(target))
            else:
                def write(overwrite: bool) -> None:
                    self.set_status("Writing the sample dataset…")
                    self.track(self.app.engine.write_sample_data(target, overwrite=overwrite))

                write_checked(self, target, DATASET, write, lambda exc: self.set_status(refusal_text(exc)))
        elif which == SAMPLE_ROWS:
            self.load_source("sample")
        elif which == HUB:
            self.query_one("#hub-row").display = True
            self.query_one("#hub-id", Input).focus()
        else:
            self.ask_for_folder()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        field = event.input.id or ""
        if field == "folder":
            value = event.value.strip()
            if not value:
                self.set_status("Type the path of a data file or folder first.")
                return
            path = Path(value).expanduser().resolve()
            if path.is_dir() and (path / "train.jsonl").is_file():
                self.check(str(path))  # already mlx-lm data: check it as it is
            else:
                self.load_source(str(path))
        elif field.startswith("hub-"):
            hub_id = self.query_one("#hub-id", Input).value.strip()
            if not hub_id:
                self.set_status("Type a dataset id such as b-mc2/sql-create-context.")
                return
            self.load_source(hub_id, self.query_one("#hub-config", Input).value.strip() or None,
                             self.query_one("#hub-split", Input).value.strip() or None)
        elif field.startswith("tpl-"):
            self.show_tab("tab-split")
        elif field in ("sample", "split", "seed", "out"):
            self.action_write()
        elif field == "max-seq":
            self.action_tokens()

    def load_source(self, spec: str, config: str | None = None, split: str | None = None) -> None:
        self.set_status(f"Opening {spec}…")
        self._job = self.track(self.app.engine.open_data_source(spec, config, split))

    def show_source(self, source) -> None:
        self.source = source
        table = self.query_one("#raw", DataTable)
        table.clear(columns=True)
        table.add_columns(*source.columns)
        width = max(12, 76 // max(1, len(source.columns)) - 2)  # every column on screen at 80
        for row in source.head(6):
            table.add_row(*(_cell(row.get(c, ""), width) for c in source.columns))
        table.display = True
        suggested = suggest_preset(source.columns)
        self.set_status(Text(f"✓ {source.describe()}\n", style="bold green").append(
            f"Preset: {suggested or 'none fits, write templates'}. Enter in a template: split & write.",
            style=""))
        self.query_one("#preset", Select).value = suggested or CUSTOM
        self.query_one("#format", Select).value = KEEP if suggested == "as-is" else "chat"
        self.fill_templates()
        stem = Path(source.spec.rstrip("/")).stem.replace("/", "-") or "data"
        self.query_one("#out", Input).value = str(paths.data_dir() / f"{stem}-{suggested or 'custom'}")
        self.show_tab("tab-map")

    def forget_source(self) -> None:
        """A source that failed to open replaces the last one: its rows must not
        stay on screen (or be built by ctrl+r) under the new file's error."""
        self.source = None
        self.query_one("#raw", DataTable).display = False
        self.query_one("#rendered", Static).update("Load a source first.")

    # -- mapping ---------------------------------------------------------
    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "preset":
            self.fill_templates()
        self.render_preview()

    def fill_templates(self) -> None:
        name = self.query_one("#preset", Select).value
        preset = PRESETS.get(name)
        for role in ("system", "user", "assistant"):
            box = self.query_one(f"#tpl-{role}", Input)
            box.disabled = name == "as-is"
            if preset is not None:
                box.value = getattr(preset, role).replace("\n", "\\n")
        self.render_preview()

    def on_input_changed(self, event: Input.Changed) -> None:
        if (event.input.id or "").startswith("tpl-"):
            self.render_preview()

    def templates(self) -> dict[str, str]:
        return {role: self.query_one(f"#tpl-{role}", Input).value.replace("\\n", "\n")
                for role in ("system", "user", "assistant")}

    def current_preset(self):
        name = self.query_one("#preset", Select).value
        t = self.templates()
        if name == CUSTOM:
            return custom_preset(t["user"], t["assistant"], t["system"])
        return PRESETS[name].with_templates(**t) if name != "as-is" else PRESETS[name]

    def output_format(self) -> str | None:
        """None keeps the rows' own format (as-is), else chat when 'keep' makes no sense."""
        value = self.query_one("#format", Select).value
        if value == KEEP:
            return None if self.query_one("#preset", Select).value == "as-is" else "chat"
        return value

    def render_preview(self) -> None:
        out = self.query_one("#rendered", Static)
        if self.source is None:
            return
        from core.dataset_build import render_rows

        try:
            preset = self.current_preset()
            check_columns(preset, self.source.columns)
            rows = render_rows(self.source, preset, self.output_format() or "",
                               range(min(3, len(self.source))))
        except TuneDeckError as exc:
            out.update(Text(f"✗ {exc.message}\n{exc.hint}", style="bold red"))
            return
        text = Text()
        for i, record, problem in rows:
            text.append(f"{self.source.where(i)}\n", style="bold underline")
            if record is None:
                text.append(f"  skipped: {problem}\n", style="red")
            else:
                text.append_text(render_example(record))
        out.update(text)

    # -- writing ---------------------------------------------------------
    def action_write(self) -> None:
        if self.source is None:
            self.notify("Load a source first (tab 1).", severity="warning")
            return
        from core.dataset_build import BuildSpec

        value = lambda wid: self.query_one(f"#{wid}", Input).value.strip()  # noqa: E731
        try:
            sample = int(value("sample")) if value("sample") else None
            seed = int(value("seed") or 0)
        except ValueError:
            self.notify("sample and seed must be whole numbers", severity="error")
            return
        if not value("out"):
            self.notify("Give the output folder.", severity="warning")
            return
        name = self.query_one("#preset", Select).value
        t = self.templates() if name != "as-is" else {}
        spec = BuildSpec(source=self.source.spec, out=str(Path(value("out")).expanduser().resolve()),
                         preset=name, format=self.output_format(), sample=sample,
                         split=value("split") or "80%,10%,10%", seed=seed,
                         config=self.source.details.get("config"), hf_split=self.source.details.get("split"),
                         system=t.get("system"), user=t.get("user"), assistant=t.get("assistant"))
        self.show_tab("tab-split")

        def build(overwrite: bool) -> None:
            spec.overwrite = overwrite
            self.query_one("#build-progress").display = True
            self.set_status(f"Building {spec.out}… (escape cancels)")
            self._job = self.track(self.app.engine.build_dataset(spec, self.source))

        write_checked(self, spec.out, DATASET, build, lambda exc: self.set_status(refusal_text(exc)))

    def action_cancel_job(self) -> None:
        if self._job is not None and not self._job.done:
            self._job.cancel()
            self.set_status("Cancelling…")

    # -- engine events ---------------------------------------------------
    def handle_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.Progress):
            self.set_status(f"… {event.message}")
            if event.total:
                self.query_one("#build-bar", ProgressBar).update(total=event.total, progress=event.done or 0)
        elif isinstance(event, ev.JobFinished):
            if event.name == "sample-data":
                self.check(str(paths.sample_data_dir()))
            elif event.name == "open-data":
                self.show_source(event.result)
            elif event.name == "build-data":
                self.query_one("#build-progress").display = False
                self.check(event.result["out"])
            elif event.name == "data-tokens":
                self.show_tokens(event.result)
        elif isinstance(event, ev.JobFailed):
            self.query_one("#build-progress").display = False
            if event.name == "open-data":
                self.forget_source()
            status = Text(f"✗ {event.located}", style="bold red")
            if event.hint:
                status.append(f"\n  fix: {event.hint}", style="")
            self.set_status(status)
            if event.name == "build-data":
                self.query_one("#split-info", Static).update(
                    Text("✗ The build stopped (below); nothing was written.", style="red"))
        elif isinstance(event, ev.JobCancelled):
            self.query_one("#build-progress").display = False
            what = JOB_NAMES.get(event.name, event.name)
            self.set_status(f"Stopped {what}." + (" Nothing was written." if event.name == "build-data" else ""))

    # -- checking --------------------------------------------------------
    def check(self, folder: str) -> None:
        self._checking = folder
        self.show_tab("tab-check")
        for plot in self.query("#token-plot"):
            plot.display = False
        self.query_one("#token-info", Static).update("")
        self.query_one("#token-preview", Static).update("")
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
            status.append(f"{message.folder}   n: train · ctrl+g: token lengths", style="")
            self.set_status(status)
            text = Text("First training example:\n", style="bold") + render_example(message.example)
            for p in report.problems[:3]:
                text.append(f"{p}\n", style="yellow")
            preview.update(text)
        else:
            if self.app.session.data_dir == message.folder:
                self.app.session.data_dir = None
            self.set_status(Text(f"✗ {report.summary()}", style="bold red"))
            lines = [str(p) for p in report.problems[:12]]
            if report.errors + report.warnings > 12:
                lines.append(f"… run `tunedeck data check {message.folder}` for all of them")
            preview.update("\n".join(lines))
        self.refresh_stepbar()

    # -- tokens ----------------------------------------------------------
    def action_tokens(self) -> None:
        folder, model = self.app.session.data_dir, self.app.session.model_path
        if not folder:
            self.notify("Check a dataset first.", severity="warning")
            return
        if not model:
            self.notify("Choose a model first (step 2): its tokenizer measures the lengths.",
                        severity="warning")
            return
        try:
            max_seq = int(self.query_one("#max-seq", Input).value)
        except ValueError:
            self.notify("max_seq_length must be a whole number", severity="error")
            return
        self.show_tab("tab-check")
        self.set_status(f"Tokenizing {folder} with {Path(model).name}… (escape cancels)")
        self._job = self.track(self.app.engine.data_tokens(
            folder, model, max_seq, self.query_one("#mask", Checkbox).value, limit=20000))

    def show_tokens(self, report) -> None:
        self.token_report = report
        lines = Text()
        for split in report.splits.values():
            style = "yellow" if split.over else ""
            lines.append(split.summary(report.max_seq_length) + "\n", style=style)
        self.query_one("#token-info", Static).update(lines)
        self.query_one("#token-preview", Static).update(render_tokens(report))
        self.plot_tokens(report)
        verdict = (f"{report.truncated} example(s) longer than {report.max_seq_length} tokens will be cut"
                   if report.truncated else f"every example fits in {report.max_seq_length} tokens")
        self.set_status(Text(("⚠ " if report.truncated else "✓ ") + verdict,
                             style="bold yellow" if report.truncated else "bold green"))

    def plot_tokens(self, report) -> None:
        # Deferred: textual-plotext imports plotext, which costs start-up time.
        from textual_plotext import PlotextPlot

        if not self.query("#token-plot"):
            self.query_one("#check-body").mount(PlotextPlot(id="token-plot"), after="#token-info")
        plot = self.query_one("#token-plot", PlotextPlot)
        plot.display = True
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        for split in report.splits.values():
            if split.lengths:
                plt.hist(split.lengths, bins=20, label=split.name)
        longest = max((max(s.lengths) for s in report.splits.values() if s.lengths), default=0)
        if report.max_seq_length <= longest * 1.5:  # else the line would squash the bars
            plt.vline(report.max_seq_length, "red")
            plt.title(f"tokens per example (red line: max_seq_length {report.max_seq_length})")
        else:
            plt.title(f"tokens per example (all under max_seq_length {report.max_seq_length})")
        plot.refresh()

    def can_leave(self) -> str | None:
        return None if self.app.session.data_dir else "Build or choose a dataset, and check it, first."

