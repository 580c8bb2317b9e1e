"""Step 4: training. Three tabs, all keyboard-driven and sized for 80x24:

* Run: the live loss plot (train + validation), speed/memory/ETA line,
  progress bar and an event log. s starts, x stops (adapter kept), r resumes.
* Config: the knobs (type, rank, layers, lr + schedule, batch, iters with
  the epochs they mean, max length, prompt masking, grad checkpointing,
  accumulation, report/eval/save steps, seed, presets), checked as typed,
  and YAML load/save (the file ``mlx_lm.lora -c`` also reads).
* Runs: past runs from their folders; Enter shows a curve, o pins one to
  overlay, r resumes the highlighted run.

m runs the memory check (a few real steps at these settings) from any tab;
ctrl+n / ctrl+p switch tabs; Enter or Esc leaves a knob so the keys work.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import time
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.widgets import Checkbox, DataTable, Input, Label, ProgressBar, Select, Static, TabbedContent, TabPane

from core.data.folder import read_manifest
from core.runtime import events as ev
from core.runtime.errors import TuneDeckError
from core.runtime.targets import CONFIG_YAML
from core.training.run_folders import curve, list_runs, new_run_dir, read_events, run_info
from core.training.settings import (
    PRESETS,
    SCHEDULES,
    TrainSettings,
    apply_preset,
    check_settings,
    default_settings,
    epochs,
    load_yaml,
    save_yaml,
    schedule_for,
    schedule_kind,
)
from tui.screens.base import StepScreen
from tui.screens.confirm import write_checked
from tui.widgets.path_log import PathLog


def _shown_path(path: str) -> str:
    """A folder as people read it: ~ for the home folder."""
    home = str(Path.home())
    return "~" + path[len(home) :] if path.startswith(home + "/") else path


def _fmt_time(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return (
        f"{seconds // 60:02d}:{seconds % 60:02d}"
        if seconds < 3600
        else f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    )


def train_examples(data_dir: str) -> int:
    """From the dataset's manifest, else by counting lines: once per version of
    the file (the epochs line asks at every keystroke in the Config tab)."""
    counts = read_manifest(data_dir).get("counts") or {}
    if counts.get("train"):
        return int(counts["train"])
    path = Path(data_dir) / "train.jsonl"
    try:
        stat = path.stat()
    except OSError:
        return 0
    return _count_lines(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _count_lines(path: str, mtime_ns: int, size: int) -> int:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return sum(1 for line in fh if line.strip())
    except OSError:
        return 0


def form_knobs(group: str) -> list:
    """The knobs the Config tab shows in ``group``, in their order there
    (each knob's ``form`` place, declared with ``TrainSettings``)."""
    return sorted((k for k in TrainSettings.knobs() if k.form and k.form.group == group), key=lambda k: k.form.order)


# The grid's own slots: the preset and the schedule are no single setting.
PRESET_SLOT, SCHEDULE_SLOT = 0, 2
TABS = ("tab-run", "tab-config", "tab-runs")


class TrainingScreen(StepScreen):
    STEP = "train"
    NEXT = "chat"
    AUTO_FOCUS = ""  # s/x/n must reach the screen; Tab moves into the knobs
    BACK = "data"
    GUIDE = (
        "Step 4: training. s starts, x stops (adapter kept), r resumes, m checks memory. "
        "ctrl+n/ctrl+p switch tabs: Config (knobs, YAML), Runs (past runs). Train loss should fall."
    )
    BINDINGS = [
        Binding("s", "start", "Start", id="start-training"),
        Binding("x", "stop", "Stop", id="stop-training"),
        Binding("r", "resume", "Resume", id="resume-training"),
        Binding("m", "memory_check", "Memory", id="memory-check"),
        Binding("o", "overlay", "Overlay", id="overlay-run", show=False),
        Binding("ctrl+s", "save_config", "Save YAML", id="save-config", show=False),
        Binding("ctrl+o", "load_config", "Load YAML", id="load-config", show=False),
        Binding("j", "judge", "Judge", id="judge-ship"),
        Binding("ctrl+n", "tab(1)", "Tab", id="train-next-tab"),
        Binding("ctrl+p", "tab(-1)", "Prev tab", id="train-prev-tab", show=False),
        Binding("escape", "leave_knob", "Leave knob", id="leave-knob", show=False),
    ]
    DEFAULT_CSS = """
    TrainingScreen TabbedContent { height: 1fr; }
    TrainingScreen TabPane { padding: 0; }
    TrainingScreen #plot { height: 1fr; min-height: 6; }
    TrainingScreen #stats { height: 2; padding: 0 1; }
    TrainingScreen #subject { height: 1; padding: 0 1; color: $text-muted; }
    TrainingScreen #progress { height: 1; padding: 0 1; }
    TrainingScreen #progress Bar { width: 1fr; }
    TrainingScreen #log { height: 3; padding: 0 1; background: $surface; scrollbar-gutter: stable; }
    TrainingScreen #form { grid-size: 6; grid-columns: 12 12 12 12 12 1fr; grid-rows: 1;
                           grid-gutter: 0 1; height: auto; padding: 0 1; }
    TrainingScreen #form Label { color: $text-muted; }
    TrainingScreen #form Input { height: 1; border: none; padding: 0 1; background: $boost; }
    TrainingScreen #form Input:focus { background: $primary 30%; }
    TrainingScreen #form Select { height: 1; }
    TrainingScreen #switches { height: 1; padding: 0 1; }
    TrainingScreen #switches Checkbox { height: 1; border: none; padding: 0; margin: 0 2 0 0; }
    TrainingScreen #yaml-row { height: 1; padding: 0 1; }
    TrainingScreen #yaml-row Label { width: 13; color: $text-muted; }
    TrainingScreen #yaml { width: 1fr; height: 1; border: none; padding: 0 1; background: $boost; }
    TrainingScreen #config-info { height: auto; padding: 0 1; color: $text-muted; }
    TrainingScreen #config-error { height: auto; padding: 0 1; color: $error; text-style: bold; }
    TrainingScreen #mem-info { height: auto; padding: 0 1; }
    TrainingScreen #runs-table { height: 7; }
    TrainingScreen #runs-plot { height: 1fr; min-height: 5; }
    TrainingScreen #runs-info { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.job = None
        self.mem_job = None
        self.settings: TrainSettings | None = None
        self.base: TrainSettings | None = None  # keys the form does not show survive a YAML load
        self.run_dir: str | None = None
        self.started = 0.0
        self.start_iteration = 0
        self.total_iters = 0
        self.trained_model: str | None = None  # the base model of the run in progress
        self.resuming = False  # the job in hand continues a run (r), rather than starting one (s)
        self._defaults_for: tuple | None = None
        self._filling = False
        self._preset_values: tuple = ()  # the knobs as the chosen preset set them
        self.overlay_path: str | None = None
        self.shown_path: str | None = None
        self._latest: ev.TrainReport | None = None  # the report not painted yet
        self._repaint_timer = None
        self._last_repaint = 0.0
        self.reset_curve()

    def compose(self) -> ComposeResult:
        # Deferred: plotext (via textual-plotext) costs import time the first
        # screen should not pay.
        from textual_plotext import PlotextPlot

        yield from self.compose_top()
        with TabbedContent(id="tabs"):
            with TabPane("Run", id="tab-run"):
                yield Static("", id="subject")  # the model and data in use: never a surprise
                yield PlotextPlot(id="plot")
                yield Static("Press s to start training (Config tab for the knobs).", id="stats")
                yield ProgressBar(id="progress", total=1, show_eta=False)  # idle: empty, not pulsing
                # min_width: RichLog wraps at >= 78 columns by default, which crops lines at 80x24
                yield PathLog(id="log", max_lines=200, wrap=True, markup=False, min_width=20)
            with TabPane("Config", id="tab-config"):
                with Grid(id="form"):
                    yield from self.compose_form_grid()
                with Horizontal(id="switches"):
                    for spec in form_knobs("switches"):
                        yield Checkbox(spec.form.label, id=spec.form.id, compact=True)
                with Horizontal(id="yaml-row"):
                    yield Label("YAML")
                    yield Input(id="yaml", placeholder="path/to/config.yaml", compact=True)
                yield Static("", id="config-error")
                yield Static("", id="config-info")
                yield Static("", id="mem-info")
            with TabPane("Runs", id="tab-runs"):
                yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
                yield Static("Enter shows a run · o pins it to overlay · r resumes it", id="runs-info")
                yield PlotextPlot(id="runs-plot")
        yield from self.compose_bottom()

    def compose_form_grid(self) -> ComposeResult:
        """Label and widget pairs, three to a row: a select for a knob with
        choices, an input for a number."""
        own = {
            PRESET_SLOT: ("preset", [(p, p) for p in PRESETS] + [("custom", "custom")], "custom"),
            SCHEDULE_SLOT: ("schedule", [(k, k) for k in SCHEDULES] + [("custom", "custom")], "constant"),
        }
        slots = {**own, **{spec.form.order: spec for spec in form_knobs("grid")}}
        for order in sorted(slots):
            item = slots[order]
            if isinstance(item, tuple):
                wid, options, value = item
                yield Label(wid)
                yield Select(options, id=wid, value=value, allow_blank=False, compact=True)
                continue
            yield Label(item.form.label)
            if item.choices:
                options = [(c, c) for c in item.choices]
                yield Select(options, id=item.form.id, value=item.default, allow_blank=False, compact=True)
            else:
                kind = "integer" if item.kind is int else "number"
                yield Input(id=item.form.id, type=kind, compact=True)

    def on_mount(self) -> None:
        self.query_one("#plot").plt.title("loss")
        table = self.query_one("#runs-table", DataTable)
        for label, key in (("run", "run"), ("status", "status"), ("iters", "iters"), ("val loss", "val")):
            table.add_column(label, key=key)
        # PlotextPlot follows the theme itself; redraw so our colours follow too.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.redraw_all())

    def show_subject(self, model: str | None, data: str | None, running: bool = False) -> None:
        """One line naming what a run trains: this run's pair while one runs,
        else the pair s would start with (the session's choices)."""
        line = self.query_one("#subject", Static)
        if not (model and data):
            line.update(self.NO_PAIR)
            return
        lead = "training" if running else "s trains"
        text = f"{lead} {Path(model).name} on {_shown_path(data)}"
        line.update(text if len(text) <= 78 else text[:40] + "…" + text[-37:])

    def on_screen_resume(self) -> None:
        session = self.app.session
        if self.job is None or self.job.done:
            self.show_subject(session.model_path, session.data_dir)
        if (self.job is None or self.job.done) and session.model_path and session.data_dir:
            key = (session.model_path, session.data_dir)
            if self._defaults_for != key:  # keep the user's edits for the same pair
                self._defaults_for = key
                self.fill_form(default_settings(session.model_path, session.data_dir, ""))
        self.refresh_runs()

    # -- the config form ------------------------------------------------------
    def fill_form(self, s: TrainSettings) -> None:
        self.base = copy.deepcopy(s)
        self._filling = True
        for spec in form_knobs("grid"):
            value = spec.get(s)
            if spec.choices:
                self.query_one(f"#{spec.form.id}", Select).value = value
            else:
                self.query_one(f"#{spec.form.id}", Input).value = f"{value:g}" if spec.kind is float else str(value)
        self.query_one("#schedule", Select).value = schedule_kind(s)
        for spec in form_knobs("switches"):
            self.query_one(f"#{spec.form.id}", Checkbox).value = spec.get(s)
        self.call_after_refresh(self._done_filling)
        self.update_config_info()

    def _done_filling(self) -> None:
        self._filling = False

    NO_PAIR = "Choose a model (step 2) and a dataset (step 3) first."

    def read_form(self, quiet: bool = False) -> TrainSettings | None:
        """The form's settings, or None after saying (unless quiet) what is wrong."""
        s, problem = self.form_settings()
        if problem and not quiet:
            self.notify(problem, severity="warning" if problem == self.NO_PAIR else "error")
        return None if problem else s

    def form_settings(self) -> tuple[TrainSettings | None, str | None]:
        session = self.app.session
        if not session.model_path or not session.data_dir or self.base is None:
            return None, self.NO_PAIR
        s = copy.deepcopy(self.base)
        s.model, s.data, s.adapter_path = session.model_path, session.data_dir, ""
        for spec in form_knobs("grid"):
            if spec.choices:
                spec.set(s, self.query_one(f"#{spec.form.id}", Select).value)
                continue
            text, kind = self.query_one(f"#{spec.form.id}", Input).value.strip(), spec.kind
            try:
                value = kind(text)
            except ValueError:
                what = "is empty" if not text else f"{text!r} is not a {'number' if kind is float else 'whole number'}"
                return None, f"{spec.form.label} {what}: type a value" + (" like 1e-5" if kind is float else "")
            spec.set(s, value)
        for spec in form_knobs("switches"):
            spec.set(s, self.query_one(f"#{spec.form.id}", Checkbox).value)
        # Catch nonsense (rank 0, lr -1, iters 0...) as it is typed, not after
        # a job starts. The schedule is left out: checking a loaded custom one
        # imports mlx, which the UI thread must not do; the job checks it.
        try:
            check_settings(dataclasses.replace(s, lr_schedule=None))
        except TuneDeckError as exc:
            return None, f"{exc.message} ({exc.hint})" if exc.hint else exc.message
        kind = self.query_one("#schedule", Select).value
        if kind != "custom":
            s.lr_schedule = schedule_for(kind, s.learning_rate, s.iters)
        return s, None

    def update_config_info(self) -> None:
        s, problem = self.form_settings()
        error = self.query_one("#config-error", Static)
        error.update(f"✗ {problem}" if problem and problem != self.NO_PAIR else "")
        error.display = bool(problem and problem != self.NO_PAIR)
        keys = (
            "Enter/Esc leaves a knob · ctrl+n/ctrl+p tabs · ctrl+s saves / ctrl+o loads the YAML "
            "(mlx_lm.lora -c reads it too) · m memory check"
        )
        info = self.query_one("#config-info", Static)
        if s is None:
            info.update(f"{self.NO_PAIR}\n{keys}" if problem == self.NO_PAIR else keys)
            return
        n = train_examples(s.data)
        layers = "all" if s.num_layers < 0 else s.num_layers
        info.update(
            f"{s.iters} iters x batch {s.batch_size} = {epochs(s, n):.2f} epochs of {n} examples · "
            f"layers {layers} · {Path(s.model).name}\n{keys}"
        )

    def knob_values(self) -> tuple:
        grid = [f"#{spec.form.id}" for spec in form_knobs("grid")] + ["#schedule"]
        return tuple(self.query_one(wid).value for wid in grid)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "yaml" and self.is_mounted:
            self.knob_edited()

    def knob_edited(self) -> None:
        # A knob changed after a preset filled the form: it is no longer that
        # preset. (Compared by value: the form's own fill posts changes too.)
        preset = self.query_one("#preset", Select)
        if preset.value != "custom" and self.knob_values() != self._preset_values:
            preset.value = "custom"
        self.update_config_info()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "preset":
            if self.is_mounted and not self._filling:
                self.knob_edited()
            return
        if self._filling or event.value == "custom":
            return
        s = self.read_form()
        if s is not None:
            self.fill_form(apply_preset(s, event.value))
            self._preset_values = self.knob_values()
            self.query_one("#preset", Select).value = event.value
            self.log_line(
                f"preset {event.value}: {s.iters} iters, rank {s.lora_parameters['rank']}, schedule {schedule_kind(s)}"
            )
        else:
            self.query_one("#preset", Select).value = "custom"  # not applied: say so

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "yaml":
            self.action_load_config()
        self.set_focus(None)  # Enter leaves the knob, so s starts

    def _yaml_path(self) -> Path | None:
        text = self.query_one("#yaml", Input).value.strip()
        if not text:
            self.notify("Type a YAML path in the Config tab first.", severity="warning")
            return None
        return Path(text).expanduser()

    def action_save_config(self) -> None:
        s, path = self.read_form(), self._yaml_path()
        if s is None or path is None:
            return

        def save(overwrite: bool) -> None:
            try:
                save_yaml(s, path, overwrite=overwrite)
            except (TuneDeckError, OSError) as exc:
                self.notify(f"could not save {path}: {exc}", severity="error")
                return
            self.notify(f"saved {path} (runs with `tunedeck train -c` or `mlx_lm.lora -c`)")

        write_checked(self, path, CONFIG_YAML, save)

    def action_load_config(self) -> None:
        path = self._yaml_path()
        if path is None or self.base is None:
            return
        try:
            loaded = load_yaml(path)
        except TuneDeckError as exc:
            where = f"{exc.where}: " if exc.where else ""
            self.notify(f"{where}{exc.message}\n{exc.hint}", title="config not loaded", severity="error", timeout=12)
            return
        session = self.app.session
        for key in ("model", "data"):
            mine = session.model_path if key == "model" else session.data_dir
            if key in loaded and loaded[key] != mine:
                self.notify(
                    f"the config's {key} ({loaded[key]}) differs; training uses the chosen one ({mine})",
                    severity="warning",
                )
        loaded.pop("adapter_path", None)
        self.fill_form(TrainSettings.from_dict({**vars(self.base), **loaded}))
        self.query_one("#preset", Select).value = "custom"
        self.notify(f"loaded {path}")

    # -- plots ------------------------------------------------------------------
    def reset_curve(self) -> None:
        self.train_pts: list[tuple[int, float]] = []
        self.val_pts: list[tuple[int, float]] = []

    def redraw(self) -> None:
        self._draw(self.query_one("#plot"), [("", self.train_pts, self.val_pts)], self.total_iters)

    def redraw_all(self) -> None:
        self.redraw()
        self.show_runs_plot()

    @staticmethod
    def _draw(plot, series, planned: int = 0) -> None:
        plt = plot.plt
        plt.clear_data()
        # Iterations start at 0; plotext centres a lone point (the base's
        # validation loss at 0) on -1..1, so the axis runs to the last point,
        # or to the planned total before there is one.
        last = max((x for _, train, val in series for x, _ in (*train, *val)), default=0)
        plt.xlim(0, last or planned or 1)
        for name, train, val in series:
            prefix = f"{name} " if name else ""
            if train:
                xs, ys = zip(*train)
                plt.plot(xs, ys, label=f"{prefix}train", marker="braille")
            if val:
                xs, ys = zip(*val)
                plt.plot(xs, ys, label=f"{prefix}valid", marker="braille")
        plt.xlabel("iteration")
        plot.refresh()

    def log_line(self, text: str) -> None:
        self.query_one("#log", PathLog).write_line(f"{time.strftime('%H:%M:%S')} {text}")

    # -- runs list -----------------------------------------------------------------
    def refresh_runs(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        keep = table.cursor_row
        table.clear()
        for r in list_runs():
            val = f"{r.last_val_loss:.3f}" if r.last_val_loss is not None else "-"
            mark = "◆ " if r.path == self.overlay_path else ""
            table.add_row(mark + r.name[-34:], r.status, f"{r.iteration}/{r.iters}", val, key=r.path)
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))

    def show_run_row(self, iteration: int) -> None:
        """The running run's row, from its events (the list is read from disk
        only at its start and end: reading every run at each report costs)."""
        table = self.query_one("#runs-table", DataTable)
        if self.run_dir not in table.rows:
            return
        table.update_cell(self.run_dir, "status", "running")
        table.update_cell(self.run_dir, "iters", f"{iteration}/{self.total_iters}")
        if self.val_pts:
            table.update_cell(self.run_dir, "val", f"{self.val_pts[-1][1]:.3f}")

    def highlighted_run(self) -> str | None:
        table = self.query_one("#runs-table", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.shown_path = event.row_key.value
        info = run_info(self.shown_path)
        if info.model or info.data:
            self.query_one("#runs-info", Static).update(
                f"{Path(info.model).name or '?'} on {_shown_path(info.data or '?')} · o overlay · r resume"
            )
        self.show_runs_plot()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.shown_path = event.row_key.value
        self.show_runs_plot()

    def show_runs_plot(self) -> None:
        series = []
        for path in dict.fromkeys(p for p in (self.shown_path, self.overlay_path) if p):
            c = curve(read_events(path))
            label = "◆" if path == self.overlay_path and path != self.shown_path else ""
            series.append((label, c.train, c.val))
        self._draw(self.query_one("#runs-plot"), series)

    def action_overlay(self) -> None:
        path = self.highlighted_run()
        if path is None:
            return
        self.overlay_path = None if self.overlay_path == path else path
        self.refresh_runs()
        self.show_runs_plot()
        if self.overlay_path:
            self.notify(f"pinned {Path(path).name}: highlight another run to compare (◆ = pinned)")

    # -- actions ------------------------------------------------------------------
    def action_tab(self, step: int) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        tabs.active = TABS[(TABS.index(tabs.active) + step) % len(TABS)]
        self.set_focus(None)  # the screen's keys work at once on the new tab

    @on(TabbedContent.TabActivated, "#tabs")
    def focus_runs_table(self, event: TabbedContent.TabActivated) -> None:
        # The Runs tab's arrows and Enter belong to its table (s/x/r/o/m/j still reach the screen).
        if event.pane.id == "tab-runs":
            self.query_one("#runs-table", DataTable).focus()

    def action_leave_knob(self) -> None:
        self.set_focus(None)

    def _busy(self) -> bool:
        if (self.job is not None and not self.job.done) or (self.mem_job is not None and not self.mem_job.done):
            self.notify("A training job is running; x stops it.", severity="warning")
            return True
        return False

    def action_start(self) -> None:
        if self._busy():
            return
        settings = self.read_form()
        if settings is None:
            return
        run_dir = new_run_dir(settings.model)
        settings.adapter_path = str(run_dir / "adapters")
        self.reset_curve()
        self.redraw()
        self.settings = settings
        self.trained_model = settings.model
        self.resuming = False
        self.query_one("#progress", ProgressBar).update(total=settings.iters, progress=0)
        self.job = self.track(self.app.engine.train(settings, run_dir))
        self._watch_run()

    def action_resume(self) -> None:
        if self._busy():
            return
        tabs = self.query_one("#tabs", TabbedContent)
        path = self.highlighted_run() if tabs.active == "tab-runs" else self.run_dir
        path = path or self.highlighted_run()
        if path is None:
            self.notify("No run to resume: pick one in the Runs tab.", severity="warning")
            return
        info, iters = run_info(path), None
        if info.iters and info.iteration >= info.iters:
            # A finished run goes on only to a larger total: the Config tab's iters.
            wanted = self.query_one("#iters", Input).value.strip()
            if not wanted.isdigit() or int(wanted) <= info.iteration:
                self.notify(
                    f"{info.name} already finished all {info.iters} iterations. To train it further, "
                    f"set iters in the Config tab above {info.iteration} and press r again.",
                    severity="warning",
                    timeout=10,
                )
                return
            iters = int(wanted)
        self.settings = None
        self.trained_model = info.model
        self.resuming = True
        self.log_line(f"resuming {info.name}" + (f", continuing to {iters} iterations" if iters else ""))
        self.job = self.track(self.app.engine.resume(path, iters))
        self._watch_run()

    def _watch_run(self) -> None:
        self.started = time.monotonic()
        self.query_one("#tabs", TabbedContent).active = "tab-run"
        self.set_focus(None)  # keys go to the screen (s/x/n), not the inputs

    def action_stop(self) -> None:
        for job in (self.job, self.mem_job):
            if job is not None and not job.done:
                job.cancel()
                self.log_line("stopping after the current step…")

    def action_memory_check(self) -> None:
        if self._busy():
            return
        settings = self.read_form()
        if settings is None:
            return
        self.show_memory("memory check: running a few real steps…")
        self.mem_job = self.track(self.app.engine.memory_check(settings))

    def show_memory(self, text) -> None:
        """The Run tab's stats line and the Config tab: m works from both."""
        self.query_one("#stats", Static).update(text)
        self.query_one("#mem-info", Static).update(text)

    # -- engine events ------------------------------------------------------------
    def handle_event(self, event: ev.Event) -> None:
        stats = self.query_one("#stats", Static)
        if self.mem_job is not None and event.job_id == self.mem_job.id:
            self.handle_memory_event(event)
        elif isinstance(event, (*ev.TERMINAL, ev.TrainFinished)):
            self.repaint()  # flush a pending repaint so it cannot cover the final message
            self.handle_end(event, stats)
        elif isinstance(event, ev.Progress):
            stats.update(f"{event.message}…")
        elif isinstance(event, ev.TrainStarted):
            self.on_train_started(event)
        elif isinstance(event, ev.ValReport):
            self.val_pts.append((event.iteration, event.val_loss))
            self.log_line(f"iter {event.iteration}: validation loss {event.val_loss:.3f}")
            self.repaint_soon()
        elif isinstance(event, ev.TrainReport):
            self.on_report(event, stats)
        elif isinstance(event, ev.CheckpointSaved):
            self.log_line(f"saved checkpoint at iter {event.iteration}")
        elif isinstance(event, ev.BestAdapterSaved):
            self.log_line(f"iter {event.iteration}: best validation loss so far → best/")

    def handle_end(self, event: ev.Event, stats: Static) -> None:
        session = self.app.session
        self.show_subject(session.model_path, session.data_dir)  # what s would train next
        if isinstance(event, ev.TrainFinished):
            self.on_finished(event, stats)
        elif isinstance(event, ev.JobCancelled):
            again = "Press r to resume the run." if self.resuming else "Press s to start again."
            stats.update(f"Stopped before the first step; nothing new was saved. {again}")
        elif isinstance(event, ev.JobFailed):
            stats.update(Text(f"✗ {event.located}" + (f"\nfix: {event.hint}" if event.hint else ""), style="bold red"))
            self.log_line(f"failed: {event.located}" + (f" (fix: {event.hint})" if event.hint else ""))
        if isinstance(event, ev.TERMINAL):
            # The job has ended, and with it the run's lock: the list reads how it ended.
            self.refresh_runs()

    def handle_memory_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.Progress):
            self.show_memory(f"memory check: {event.message}…")
        elif isinstance(event, ev.MemoryChecked):
            style = "bold green" if event.fits else "bold red"
            self.show_memory(Text(f"memory check: {event.verdict}", style=style))
            self.log_line(f"memory check: {event.verdict}")
        elif isinstance(event, ev.JobCancelled):
            self.show_memory("memory check stopped.")
        elif isinstance(event, ev.JobFailed):
            self.show_memory(
                Text(
                    f"✗ memory check: {event.message}" + (f"\nfix: {event.hint}" if event.hint else ""),
                    style="bold red",
                )
            )
            self.log_line(f"memory check failed: {event.message}" + (f" (fix: {event.hint})" if event.hint else ""))

    def on_train_started(self, event: ev.TrainStarted) -> None:
        self.show_subject(event.model, event.data, running=True)
        self.run_dir = event.run_dir
        self.app.session.run_dir = event.run_dir
        self.start_iteration = event.start_iteration
        self.total_iters = event.iters
        self.reset_curve()
        if event.start_iteration:  # a resume: the curve so far comes from the run's log
            # Only the points before this session: the worker may have logged
            # some of its own already, and those arrive as events too.
            c, k = curve(read_events(event.run_dir)), event.start_iteration
            self.train_pts = [p for p in c.train if p[0] <= k]
            self.val_pts = [p for p in c.val if p[0] < k]
            self.log_line(f"resumed at iter {event.start_iteration} of {event.iters}")
        self.redraw()
        self.query_one("#progress", ProgressBar).update(total=event.iters, progress=event.start_iteration)
        self.log_line(f"run folder: {event.run_dir}")
        self.log_line(f"model {event.model}; data {event.data}")
        self.log_line(
            f"training {event.trainable_parameters:,} of {event.total_parameters:,} "
            f"parameters on {event.train_examples} examples"
        )
        self.refresh_runs()

    def on_report(self, event: ev.TrainReport, stats: Static) -> None:
        self.train_pts.append((event.iteration, event.train_loss))
        self._latest = event
        self.repaint_soon()

    # Repainting the plot costs the UI thread milliseconds; on a small model
    # reports arrive many times a second, and painting each one took measurable
    # speed from training (bench: TUI-attached ratio). So paint at most every
    # REPAINT_EVERY seconds; every point is kept and the final state is shown.
    REPAINT_EVERY = 0.75

    def repaint_soon(self) -> None:
        """Repaint now, or once when REPAINT_EVERY has passed since the last."""
        if self._repaint_timer is not None:
            return
        wait = self._last_repaint + self.REPAINT_EVERY - time.monotonic()
        if wait <= 0:
            self.repaint()
        else:
            self._repaint_timer = self.set_timer(wait, self.repaint)

    def repaint(self) -> None:
        if self._repaint_timer is not None:
            self._repaint_timer.stop()
            self._repaint_timer = None
        self._last_repaint = time.monotonic()
        self.redraw()
        event, self._latest = self._latest, None
        if event is None:
            return
        self.query_one("#progress", ProgressBar).update(progress=event.iteration)
        self.show_run_row(event.iteration)
        elapsed = time.monotonic() - self.started
        done = event.iteration - self.start_iteration
        rate = done / elapsed if elapsed > 0 else 0
        eta = (self.total_iters - event.iteration) / rate if rate else 0
        val = f" · val {self.val_pts[-1][1]:.3f}" if self.val_pts else ""
        self.query_one("#stats", Static).update(
            f"iter {event.iteration}/{self.total_iters} · loss {event.train_loss:.3f}{val} · "
            f"{event.tokens_per_second:,.0f} tok/s · {event.iterations_per_second:.1f} it/s\n"
            f"lr {event.learning_rate:.1e} · peak {event.peak_memory_gb:.2f} GB · "
            f"{event.trained_tokens:,} tok · {_fmt_time(elapsed)} · ETA {_fmt_time(eta)}"
        )

    def on_finished(self, event: ev.TrainFinished, stats: Static) -> None:
        session = self.app.session
        if self.trained_model and not session.model_path:
            # A past run resumed before any model was chosen (e.g. after a
            # restart): its model becomes the session's, so n goes to chat.
            session.model_path, session.model_label = self.trained_model, Path(self.trained_model).name
        # Chat pairs session.model_path with this adapter: only if they match.
        paired = bool(self.trained_model) and self.trained_model == session.model_path
        if paired:
            session.adapter_path = event.adapter_path
            session.run_dir = self.run_dir
        self.query_one("#progress", ProgressBar).update(progress=event.iterations)
        how = "stopped" if event.stopped_early else "finished"
        self.log_line(
            f"{how} at iter {event.iterations} ({Path(event.model).name} on {Path(event.data).name}); "
            f"adapter: {event.adapter_path}"
        )
        first = self.train_pts[0][1] if self.train_pts else None
        last = self.train_pts[-1][1] if self.train_pts else None
        change = f" Loss {first:.2f} → {last:.2f}." if first is not None else ""
        more = " r resumes." if event.stopped_early else ""
        after = (
            "Press j to judge & ship, or n to chat."
            if paired
            else f"It trained {Path(self.trained_model or '?').name}, not the chosen model: pick that model "
            "in step 2 to chat with it."
        )
        stats.update(
            Text(f"✓ Training {how} after {event.iterations} iterations.{change}{more} {after}", style="bold green")
        )
        self.refresh_stepbar()

    def can_leave(self) -> str | None:
        if self.job is not None and not self.job.done:
            return "Training is running: wait for it, or press x to stop it first."
        return None if self.app.session.adapter_path else "Train first (press s)."

    def action_judge(self) -> None:
        from tui.screens.results import ResultsScreen  # the Judge & ship screen

        self.app.push_screen(ResultsScreen())
