"""Step 4: training. Three tabs, all keyboard-driven and sized for 80x24:

* Run: the live loss plot (train + validation), speed/memory/ETA line,
  progress bar and an event log. s starts, x stops (adapter kept), r resumes.
  A run trains in a process of its own (core.training.run_process) and this
  tab follows its folder, so it outlives the app: a later TuneDeck attaches
  to it (``attach``) and x stops it from there just the same.
* Config: the knobs (type, rank, layers, lr + schedule, batch, iters with
  the epochs they mean, max length, prompt masking, grad checkpointing,
  accumulation, report/eval/save steps, seed, presets), checked as typed,
  and YAML load/save (the file ``mlx_lm.lora -c`` also reads); where the
  run trains (hosts: this Mac, several processes, or several Macs through
  mlx.launch), with the pre-flight p (s runs it first for other Macs).
* Runs: past runs from their folders, running ones live; Enter shows a
  curve, o pins one to overlay, r resumes the highlighted run, a attaches
  the Run tab to a running one.

m runs the memory check (a few real steps at these settings) from any tab;
ctrl+n / ctrl+p switch tabs; Enter or Esc leaves a knob so the keys work.
"""

from __future__ import annotations

import time
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static, TabbedContent, TabPane

from core.runtime import app_config
from core.runtime import events as ev
from core.runtime.errors import TuneDeckError
from core.runtime.eta import clock
from core.training.group_doctor import HostsReport
from core.training.group_launch import GroupSpec, check_batch_for_group
from core.training.result import TrainResult
from core.training.run_folders import CONFIG, curve, new_run_dir, read_events, run_info
from core.training.settings import TrainSettings, default_settings, load_yaml
from tui.screens.base import StepScreen
from tui.widgets.event_log import EventLog
from tui.widgets.hosts_form import TUI_CONTROLS, HostsForm, remote
from tui.widgets.job_progress import JobProgress
from tui.widgets.loss_plot import LossPlot
from tui.widgets.runs_browser import RunsBrowser, shown_path
from tui.widgets.status_line import Status, StatusLine
from tui.widgets.train_form import NO_PAIR, TrainForm

TABS = ("tab-run", "tab-config", "tab-runs")
STOP_REASON = "x in TuneDeck"  # what the run's stop record says


