"""The TuneDeck Textual app and its ``make_app`` factory (CLI and tests)."""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import threading
from typing import TYPE_CHECKING

from textual.app import App
from textual.binding import Binding

from core.runtime import app_config, paths
from tui import keymap
from tui.session import Session
from tui.themes import FALLBACK, load_themes

STOP_ON_QUIT = "ctrl+q in TuneDeck"  # what a run stopped on quitting says in its stop record

if TYPE_CHECKING:
    from core.runtime.engine import Engine


def _lazy_screen(module: str, name: str):
    """A MODES factory that imports the screen's module when the mode is first
    shown: the screens and the widgets they use cost ~50 ms of import time
    that the first paint does not need (see docs/benchmarks.md)."""

    def make():
        return getattr(importlib.import_module(module), name)()

    make.__name__ = name
    return make


class TuneDeckApp(App):
    TITLE = "TuneDeck"
    CSS_PATH = "tunedeck.tcss"
    ENABLE_COMMAND_PALETTE = False
    MODES = {
        "env": _lazy_screen("tui.screens.environment", "EnvironmentScreen"),
        "model": _lazy_screen("tui.screens.model", "ModelScreen"),
        "data": _lazy_screen("tui.screens.dataset", "DatasetScreen"),
        "train": _lazy_screen("tui.screens.training", "TrainingScreen"),
        "chat": _lazy_screen("tui.screens.chat", "ChatScreen"),
    }
    DEFAULT_MODE = "env"
    BINDINGS = [
        Binding("f2", "go('env')", "Env", id="goto-env", show=False),
        Binding("f3", "go('model')", "Model", id="goto-model", show=False),
        Binding("f4", "go('data')", "Data", id="goto-data", show=False),
        Binding("f5", "go('train')", "Train", id="goto-train", show=False),
        Binding("f6", "go('chat')", "Chat", id="goto-chat", show=False),
        Binding("ctrl+t", "toggle_theme", "Theme", id="toggle-theme", show=False),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
    ]

    def __init__(self, engine: Engine | None = None) -> None:
        super().__init__()
        if engine is None:
            from core.runtime.engine import Engine  # here, not at import: the events module alone is ~7 ms

            engine = Engine()
        self.engine = engine
        self.stopped_by: int | None = None  # SIGHUP or SIGTERM, once one arrived
        self._previous_handlers: dict = {}
        self.session = Session()
        self.config = app_config.load()
        self._theme_problems: list[str] = []
        themes, self._theme_problems = load_themes()
        for theme in themes:
            self.register_theme(theme)
        wanted = self.config.get("theme")
        names = {t.name for t in themes}
        self.theme = wanted if wanted in names else ("tunedeck-dark" if "tunedeck-dark" in names else FALLBACK)
        # Checking a keymap imports every screen, which would delay the first
        # paint: its well-formed entries apply now, the check comes after it.
        self.keymap = keymap.well_formed(self.config.get("keymap"))
        self.set_keymap(self.keymap)

    def on_mount(self) -> None:
        self._catch_stop_signals()
        for problem in self._theme_problems:
            self.notify(
                f"{problem}\nUsing the default theme instead.",
                title="Theme file skipped",
                severity="warning",
                timeout=10,
            )
        if self.config.get("keymap"):
            self.call_after_refresh(self._check_keymap)
        self.call_after_refresh(self._look_for_running_runs)

    # -- runs that train without this app --------------------------------
    # A run trains in a process of its own and outlives the app that started
    # it: opening TuneDeck while one trains shows it, live, on the Train
    # screen. Found after the first paint and off the UI thread (reading the
    # runs folder takes time the first screen must not wait for).
    def _look_for_running_runs(self) -> None:
        self.run_worker(self._attach_to_running_run(), group="find-runs", exit_on_error=False)

    async def _attach_to_running_run(self) -> None:
        def find() -> list:
            from core.training.launcher import running_runs
            from core.training.run_folders import read_events

            def started(info) -> float:
                return max((e.get("time", 0) for e in read_events(info.path) if e["type"] == "start"), default=0)

            # The one started last first (the runs list orders by the latest write).
            return sorted(running_runs(), key=started, reverse=True)

        runs = await asyncio.to_thread(find)
        if not runs or self.stopped_by is not None or self.engine.followed_runs():
            return  # nothing trains, the app is leaving, or it follows a run already
        newest = runs[0]
        await self.switch_mode("train")
        if not self.screen.attach(newest.path):
            return
        others = len(runs) - 1
        more = (
            f"\n{others} other run{'s' if others > 1 else ''} training too: Runs tab (ctrl+p), a attaches."
            if others
            else ""
        )
        self.notify(
            f"{newest.name} is training (iter {newest.iteration}/{newest.iters}): this is its live view. "
            f"x stops it; quitting leaves it training.{more}",
            title="Attached to a running run",
            timeout=12,
        )

    def _check_keymap(self) -> None:
        self.keymap, problems = keymap.check(self.config.get("keymap"), str(paths.config_file()))
        self.set_keymap(self.keymap)
        for problem in problems:
            self.notify(problem, title="Keymap entry skipped", severity="warning", timeout=15)

    def action_go(self, step: str) -> None:
        self.go(step)

    def go(self, step: str) -> None:
        self.switch_mode(step)
        if step == "chat" and not self.config.get("first_run_done"):
            self.config = app_config.update(first_run_done=True)

    def action_toggle_theme(self) -> None:
        self.theme = "tunedeck-light" if self.theme == "tunedeck-dark" else "tunedeck-dark"
        self.config = app_config.update(theme=self.theme)

    async def action_quit(self) -> None:
        # A followed run trains on after the app: ask once whether to leave it
        # training (the default) or stop it first. ctrl+q again in that
        # question is its default answer.
        from tui.screens.quit_dialog import LEAVE, STOP, QuitWhileTraining

        if isinstance(self.screen, QuitWhileTraining):
            self.screen.dismiss(LEAVE)
            return
        runs = [job for job in self.engine.followed_runs() if not job.cancel_event.is_set()]
        if not runs:
            await self._quit()
            return

        async def answered(answer: str | None) -> None:
            if answer == STOP:
                await self._stop_runs_and_quit(runs)
            elif answer == LEAVE:
                await self._quit()

        names = [job.state.get("run_dir", "the run") for job in runs]
        self.push_screen(QuitWhileTraining(names), answered)

    async def _stop_runs_and_quit(self, runs: list) -> None:
        """Stop each run cleanly (adapter and a checkpoint of its last step
        kept), with a visible notice while it finishes its step, then quit."""
        from concurrent.futures import wait

        for job in runs:
            job.cancel(STOP_ON_QUIT)
        self.notify(
            f"Stopping {'the run' if len(runs) == 1 else f'the {len(runs)} runs'} at the next step "
            "(adapter and checkpoint kept), then quitting… ctrl+q again quits at once and leaves "
            "the stop to finish.",
            title="Stopping…",
            timeout=120,
        )
        await asyncio.to_thread(wait, [job.future for job in runs])
        await self._quit()

    async def _quit(self) -> None:
        # A job of this process (a memory check, a chat answer, a fuse…) stops
        # first, which can take seconds: say so, and wait off the event loop
        # so it repaints. Runs are only left: they train on.
        if self.engine.busy:
            self.notify("Stopping the running job before quitting…", title="Quitting", timeout=30)
            await asyncio.to_thread(self.engine.shutdown, 10.0, "quit")
        self.exit()

    # A hang-up (the SSH link dropped, the tmux session killed) or a SIGTERM:
    # leave. A run trains on in its own process (the next tunedeck shows it);
    # a job of this process (a memory check, a chat answer) stops cleanly
    # first. The handler only notes the signal; the event loop does the rest.
    def _catch_stop_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set there
        loop = asyncio.get_running_loop()

        def note(signum, _frame) -> None:
            loop.call_soon_threadsafe(self._stop_for_signal, signum)

        self._previous_handlers = {sig: signal.signal(sig, note) for sig in (signal.SIGHUP, signal.SIGTERM)}

    def _stop_for_signal(self, signum: int) -> None:
        if self.stopped_by is None:
            self.stopped_by = signum
            self.run_worker(self._leave_after_stop(signal.Signals(signum).name), group="stop-signal")

    async def _leave_after_stop(self, reason: str) -> None:
        await asyncio.to_thread(self.engine.shutdown, None, reason)
        code = 128 + (self.stopped_by or 0)
        # Nothing of ours runs now. With the terminal gone Textual may never
        # finish exiting (seen after a killed tmux session: the app stayed up,
        # spinning on the dead tty), so the process ends itself shortly after.
        # Not headless (tests): there is no terminal to hang on, and the
        # process is the test runner, which must live on.
        if not self.is_headless:
            timer = threading.Timer(5.0, os._exit, args=(code,))
            timer.daemon = True
            timer.start()
        self.exit(return_code=code)

    def on_unmount(self) -> None:
        # Any other way out (tests, signals): stop this process's jobs; runs train on.
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self.engine.shutdown(reason="the app closed")


def make_app(engine: Engine | None = None) -> TuneDeckApp:
    return TuneDeckApp(engine)
