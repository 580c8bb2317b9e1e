"""The TuneDeck Textual app and its ``make_app`` factory (CLI and tests)."""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING

from textual.app import App
from textual.binding import Binding

from core import config as app_config
from tui.session import Session
from tui.themes import FALLBACK, load_themes

if TYPE_CHECKING:
    from core.engine import Engine


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
            from core.engine import Engine  # here, not at import: the events module alone is ~7 ms

            engine = Engine()
        self.engine = engine
        self.session = Session()
        self.config = app_config.load()
        self._theme_problems: list[str] = []
        themes, self._theme_problems = load_themes()
        for theme in themes:
            self.register_theme(theme)
        wanted = self.config.get("theme")
        names = {t.name for t in themes}
        self.theme = wanted if wanted in names else ("tunedeck-dark" if "tunedeck-dark" in names else FALLBACK)

    def on_mount(self) -> None:
        for problem in self._theme_problems:
            self.notify(f"{problem}\nUsing the default theme instead.", title="Theme file skipped",
                        severity="warning", timeout=10)

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
        if self.engine.worker.busy:
            self.notify("Stopping the running job before quitting (a training run saves its adapter)…",
                        title="Quitting", timeout=30)
            await asyncio.to_thread(self.engine.shutdown)
        self.exit()

    def on_unmount(self) -> None:
        # Any other way out (tests, signals): stop what still runs.
        self.engine.shutdown()


def make_app(engine: Engine | None = None) -> TuneDeckApp:
    return TuneDeckApp(engine)