class TrainingScreen(StepScreen):
    STEP = "train"
    NEXT = "chat"
    AUTO_FOCUS = ""  # s/x/n must reach the screen; Tab moves into the knobs
    BACK = "data"
    GUIDE = (
        "Step 4: training. s starts, x stops (adapter kept), r resumes, m checks memory. "
        "ctrl+n/ctrl+p switch tabs: Config (knobs, YAML, hosts), Runs (past runs). Train loss should fall."
    )
    BINDINGS = [
        Binding("s", "start", "Start", id="start-training"),
        Binding("x", "stop", "Stop", id="stop-training"),
        Binding("r", "resume", "Resume", id="resume-training"),
        Binding("m", "memory_check", "Memory", id="memory-check"),
        Binding("p", "preflight", "Pre-flight", id="preflight-hosts", show=False),
        Binding("o", "overlay", "Overlay", id="overlay-run", show=False),
        Binding("a", "attach_highlighted", "Attach", id="attach-run", show=False),
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
    TrainingScreen #mem-info { height: auto; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.job = None
        self.mem_job = None
        self.run_dir: str | None = None
        self.total_iters = 0
        self.trained_model: str | None = None  # the base model of the run in progress
        self.resuming = False  # the job in hand continues a run (r), rather than starting one (s)
        self.live = False  # a run's reports may still change the Run tab (not after its end)
        self.preflight_job = None
        self.after_preflight = None  # the start or resume waiting for the pre-flight to pass
        self._defaults_for: tuple | None = None

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        with TabbedContent(id="tabs"):
            with TabPane("Run", id="tab-run"):
                yield Static("", id="subject")  # the model and data in use: never a surprise
                yield LossPlot(id="plot")
                yield StatusLine("Press s to start training (Config tab for the knobs).", id="stats")
                yield JobProgress(id="progress")
                yield EventLog(id="log")
            with TabPane("Config", id="tab-config"):
                yield TrainForm(id="train-form")
                yield HostsForm(id="hosts-form")
                yield StatusLine(id="mem-info")
            with TabPane("Runs", id="tab-runs"):
                yield RunsBrowser(id="runs")
        yield from self.compose_bottom()

    @property
    def plot(self) -> LossPlot:
        return self.query_one(LossPlot)

    @property
    def form(self) -> TrainForm:
        return self.query_one(TrainForm)

    @property
    def hosts(self) -> HostsForm:
        return self.query_one(HostsForm)

    @property
    def runs(self) -> RunsBrowser:
        return self.query_one(RunsBrowser)

    @property
    def stats(self) -> StatusLine:
        return self.query_one("#stats", StatusLine)

    @property
    def progress(self) -> JobProgress:
        return self.query_one(JobProgress)

    def on_mount(self) -> None:
        # PlotextPlot follows the theme itself; redraw so our colours follow too.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.redraw_all())
        self.hosts.fill(self.app.config.get("hosts"))

    def show_subject(self, model: str | None, data: str | None, running: bool = False, group: str = "") -> None:
        """One line naming what a run trains: this run's pair while one runs
        (with its processes and hosts when several train it), else the pair
        s would start with (the session's choices)."""
        line = self.query_one("#subject", Static)
        if not (model and data):
            line.update(NO_PAIR)
            return
        lead = "training" if running else "s trains"
        tail = f" · {group}" if group else ""
        text = f"{lead} {Path(model).name} on {shown_path(data)}"
        room = 78 - len(tail)
        line.update((text if len(text) <= room else text[: room // 2] + "…" + text[-(room - room // 2 - 1) :]) + tail)

    def on_screen_resume(self) -> None:
        session = self.app.session
        idle = self.job is None or self.job.done
        if idle:
            self.show_subject(session.model_path, session.data_dir)
        if idle:
            self.choose_pair()
        else:
            self.form.pair = (session.model_path, session.data_dir)
        self.runs.refresh_runs()

    def choose_pair(self) -> None:
        """The Config tab takes the session's model and data (with their
        defaults, unless the user has edited the knobs for this same pair)."""
        session = self.app.session
        self.form.pair = (session.model_path, session.data_dir)
        if session.model_path and session.data_dir:
            key = (session.model_path, session.data_dir)
            if self._defaults_for != key:  # keep the user's edits for the same pair
                self._defaults_for = key
                self.form.fill(default_settings(session.model_path, session.data_dir, ""))

    def read_form(self, quiet: bool = False) -> TrainSettings | None:
        """The form's settings, or None after saying (unless quiet) what is wrong."""
        return self.form.read(quiet)

    @on(TrainForm.Noted)
    def _form_noted(self, message: TrainForm.Noted) -> None:
        self.log_line(message.text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.set_focus(None)  # Enter leaves the knob, so s starts

    def action_save_config(self) -> None:
        self.form.save_config()

    def action_load_config(self) -> None:
        self.form.load_config()

    def redraw_all(self) -> None:
        self.plot.draw()
        self.runs.show_plot()

    def log_line(self, text: str) -> None:
        self.query_one(EventLog).add(text)

    def action_overlay(self) -> None:
        pinned = self.runs.toggle_overlay()
        if pinned:
            self.notify(f"pinned {Path(pinned).name}: highlight another run to compare (◆ = pinned)")

    # -- actions ------------------------------------------------------------------
    def action_tab(self, step: int) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        tabs.active = TABS[(TABS.index(tabs.active) + step) % len(TABS)]
        self.set_focus(None)  # the screen's keys work at once on the new tab

    @on(TabbedContent.TabActivated, "#tabs")
    def focus_runs_table(self, event: TabbedContent.TabActivated) -> None:
        # The Runs tab's arrows and Enter belong to its table (s/x/r/o/m/j still reach the screen).
        if event.pane.id == "tab-runs":
            self.runs.focus_table()

    def action_leave_knob(self) -> None:
        self.set_focus(None)

    def _busy(self) -> bool:
        if self.preflight_job is not None and not self.preflight_job.done:
            self.notify("The pre-flight is checking the hosts; x stops it after the current check.", severity="warning")
            return True
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
        group = self.group_for(settings.batch_size)
        if group is not False:
            self.when_checked(group, settings.model, settings.data, lambda: self.start(settings, group))

    def start(self, settings: TrainSettings, group: GroupSpec | None) -> None:
        run_dir = new_run_dir(settings.model)
        settings.adapter_path = str(run_dir / "adapters")
        self.plot.reset()
        self.plot.draw()
        self.trained_model = settings.model
        self.resuming = False
        self.progress.span(settings.iters)
        self.job = self.track(self.app.engine.start_run(settings, run_dir, group))
        self._watch_run()

    def action_resume(self) -> None:
        if self._busy():
            return
        tabs = self.query_one("#tabs", TabbedContent)
        path = self.runs.highlighted() if tabs.active == "tab-runs" else self.run_dir
        path = path or self.runs.highlighted()
        if path is None:
            self.notify("No run to resume: pick one in the Runs tab.", severity="warning")
            return
        info, iters = run_info(path), None
        if info.iters and info.iteration >= info.iters:
            # A finished run goes on only to a larger total: the Config tab's iters.
            wanted = self.form.typed_iters()
            if not wanted.isdigit() or int(wanted) <= info.iteration:
                self.notify(
                    f"{info.name} already finished all {info.iters} iterations. To train it further, "
                    f"set iters in the Config tab above {info.iteration} and press r again.",
                    severity="warning",
                    timeout=10,
                )
                return
            iters = int(wanted)
        try:
            batch = TrainSettings.from_dict(load_yaml(Path(path) / CONFIG)).batch_size
        except (TuneDeckError, OSError):
            batch = 0  # the resume itself says what is wrong with the run's config
        group = self.group_for(batch)
        if group is not False:
            self.when_checked(group, info.model, info.data, lambda: self.resume(path, info, iters, group))

    def resume(self, path: str, info, iters: int | None, group: GroupSpec | None) -> None:
        self.trained_model = info.model
        self.resuming = True
        self.log_line(f"resuming {info.name}" + (f", continuing to {iters} iterations" if iters else ""))
        self.job = self.track(self.app.engine.resume_run(path, iters, group=group))
        self._watch_run()

    # -- where it trains: the hosts row and its pre-flight ------------------------
    def group_for(self, batch_size: int) -> GroupSpec | None | bool:
        """The group the hosts row asks for (None: this Mac alone), remembered
        for next time; False after saying on the Config tab what is wrong."""
        try:
            group = self.hosts.spec()
            if group is not None and batch_size:
                check_batch_for_group(batch_size, group.processes, TUI_CONTROLS)
        except TuneDeckError as exc:
            self.hosts.info.failed(exc)
            self.query_one("#tabs", TabbedContent).active = "tab-config"
            self.notify(f"Not started: {exc.message}", severity="error", timeout=8)
            return False
        if self.app.config.get("hosts") != self.hosts.values():
            self.app.config = app_config.update(hosts=self.hosts.values())
        return group

    def when_checked(self, group: GroupSpec | None, model: str, data: str, go) -> None:
        """``go`` now, unless the run goes to other Macs without a passed
        pre-flight for this group, model and data: then after it passes."""
        if group is None or not remote(group) or self.hosts.passed(group, [model, data]):
            go()
            return
        self.after_preflight = go
        self.preflight(group, [model, data])

    def action_preflight(self) -> None:
        if self._busy():
            return
        group = self.group_for(0)
        if group is False:
            return
        if group is None:
            self.query_one("#tabs", TabbedContent).active = "tab-config"
            self.hosts.info.show(
                "hosts: one process on this Mac, nothing to check: type IP,IP or a hostfile first", "warning"
            )
            return
        self.after_preflight = None
        session = self.app.session
        self.preflight(group, [session.model_path, session.data_dir])

    def preflight(self, group: GroupSpec, folders: list) -> None:
        self.query_one("#tabs", TabbedContent).active = "tab-config"
        self.set_focus(None)
        self.hosts.show_checking(f"checking {group.describe()}")
        self.log_line(f"pre-flight: checking {group.describe()}")
        self.preflight_job = self.track(self.app.engine.preflight(group, folders))

    def handle_preflight_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.Progress):
            self.hosts.show_checking(event.message)
            return
        if not isinstance(event, ev.TERMINAL):
            return
        go, self.after_preflight = self.after_preflight, None
        if isinstance(event, ev.JobFinished):
            report: HostsReport = event.result
            self.hosts.show_report(report)
            for c in report.failures:
                self.log_line(f"pre-flight: {c.name}: {c.detail}" + (f" (fix: {c.fix})" if c.fix else ""))
            if report.ready:
                self.log_line(f"pre-flight passed: {report.bandwidth() or report.group.describe()}")
                if go is not None:
                    go()
            elif go is not None:
                self.notify("Not started: the pre-flight found problems (Config tab).", severity="error", timeout=8)
        elif isinstance(event, ev.JobFailed):
            self.hosts.info.failed(event, "pre-flight: ")
        elif isinstance(event, ev.JobCancelled):
            self.hosts.info.show("pre-flight stopped; nothing was started.")

    def attach(self, run_dir: str) -> bool:
        """Follow a run another process trains (started by an earlier TuneDeck
        or a shell): the Run tab shows it live and x stops it, as if it had
        been started here; the walkthrough takes its model and data."""
        if self._busy():
            return False
        info = run_info(run_dir)
        session = self.app.session
        if info.model:
            session.model_path, session.model_label = info.model, Path(info.model).name
        if info.data:
            session.data_dir = info.data
        session.run_dir = str(run_dir)
        self.choose_pair()
        self.trained_model = info.model
        self.resuming = False
        self.run_dir = str(run_dir)
        self.log_line(f"attached to {info.name}, training in its own process")
        self.job = self.track(self.app.engine.attach_run(run_dir))
        self._watch_run()
        # Its clock started with its session, not now: the rate and ETA count from there.
        starts = [e["time"] for e in read_events(run_dir) if e["type"] == "start" and "time" in e]
        if starts:
            self.progress.started -= max(0.0, time.time() - starts[-1])
        self.refresh_stepbar()
        return True

    def action_attach_highlighted(self) -> None:
        path = self.runs.highlighted()
        if path is None:
            self.notify("No run here to attach to.", severity="warning")
            return
        info = run_info(path)
        if info.status != "running":
            self.notify(f"{info.name} is not training now ({info.status}): r resumes it.", severity="warning")
            return
        following = self.job is not None and not self.job.done and self.job.name == "train"
        if following and self.run_dir == path:
            self.query_one("#tabs", TabbedContent).active = "tab-run"
            return
        if following and not self.job.cancel_event.is_set():
            # Stop following the run shown now (it trains on), untracked first:
            # its follower's end is no end of that run.
            self.untrack(self.job)
            self.app.engine.detach_run(self.job)
            self.log_line(f"left {Path(self.run_dir or '').name} training")
            self.job = None
        if self.attach(path):
            self.notify(f"Attached to {info.name}. x stops it; leaving TuneDeck leaves it training.", timeout=8)

    def _watch_run(self) -> None:
        self.live = True
        self.progress.start_clock()
        self.query_one("#tabs", TabbedContent).active = "tab-run"
        self.set_focus(None)  # keys go to the screen (s/x/n), not the inputs

    def action_stop(self) -> None:
        if self.preflight_job is not None and not self.preflight_job.done:
            self.after_preflight = None  # the run it was for is not started
            self.preflight_job.cancel(STOP_REASON)
        for job in (self.job, self.mem_job):
            if job is not None and not job.done:
                job.cancel(STOP_REASON)
                self.log_line("stopping after the current step…")

    def action_memory_check(self) -> None:
        if self._busy():
            return
        settings = self.read_form()
        if settings is None:
            return
        self.show_memory(Status("working", "memory check: running a few real steps…"))
        self.mem_job = self.track(self.app.engine.memory_check(settings))

    def show_memory(self, status: Status) -> None:
        """The Run tab's stats line and the Config tab: m works from both."""
        self.stats.status = status
        self.query_one("#mem-info", StatusLine).status = status

    # -- engine events ------------------------------------------------------------
    def handle_event(self, event: ev.Event) -> None:
        if self.preflight_job is not None and event.job_id == self.preflight_job.id:
            self.handle_preflight_event(event)
        elif self.mem_job is not None and event.job_id == self.mem_job.id:
            self.handle_memory_event(event)
        elif isinstance(event, ev.TERMINAL):
            self.show_report(self.plot.flush())  # so a pending repaint cannot cover the final message
            self.live = False
            self.handle_end(event)
        elif isinstance(event, ev.Progress):
            self.stats.show(f"{event.message}…", "working")
            if event.message.startswith("unloaded"):  # the next message replaces the stats line: keep it
                self.log_line(event.message)
        elif isinstance(event, ev.TrainStarted):
            self.on_train_started(event)
        elif isinstance(event, ev.ValReport):
            self.plot.add_val(event.iteration, event.val_loss)
            self.log_line(f"iter {event.iteration}: validation loss {event.val_loss:.3f}")
        elif isinstance(event, ev.TrainReport):
            self.plot.add_report(event)
        elif isinstance(event, ev.CheckpointSaved):
            self.log_line(f"saved checkpoint at iter {event.iteration}")
        elif isinstance(event, ev.BestAdapterSaved):
            self.log_line(f"iter {event.iteration}: best validation loss so far → best/")

    def handle_end(self, event: ev.Event) -> None:
        session = self.app.session
        self.show_subject(session.model_path, session.data_dir)  # what s would train next
        if isinstance(event, ev.JobFinished):
            self.on_finished(event.result)
        elif isinstance(event, ev.JobCancelled):
            again = "Press r to resume the run." if self.resuming else "Press s to start again."
            self.stats.show(f"Stopped before the first step; nothing new was saved. {again}")
        elif isinstance(event, ev.JobFailed):
            self.stats.failed(event)
            self.log_line(f"failed: {event.located}" + (f" (fix: {event.hint})" if event.hint else ""))
        if isinstance(event, ev.TERMINAL):
            # The job has ended, and with it the run's lock: the list reads how it ended.
            self.runs.refresh_runs()

    def handle_memory_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.Progress):
            self.show_memory(Status("working", f"memory check: {event.message}…"))
        elif isinstance(event, ev.MemoryChecked):
            self.show_memory(Status("ok" if event.fits else "error", f"memory check: {event.verdict}"))
            self.log_line(f"memory check: {event.verdict}")
        elif isinstance(event, ev.JobCancelled):
            self.show_memory(Status("idle", "memory check stopped."))
        elif isinstance(event, ev.JobFailed):
            self.show_memory(Status.failed(event, "memory check: "))
            self.log_line(f"memory check failed: {event.message}" + (f" (fix: {event.hint})" if event.hint else ""))

    def on_train_started(self, event: ev.TrainStarted) -> None:
        group = ""
        if event.processes > 1:  # a run across several processes or Macs (mlx.launch)
            hosts = list(dict.fromkeys(event.hosts))
            group = f"{event.processes} processes on {len(hosts) or 1} host{'s' if len(hosts) > 1 else ''}"
            self.log_line(f"{group}: {', '.join(hosts)}" if hosts else group)
        self.show_subject(event.model, event.data, running=True, group=group)
        self.run_dir = event.run_dir
        self.app.session.run_dir = event.run_dir
        self.total_iters = event.iters
        self.plot.planned = event.iters
        self.plot.reset()
        if event.start_iteration:  # a resume: the curve so far comes from the run's log
            # Only the points before this session: the worker may have logged
            # some of its own already, and those arrive as events too.
            c, k = curve(read_events(event.run_dir)), event.start_iteration
            self.plot.reset([p for p in c.train if p[0] <= k], [p for p in c.val if p[0] < k])
            self.log_line(f"resumed at iter {event.start_iteration} of {event.iters}")
        self.plot.draw()
        self.progress.span(event.iters, event.start_iteration)
        self.log_line(f"run folder: {shown_path(event.run_dir)}")
        self.log_line(f"model {shown_path(event.model)}; data {shown_path(event.data)}")
        self.log_line(
            f"training {event.trainable_parameters:,} of {event.total_parameters:,} "
            f"parameters on {event.train_examples} examples"
        )
        self.runs.refresh_runs()

    @on(LossPlot.Painted)
    def _painted(self, message: LossPlot.Painted) -> None:
        if self.live:  # after the end, the final message stays
            self.show_report(message.report)

    def show_report(self, event: ev.TrainReport | None) -> None:
        """The report the plot has just painted: the bar, the stats, the run's row."""
        if event is None:
            return
        val_pts = self.plot.val_pts
        self.progress.advance(event.iteration)
        self.runs.show_running(self.run_dir, event.iteration, self.total_iters, val_pts[-1][1] if val_pts else None)
        val = f" · val {val_pts[-1][1]:.3f}" if val_pts else ""
        self.stats.show(
            f"iter {event.iteration}/{self.total_iters} · loss {event.train_loss:.3f}{val} · "
            f"{event.tokens_per_second:,.0f} tok/s · {event.iterations_per_second:.1f} it/s\n"
            f"lr {event.learning_rate:.1e} · peak {event.peak_memory_gb:.2f} GB · "
            f"{event.trained_tokens:,} tok · {clock(self.progress.elapsed)} · ETA {clock(self.progress.eta())}"
        )

    def on_finished(self, result: TrainResult) -> None:
        session = self.app.session
        if self.trained_model and not session.model_path:
            # A past run resumed before any model was chosen (e.g. after a
            # restart): its model becomes the session's, so n goes to chat.
            session.model_path, session.model_label = self.trained_model, Path(self.trained_model).name
        # Chat pairs session.model_path with this adapter: only if they match.
        paired = bool(self.trained_model) and self.trained_model == session.model_path
        if paired:
            session.adapter_path = result.adapter_path
            session.run_dir = self.run_dir
        self.progress.advance(result.iterations)
        how = "stopped" if result.stopped_early else "finished"
        self.log_line(
            f"{how} at iter {result.iterations} ({Path(result.model).name} on {Path(result.data).name}); "
            f"adapter: {shown_path(result.adapter_path)}"
        )
        train_pts = self.plot.train_pts
        change = f" Loss {train_pts[0][1]:.2f} → {train_pts[-1][1]:.2f}." if train_pts else ""
        more = " r resumes." if result.stopped_early else ""
        after = (
            "Press j to judge & ship, or n to chat."
            if paired
            else f"It trained {Path(self.trained_model or '?').name}, not the chosen model: pick that model "
            "in step 2 to chat with it."
        )
        self.stats.show(f"Training {how} after {result.iterations} iterations.{change}{more} {after}", "ok")
        self.refresh_stepbar()

    def can_leave(self) -> str | None:
        if self.job is not None and not self.job.done:
            return "Training is running: wait for it, or press x to stop it first."
        return None if self.app.session.adapter_path else "Train first (press s)."

    def action_judge(self) -> None:
        from tui.screens.results import ResultsScreen  # the Judge & ship screen

        self.app.push_screen(ResultsScreen())
