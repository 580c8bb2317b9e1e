"""The one-line walkthrough bar: where you are, what is done, how to move."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

STEPS = (("env", "Environment"), ("model", "Model"), ("data", "Data"), ("train", "Train"), ("chat", "Chat"))


class StepBar(Widget):
    DEFAULT_CSS = """
    StepBar { height: 1; width: 1fr; background: $panel; padding: 0 1; }
    """

    def __init__(self, current: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.current = current

    def render(self) -> Text:
        done = self.app.session.steps_done
        text = Text()
        text.append("TuneDeck ", style="bold")
        for i, (key, label) in enumerate(STEPS, start=1):
            if i > 1:
                text.append(" › ", style="dim")
            mark = "✓" if key in done and key != self.current else str(i)
            style = "bold reverse" if key == self.current else ("" if key in done else "dim")
            text.append(f" {mark} {label} ", style=style)
        return text
