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
        # A running job stops first (a training run saves its adapter), which
        # can take seconds: say so, and wait off the event loop so it repaints.
        if self.engine.busy:
            self.notify(
                "Stopping the running job before quitting (a training run saves its adapter)…",
                title="Quitting",
                timeout=30,
            )
            await asyncio.to_thread(self.engine.shutdown, 10.0, "quit")
        self.exit()

    # A hang-up (the SSH link dropped, the tmux session killed) or a SIGTERM:
    # stop what runs cleanly (a training run saves a checkpoint of its last
    # step, resumable with r) and leave. The handler only notes the signal;
    # the event loop does the rest.
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
        # Everything is saved now. With the terminal gone Textual may never
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
        # Any other way out (tests, signals): stop what still runs.
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self.engine.shutdown(reason="the app closed")


def make_app(engine: Engine | None = None) -> TuneDeckApp:
    return TuneDeckApp(engine)
