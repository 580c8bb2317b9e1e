"""The chat prompt box: multi-line, Enter sends, with history recall.

Enter sends. A newline is ctrl+j, which every terminal sends the same way
(a bare LF), over SSH and tmux too; alt+enter and shift+enter also work in
terminals that report them. Up at the first line / down at the last line
(or ctrl+p / ctrl+n anywhere) walk through earlier prompts.
"""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea


class PromptArea(TextArea):
    DEFAULT_CSS = """
    PromptArea { height: auto; min-height: 3; max-height: 7; }
    """
    BINDINGS = [
        Binding("ctrl+j,alt+enter,shift+enter", "newline", "Newline", id="prompt-newline", show=False),
        Binding("ctrl+p", "history(-1)", "Previous prompt", id="prompt-history-previous", show=False),
        Binding("ctrl+n", "history(1)", "Next prompt", id="prompt-history-next", show=False),
    ]

    class Submitted(Message):
        def __init__(self, prompt_area: PromptArea, text: str) -> None:
            super().__init__()
            self.prompt_area = prompt_area
            self.text = text

        @property
        def control(self) -> PromptArea:
            return self.prompt_area

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("soft_wrap", True)
        kwargs.setdefault("show_line_numbers", False)
        super().__init__(**kwargs)
        self.prompts: list[str] = []  # sent prompts, oldest first (TextArea.history is its undo)
        self._browse: int | None = None  # index into history while recalling
        self._draft = ""

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":  # TextArea would insert a newline
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.text))
            return
        await super()._on_key(event)

    def accept(self) -> None:
        """The screen took the prompt: remember it and empty the box."""
        text = self.text.strip()
        if text and (not self.prompts or self.prompts[-1] != text):
            self.prompts.append(text)
        self._browse = None
        self._draft = ""
        self.clear()

    def set_prompt(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)

    def action_newline(self) -> None:
        if not self.read_only:
            self.insert("\n")

    def action_history(self, step: int) -> None:
        if not self.prompts:
            return
        if self._browse is None:
            if step > 0:
                return
            self._draft = self.text
            index = len(self.prompts) - 1
        else:
            index = self._browse + step
        if index < 0:
            return
        if index >= len(self.prompts):
            self._browse = None
            self.set_prompt(self._draft)
            return
        self._browse = index
        self.set_prompt(self.prompts[index])

    def action_cursor_up(self, select: bool = False) -> None:
        if not select and self.cursor_at_first_line and self.prompts:
            self.action_history(-1)
        else:
            super().action_cursor_up(select)

    def action_cursor_down(self, select: bool = False) -> None:
        if not select and self.cursor_at_last_line and self._browse is not None:
            self.action_history(1)
        else:
            super().action_cursor_down(select)
