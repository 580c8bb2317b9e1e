"""What every walkthrough screen shares: the step bar, the guide text,
moving between steps, and receiving engine events for its own jobs."""

from __future__ import annotations

import functools

from textual.actions import parse
from textual.app import ComposeResult
from textual.binding import Binding
from textual.keys import key_to_character
from textual.screen import Screen
from textual.widgets import Footer, Input, OptionList, Static

from core.runtime import events as ev
from tui.messages import EngineEvent
from tui.widgets.stepbar import StepBar


class StepScreen(Screen):
    STEP = ""
    NEXT: str | None = None
    BACK: str | None = None
    GUIDE = ""
    BINDINGS = [
        Binding("n", "next_step", "Next", id="next-step"),
        Binding("b", "back_step", "Back", id="back-step", show=False),
        Binding("question_mark", "toggle_guide", "Guide", id="toggle-guide"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._jobs: set[int] = set()

    # -- keys that type ----------------------------------------------------
    @classmethod
    @functools.cache  # per screen class and keymap: the footer asks for every binding at each refresh
    def typed_actions(cls, keymap: tuple[tuple[str, str], ...] = ()) -> frozenset[tuple[str, tuple]]:
        """(action, parameters) of this screen's bindings whose keys (as the
        user's keymap sets them) all type a character: a focused Input takes
        those keys, so the binding does not apply (an action also bound to,
        say, escape still does)."""
        rebound = dict(keymap)
        typing: dict[tuple, bool] = {}
        for klass in cls.__mro__:
            for binding in vars(klass).get("BINDINGS", ()):
                if not isinstance(binding, Binding):
                    continue
                action = parse(binding.action)[1:]
                for key in rebound.get(binding.id, binding.key).split(","):
                    key = key.strip()
                    char = "/" if key == "slash" else key_to_character(key)  # Textual cannot name "slash"
                    typing[action] = typing.get(action, True) and bool(char and char.isprintable())
        return frozenset(action for action, types in typing.items() if types)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # Off the footer while typing (the Input has the key anyway).
        if not isinstance(self.focused, Input):
            return True
        keymap = tuple(sorted(getattr(self.app, "keymap", {}).items()))
        return (action, tuple(parameters)) not in self.typed_actions(keymap)

    def compose_top(self) -> ComposeResult:
        yield StepBar(self.STEP)
        guide = Static(self.GUIDE, classes="guide")
        guide.display = not self.app.config.get("first_run_done", False) or self.STEP == "env"
        yield guide

    def compose_bottom(self) -> ComposeResult:
        yield Footer()

    # -- engine events -------------------------------------------------
    def on_mount(self) -> None:
        self.app.engine.add_listener(self._forward)

    def on_unmount(self) -> None:
        self.app.engine.remove_listener(self._forward)

    def on_screen_resume(self) -> None:
        # Another step may have chosen or unchosen something since this bar was drawn.
        self.refresh_stepbar()

    def _forward(self, event: ev.Event) -> None:
        # Called on the MLX worker thread: only post (thread-safe), never touch
        # widgets. Every event is posted and sorted on the UI thread: a job can
        # start, and even fail, before ``track`` has been told its id, but its
        # events are handled only after the handler that submitted it returns.
        self.post_message(EngineEvent(event))

    def track(self, job):
        """Receive ``job``'s events; call it in the same handler that submitted the job."""
        self._jobs.add(job.id)
        return job

    def untrack(self, job) -> None:
        """Hear no more of ``job`` (its end, too: a run left training has not ended)."""
        self._jobs.discard(job.id)

    def on_engine_event(self, message: EngineEvent) -> None:
        event = message.event
        if event.job_id not in self._jobs:
            return  # another screen's job
        if isinstance(event, ev.TERMINAL):
            self._jobs.discard(event.job_id)
        self.handle_event(event)

    def handle_event(self, event: ev.Event) -> None:
        """Screens override this to react to their jobs' events."""

    # -- navigation -----------------------------------------------------
    def can_leave(self) -> str | None:
        """Why the user cannot go to the next step yet (None = can)."""
        return None

    def action_next_step(self) -> None:
        if self.NEXT is None:
            return
        reason = self.can_leave()
        if reason:
            self.notify(reason, severity="warning")
            return
        self.app.go(self.NEXT)

    def action_back_step(self) -> None:
        if self.BACK:
            self.app.go(self.BACK)

    def action_toggle_guide(self) -> None:
        guide = self.query_one(".guide", Static)
        guide.display = not guide.display

    def refresh_stepbar(self) -> None:
        # This screen's own bar: the app's query finds only its first screen's.
        for bar in self.query(StepBar):
            bar.refresh()


class ChoiceScreen(StepScreen):
    """A step that offers a list of sources, one of them "a folder on disk"
    (an ``Input#folder`` shown only while that option is highlighted)."""

    FOLDER_OPTION = "folder"
    BINDINGS = [Binding("enter", "choose", "Choose", id="choose")]

    def on_mount(self) -> None:
        self.query_one("#folder", Input).display = False
        self.query_one(OptionList).focus()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.query_one("#folder", Input).display = event.option.id == self.FOLDER_OPTION

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.choose(event.option.id)

    def action_choose(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is not None:
            self.choose(options.get_option_at_index(options.highlighted).id)

    def ask_for_folder(self) -> None:
        folder = self.query_one("#folder", Input)
        folder.display = True
        self.set_focus(folder)  # at once: keys typed with the one that opened it belong to it

    def choose(self, which: str) -> None:
        raise NotImplementedError
