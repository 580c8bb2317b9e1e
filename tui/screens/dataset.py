"""Step 3: the training data, built from any source and checked before training.

Four tabs, one per step of the flow, each reachable by keyboard:
Source (pick and preview raw rows) → Map (preset, format, column templates,
rendered examples) → Split (sample, split, seed, folder; write) → Check
(every line, token lengths against the model, the masked preview). The
ready-made sample and an existing mlx-lm folder go straight to Check.
Each tab is a widget (``tui.widgets.data``); this screen turns what they
ask for into engine jobs (loading, building, tokenizing, so the UI stays
live), keeps the session's chosen dataset, and owns the status line.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input, TabbedContent

from core.data.check import CheckReport, check_folder
from core.data.folder import read_manifest, read_rows
from core.data.presets import suggest_preset
from core.runtime import events as ev
from core.runtime import paths
from core.runtime.errors import TuneDeckError
from core.runtime.targets import DATASET
from tui.screens.base import ChoiceScreen
from tui.screens.confirm import write_checked
from tui.widgets.data.check_tab import CheckTab
from tui.widgets.data.map_tab import MapTab
from tui.widgets.data.note import Note
from tui.widgets.data.source_tab import HUB, SAMPLE, SAMPLE_ROWS, SourceTab
from tui.widgets.data.split_tab import SplitTab
from tui.widgets.download_progress import DownloadProgressRow
from tui.widgets.runs_browser import shown_path
from tui.widgets.status_line import Status, StatusLine

TABS = ("tab-source", "tab-map", "tab-split", "tab-check")
JOB_NAMES = {
    "open-data": "opening the source",
    "build-data": "the build",
    "data-tokens": "tokenizing",
    "sample-data": "writing the sample",
}


class Checked(Message):
    """A check's outcome: its report, or ``error`` (a TuneDeckError) when the check itself failed."""

    def __init__(self, folder: str, report: CheckReport | None, example: dict | None, error=None) -> None:
        super().__init__()
        self.folder, self.report, self.example, self.error = folder, report, example, error


