"""Step 4: LoRA training with the loss plotted live."""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Input, Label, ProgressBar, RichLog, Static

from core import events as ev
from core import paths
from core.demo_model import is_demo_model
from core.training import TrainSettings, demo_settings
from tui.screens.base import StepScreen


def _fmt_time(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 60:02d}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def default_settings(model: str, data: str, adapter_path: str) -> TrainSettings:
    if is_demo_model(model):
        return demo_settings(model, data, adapter_path)
    # The seed recipe's command: batch 1, 4 layers, 1000 iterations.
    return TrainSettings(model=model, data=data, adapter_path=adapter_path, batch_size=1,
                         num_layers=4, iters=1000, learning_rate=1e-5)


class TrainingScreen(StepScreen):
    STEP = "train"
    NEXT = "chat"
    AUTO_FOCUS = ""  # s/x/n must reach the screen; Tab moves into the knobs
    BACK = "data"
    GUIDE = ("Step 4: LoRA training. s starts, x stops (the adapter so far is kept). Train loss "
             "should fall; validation loss (every few steps) tells you it generalises.")
    BINDINGS = [
        Binding("s", "start", "Start", id="start-training"),
        Binding("x", "stop", "Stop", id="stop-training"),
    ]

    def compose(self) -> ComposeResult:
        # Deferred: plotext (via textual-plotext) costs import time the first
        # screen should not pay.
        from textual_plotext import PlotextPlot

        yield from self.compose_top()
        with Horizontal(id="knobs"):
            yield Label("iters")
            yield Input(id="iters", type="integer", classes="knob")
            yield Label("lr")
            yield Input(id="lr", classes="knob")
            yield Label("batch")
            yield Input(id="batch", type="integer", classes="knob")
            yield Static("", id="fixed")
        yield PlotextPlot(id="plot")
        yield Static("Press s to start training.", id="stats", classes="status")
        yield ProgressBar(id="progress", show_eta=False)
        yield RichLog(id="log", max_lines=200, wrap=True, markup=False)
        yield from self.compose_bottom()

    # A small model reports every few hundred ms; each repaint of the plot and
    # stats costs ~10 ms of the UI thread, which a 2-core machine takes from
    # training (docs/benchmarks.md). Repaint at most this often; points are
    # never dropped, and the last report is always shown.
    REPAINT_EVERY = 0.75

    def __init__(self) -> None:
        super().__init__()
        self.job = None
        self.settings: TrainSettings | None = None
        self.started = 0.0
        self._defaults_for: tuple | None = None
        self._latest: ev.TrainReport | None = None
        self._repaint_timer = None
        self._last_repaint = 0.0
        self.reset_curve()

    def on_mount(self) -> None:
        self.query_one("#plot").plt.title("loss")

    def on_screen_resume(self) -> None:
        session = self.app.session
        if (self.job is None or self.job.done) and session.model_path and session.data_dir:
            s = default_settings(session.model_path, session.data_dir, "")
            key = (session.model_path, session.data_dir)
            if self._defaults_for != key:  # keep the user's edits for the same pair
                self._defaults_for = key
                self.query_one("#iters", Input).value = str(s.iters)
                self.query_one("#lr", Input).value = f"{s.learning_rate:g}"
                self.query_one("#batch", Input).value = str(s.batch_size)
            layers = "all" if s.num_layers < 0 else s.num_layers
            self.query_one("#fixed", Static).update(
                f" layers {layers} · rank {s.lora_parameters['rank']} · {Path(session.model_path).name}")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.set_focus(None)  # Enter leaves the knob, so s starts

    def reset_curve(self) -> None:
        self.train_pts: list[tuple[int, float]] = []
        self.val_pts: list[tuple[int, float]] = []

    def redraw(self) -> None:
        plot = self.query_one("#plot")
        plt = plot.plt
        plt.clear_data()
        if self.train_pts:
            xs, ys = zip(*self.train_pts)
            plt.plot(xs, ys, label="train", marker="braille")
        if self.val_pts:
            xs, ys = zip(*self.val_pts)
            plt.plot(xs, ys, label="valid", marker="braille")
        plt.xlabel("iteration")
        plot.refresh()

    def log_line(self, text: str) -> None:
        self.query_one("#log", RichLog).write(f"{time.strftime('%H:%M:%S')} {text}")

    def read_settings(self) -> TrainSettings | None:
        session = self.app.session
        run_dir = paths.runs_dir() / f"{time.strftime('%Y%m%d-%H%M%S')}-{Path(session.model_path).name}"
        s = default_settings(session.model_path, session.data_dir, str(run_dir / "adapters"))
        try:
            s.iters = int(self.query_one("#iters", Input).value)
            s.learning_rate = float(self.query_one("#lr", Input).value)
            s.batch_size = int(self.query_one("#batch", Input).value)
        except ValueError:
            self.notify("iters and batch must be whole numbers and lr a number (e.g. 1e-3).",
                        severity="error")
            return None
        s.steps_per_eval = max(5, s.iters // 4)
        s.save_every = max(10, s.iters // 2)
        return s

    def action_start(self) -> None:
        session = self.app.session
        if self.job is not None and not self.job.done:
            self.notify("Training is already running; x stops it.", severity="warning")
            return
        if not session.model_path or not session.data_dir:
            self.notify("Choose a model (step 2) and a dataset (step 3) first.", severity="warning")
            return
        settings = self.read_settings()
        if settings is None:
            return
        self.reset_curve()
        self.redraw()
        self.settings = settings
        self.started = time.monotonic()
        self.query_one("#progress", ProgressBar).update(total=settings.iters, progress=0)
        self.log_line(f"run folder: {Path(settings.adapter_path).parent}")
        self.job = self.track(self.app.engine.train(settings))
        self.set_focus(None)  # keys go to the screen (s/x/n), not the inputs

    def action_stop(self) -> None:
        if self.job is not None and not self.job.done:
            self.job.cancel()
            self.log_line("stopping after the current step…")

    def handle_event(self, event: ev.Event) -> None:
        stats = self.query_one("#stats", Static)
        if isinstance(event, ev.Progress):
            stats.update(f"{event.message}…")
        elif isinstance(event, ev.TrainStarted):
            self.log_line(f"training {event.trainable_parameters:,} of {event.total_parameters:,} "
                     f"parameters on {event.train_examples} examples")
        elif isinstance(event, ev.ValReport):
            self.val_pts.append((event.iteration, event.val_loss))
            self.log_line(f"iter {event.iteration}: validation loss {event.val_loss:.3f}")
            self.repaint_soon()
        elif isinstance(event, ev.TrainReport):
            self.train_pts.append((event.iteration, event.train_loss))
            self._latest = event
            self.repaint_soon()
        elif isinstance(event, ev.CheckpointSaved):
            self.log_line(f"saved checkpoint at iter {event.iteration}")
        elif isinstance(event, ev.TrainFinished):
            self.repaint()  # the final curve, before the summary replaces the stats
            if self.settings and self.settings.model == self.app.session.model_path:
                self.app.session.adapter_path = event.adapter_path
            how = "stopped" if event.stopped_early else "finished"
            self.log_line(f"{how} at iter {event.iterations}; adapter: {event.adapter_path}")
            first = self.train_pts[0][1] if self.train_pts else None
            last = self.train_pts[-1][1] if self.train_pts else None
            change = f" Loss {first:.2f} → {last:.2f}." if first is not None else ""
            stats.update(Text(f"✓ Training {how} after {event.iterations} iterations.{change} "
                              "Press n to chat with the tuned model.", style="bold green"))
            self.refresh_stepbar()
        elif isinstance(event, (ev.JobCancelled, ev.JobFailed)) and self._repaint_timer is not None:
            self._repaint_timer.stop()  # a late repaint must not cover the message below
            self._repaint_timer, self._latest = None, None
        if isinstance(event, ev.JobCancelled):
            stats.update("Stopped before the first step; nothing was saved. Press s to start again.")
        elif isinstance(event, ev.JobFailed):
            stats.update(Text(f"✗ {event.message}" + (f"\nfix: {event.hint}" if event.hint else ""),
                              style="bold red"))
            self.log_line(f"failed: {event.message}")

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
        if event is None or self.settings is None:
            return
        self.query_one("#progress", ProgressBar).update(progress=event.iteration)
        elapsed = time.monotonic() - self.started
        rate = event.iteration / elapsed if elapsed > 0 else 0
        eta = (self.settings.iters - event.iteration) / rate if rate else 0
        val = f" · val {self.val_pts[-1][1]:.3f}" if self.val_pts else ""
        self.query_one("#stats", Static).update(
            f"iter {event.iteration}/{self.settings.iters} · loss {event.train_loss:.3f}{val} · "
            f"{event.tokens_per_second:,.0f} tok/s · {event.iterations_per_second:.1f} it/s\n"
            f"lr {event.learning_rate:.1e} · peak {event.peak_memory_gb:.2f} GB · "
            f"{event.trained_tokens:,} tokens · {_fmt_time(elapsed)} elapsed · ETA {_fmt_time(eta)}")

    def can_leave(self) -> str | None:
        if self.job is not None and not self.job.done:
            return "Training is running: wait for it, or press x to stop it first."
        return None if self.app.session.adapter_path else "Train first (press s)."