class DatasetScreen(ChoiceScreen):
    STEP = "data"
    NEXT = "train"
    BACK = "model"
    GUIDE = (
        "Step 3: data as mlx-lm's train/valid/test.jsonl: source → map columns → split & write → "
        "check. ctrl+n/ctrl+p switch tabs."
    )
    BINDINGS = [
        Binding("ctrl+r", "write", "Write", id="data-write"),
        Binding("ctrl+g", "tokens", "Tokens", id="data-tokens"),
        Binding("escape", "cancel_job", "Cancel", id="data-cancel", show=False),
        Binding("x", "cancel_job", "Cancel", id="data-cancel-x", show=False),
        Binding("down", "hub_lists", "Configs/splits", id="data-hub-lists", show=False),
        Binding("ctrl+n", "tab(1)", "Next tab", id="data-next-tab"),
        Binding("ctrl+p", "tab(-1)", "Prev tab", id="data-prev-tab", show=False),
    ]
    DEFAULT_CSS = """
    DatasetScreen TabbedContent { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.source = None  # core.data.rows.Source, once loaded
        self._job = None  # the running engine job (cancel with escape)
        self._lookup_job = None  # the latest configs/splits lookup (older answers are ignored)

    # -- layout ----------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        with TabbedContent(id="tabs"):
            yield SourceTab()
            yield MapTab()
            yield SplitTab()
            yield CheckTab()
        yield DownloadProgressRow(id="build-progress")  # downloads and build steps, on any tab
        yield StatusLine("No dataset chosen yet.", id="status", classes="status")
        yield from self.compose_bottom()

    @property
    def choices(self):
        """What the hub listed for the id typed (core.data.hub_datasets.Choices), once it answered."""
        return self.query_one(SourceTab).choices

    @on(Note)
    def note(self, message: Note) -> None:
        self.status_line.status = message.status

    @property
    def status_line(self) -> StatusLine:
        return self.query_one("#status", StatusLine)

    def set_status(self, message: str, kind: str, hint: str = "") -> None:
        self.status_line.show(message, kind, hint)

    def fail(self, failure: Status, after: str) -> None:
        """Show ``failure`` with ``after`` (what it leaves chosen) below its fix."""
        if failure.hint:
            failure = replace(failure, hint=f"{failure.hint}\n{after}")
        else:
            failure = replace(failure, message=f"{failure.message}\n{after}")
        self.status_line.status = failure

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
    def choose(self, which: str) -> None:
        if which == SAMPLE:
            target = paths.sample_data_dir()
            if read_manifest(target).get("preset") == "text-to-sql":
                self.check(str(target))
            else:

                def write(overwrite: bool) -> None:
                    self.set_status("Writing the sample dataset…", "working")
                    self.track(self.app.engine.write_sample_data(target, overwrite=overwrite))

                write_checked(self, target, DATASET, write, self.status_line.failed)
        elif which == SAMPLE_ROWS:
            self.load_source("sample")
        elif which == HUB:
            self.query_one(SourceTab).open_hub()
        else:
            self.ask_for_folder()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # each box's Enter is handled by its tab, on this screen only

    @on(SourceTab.CheckRequested)
    def check_requested(self, message: SourceTab.CheckRequested) -> None:
        self.check(message.folder)

    @on(SourceTab.LoadRequested)
    def load_requested(self, message: SourceTab.LoadRequested) -> None:
        self.load_source(message.spec, message.config, message.split, **message.hub)
        endpoint = message.hub.get("endpoint")
        if endpoint:
            self.query_one("#build-progress", DownloadProgressRow).start(f"asking {endpoint}…")
            self.set_status(f"Opening {message.spec} from {endpoint}… (escape or x cancels)", "working")

    @on(SourceTab.LookupRequested)
    def lookup_requested(self, message: SourceTab.LookupRequested) -> None:
        self.set_status(f"Asking {message.endpoint} for the configs and splits of {message.hub_id}…", "working")
        self._lookup_job = self.track(
            self.app.engine.hub_dataset_choices(message.hub_id, message.config, message.endpoint)
        )

    def load_source(self, spec: str, config: str | None = None, split: str | None = None, **hub) -> None:
        self.set_status(f"Opening {spec}…", "working")
        self._job = self.track(self.app.engine.open_data_source(spec, config, split, **hub))

    def action_hub_lists(self) -> None:
        self.query_one(SourceTab).focus_hub_lists()

    def show_source(self, source) -> None:
        self.source = source
        self.query_one(SourceTab).show_rows(source)
        suggested = suggest_preset(source.columns)
        self.set_status(
            f"{source.describe()}\n"
            f"Preset: {suggested or 'none fits, write templates'}. Enter in a template: split & write.",
            "ok",
        )
        self.query_one(MapTab).show_source(source, suggested)
        stem = Path(source.spec.rstrip("/")).stem.replace("/", "-") or "data"
        self.query_one(SplitTab).out = str(paths.data_dir() / f"{stem}-{suggested or 'custom'}")
        self.show_tab("tab-map")

    def forget_source(self) -> None:
        """A source that failed to open replaces the last one: its rows must not
        stay on screen (or be built by ctrl+r) under the new file's error."""
        self.source = None
        self.query_one(SourceTab).forget_rows()
        self.query_one(MapTab).forget_source()

    # -- mapping and writing ---------------------------------------------
    @on(MapTab.Done)
    def mapping_done(self) -> None:
        self.show_tab("tab-split")

    @on(SplitTab.BuildRequested)
    def build_requested(self) -> None:
        self.action_write()

    def action_write(self) -> None:
        if self.source is None:
            self.notify("Load a source first (tab 1).", severity="warning")
            return
        from core.data.build import BuildSpec

        form, mapping = self.query_one(SplitTab), self.query_one(MapTab)
        if form.problem():
            self.show_tab("tab-split")
            form.show_info()
            return
        if not form.out:
            self.notify("Give the output folder.", severity="warning")
            return
        name = mapping.preset_name
        t = mapping.templates() if name != "as-is" else {}
        spec = BuildSpec(
            source=self.source.spec,
            out=str(Path(form.out).expanduser().resolve()),
            preset=name,
            format=mapping.output_format(),
            sample=form.sample,
            split=form.split,
            seed=form.seed,
            config=self.source.details.get("config"),
            hf_split=self.source.details.get("split"),
            system=t.get("system"),
            user=t.get("user"),
            assistant=t.get("assistant"),
        )
        self.show_tab("tab-split")

        def build(overwrite: bool) -> None:
            spec.overwrite = overwrite
            form.show_info()  # an earlier build's failure no longer applies
            self.query_one("#build-progress", DownloadProgressRow).start()
            self.set_status(f"Building {spec.out}… (escape cancels)", "working")
            self._job = self.track(self.app.engine.build_dataset(spec, self.source))

        write_checked(self, spec.out, DATASET, build, self.status_line.failed)

    def action_cancel_job(self) -> None:
        if self._job is not None and not self._job.done:
            self._job.cancel()
            self.set_status("Cancelling…", "working")
        elif isinstance(self.focused, Input):
            # Nothing to cancel: Esc leaves the box, for the tab's list (or its tab bar).
            tabs = self.query_one("#tabs", TabbedContent)
            (self.query_one("#sources") if tabs.active == "tab-source" else tabs.query_one("Tabs")).focus()

    # -- engine events ---------------------------------------------------
    def handle_event(self, event: ev.Event) -> None:
        progress = self.query_one("#build-progress", DownloadProgressRow)
        if isinstance(event, ev.DownloadProgress):
            progress.show(event)
            self.set_status(f"Downloading {event.repo_id}… escape or x cancels; finished files are kept.", "working")
        elif isinstance(event, ev.Progress):
            if event.job_id != getattr(self._lookup_job, "id", None):  # a lookup's steps stay off the status
                self.set_status(f"… {event.message}", "working")
            if event.total:
                progress.show(event)
        elif isinstance(event, ev.JobFinished):
            if event.name == "hub-choices":
                said = self.query_one(SourceTab).show_choices(event.result)
                if said is not None:
                    self.status_line.status = said
            elif event.name == "sample-data":
                self.check(str(paths.sample_data_dir()))
            elif event.name == "open-data":
                progress.stop()
                self.show_source(event.result)
            elif event.name == "build-data":
                progress.stop()
                self.check(event.result["out"])
            elif event.name == "data-tokens":
                self.show_tokens(event.result)
        elif isinstance(event, ev.JobFailed):
            if event.name == "hub-choices":
                if event.job_id != getattr(self._lookup_job, "id", None):
                    return  # for an id typed before: a newer lookup answers
                self.query_one(SourceTab).lookup_failed()
                if "was not found" in event.message:  # most likely typing is not done: no alarm
                    self.set_status(f"{event.message}: keep typing (→ takes the completion shown)", "idle")
                    return
            else:
                progress.stop()
            if event.name == "open-data":
                self.forget_source()
            chosen = self.app.session.data_dir
            if chosen:  # say which dataset n would go on with
                self.fail(Status.failed(event), f"Still chosen: {chosen}")
            else:
                self.status_line.failed(event)
            if event.name == "build-data":
                self.query_one(SplitTab).show_build_failed()
        elif isinstance(event, ev.JobCancelled) and event.name != "hub-choices":
            progress.stop()
            what = JOB_NAMES.get(event.name, event.name)
            more = {
                "build-data": " Nothing was written.",
                "open-data": " Nothing half-downloaded was kept; files that finished are in the Hugging Face "
                "cache, so Enter loads again from there.",
            }.get(event.name, "")
            self.set_status(f"Stopped {what}.{more}", "idle")

    # -- checking --------------------------------------------------------
    def check(self, folder: str) -> None:
        # The folder being checked replaces the chosen one at once: until it
        # passes, no dataset is chosen, so n cannot go on with another one.
        self._replaced = self.app.session.data_dir if self.app.session.data_dir != folder else None
        self.app.session.data_dir = None
        self.refresh_stepbar()
        self._checking = folder
        self.show_tab("tab-check")
        self.query_one(CheckTab).clear()
        self.set_status(f"Checking every line of {folder}…", "working")
        self.run_check(folder)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_check(self, folder: str) -> None:
        try:
            report = check_folder(folder)  # pure Python streaming: fine on a plain thread
            example = None
            if report.ok:
                example = (read_rows(Path(folder) / "train.jsonl", limit=1) or [None])[0]
        except Exception as exc:  # the tab must never stay on "Checking…"
            from core.runtime.errors import explain
            from core.runtime.log import log_exception

            error = explain(exc)
            if error is None:
                path = log_exception(f"checking {folder} failed")
                error = TuneDeckError(
                    f"the check stopped: {type(exc).__name__}: {exc}",
                    f"this looks like a bug; details are in {path or 'no log'}",
                )
            self.post_message(Checked(folder, None, None, error))
            return
        self.post_message(Checked(folder, report, example))

    def on_checked(self, message: Checked) -> None:
        if message.folder != getattr(self, "_checking", None):
            return  # a newer check was asked for since
        report = message.report
        if report is None or not report.ok:
            self.show_check_failed(message)
        else:
            self.app.session.data_dir = message.folder
            self.set_status(
                f"{report.summary()}\n{shown_path(message.folder)}   n: train · ctrl+g: token lengths", "ok"
            )
            self.query_one(CheckTab).show_passed(report, message.example)
        self.refresh_stepbar()

    def show_check_failed(self, message: Checked) -> None:
        """The status says why, and that no dataset is chosen now."""
        self.app.session.data_dir = None
        earlier = getattr(self, "_replaced", None)
        either = f" (not {Path(earlier).name} either)" if earlier else ""
        report = message.report
        if report is None:
            self.query_one(CheckTab).show_nothing()
            self.fail(
                Status.failed(message.error),
                f"No dataset is chosen{either}: fix this one and load it again, or choose another.",
            )
            return
        self.query_one(CheckTab).show_problems(report, message.folder)
        # The first bad line leads (the Check tab lists the rest): a long one and
        # its fix take two lines each at 80 columns, so what follows stays short.
        first = report.first_error()
        if first is None:  # only warnings were stored: the counts say it
            failure = Status("error", report.summary())
        else:
            more = f" (the first of {report.errors} errors)" if report.errors > 1 else ""
            failure = Status("error", first.message + more, first.fix, first.where)
        self.fail(failure, f"No dataset is chosen{either}: training would fail.")

    # -- tokens ----------------------------------------------------------
    @on(CheckTab.TokensRequested)
    def tokens_requested(self) -> None:
        self.action_tokens()

    def action_tokens(self) -> None:
        folder, model = self.app.session.data_dir, self.app.session.model_path
        if not folder:
            self.notify("Check a dataset first.", severity="warning")
            return
        if not model:
            self.notify("Choose a model first (step 2): its tokenizer measures the lengths.", severity="warning")
            return
        panel = self.query_one(CheckTab)
        max_seq = panel.max_seq_length
        if max_seq is None:
            self.notify("max_seq_length must be a whole number", severity="error")
            return
        self.show_tab("tab-check")
        self.set_status(f"Tokenizing {folder} with {Path(model).name}… (escape cancels)", "working")
        self._job = self.track(self.app.engine.data_tokens(folder, model, max_seq, panel.mask_prompt, limit=20000))

    def show_tokens(self, report) -> None:
        self.token_report = report
        self.query_one(CheckTab).show_tokens(report)
        verdict = (
            f"{report.truncated} example(s) longer than {report.max_seq_length} tokens will be cut"
            if report.truncated
            else f"every example fits in {report.max_seq_length} tokens"
        )
        self.set_status(verdict, "warning" if report.truncated else "ok")

    def can_leave(self) -> str | None:
        return None if self.app.session.data_dir else "Build or choose a dataset, and check it, first."
