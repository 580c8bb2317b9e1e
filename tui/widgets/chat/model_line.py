"""The chat's model line: who is answering (and whether it is loaded), the
sampling settings, and the system prompt's schema, in three lines."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.widgets import Static

from core.chat.generation import Sampling


def model_label(model: str | None, adapter: str | None) -> str:
    if not model:
        return "no model"
    return f"{Path(model).name} + adapter" if adapter else Path(model).name


def talking_to(description: str) -> Text:
    return Text.assemble(("Talking to: ", "bold"), description)


def comparing(pair: tuple[tuple, tuple] | None) -> Text:
    """The headline in compare mode, for a (base, tuned) pair or none."""
    if not pair:
        return Text("Compare needs a tuned model: train in step 4 or pick one with ctrl+o.", style="bold yellow")
    (bm, ba), (tm, ta) = pair
    return Text.assemble(("Compare: ", "bold"), f"base {model_label(bm, ba)}  vs  tuned {model_label(tm, ta)}")


NO_MODEL = Text("No model yet: choose one in step 2 (F3), or a folder with ctrl+o.", style="bold yellow")


def state_style(state: str) -> str:
    return "red" if state.startswith("✗") else ("yellow" if "loading" in state else "green")


class ModelLine(Static):
    DEFAULT_CSS = "ModelLine { height: auto; max-height: 3; }"

    def show(self, headline: Text, state: str, sampling: Sampling, system: str) -> None:
        """Paint the three lines; ``state`` is loading… / ready / ✗ error, or blank."""
        text = headline.copy()
        if state:
            text.append(f" · {state}", style=state_style(state))
        greedy_hint = "ctrl+r: sample" if sampling.greedy else "ctrl+r: greedy"
        text.append(f"\n{sampling.describe()} ({greedy_hint})", style="dim")
        # The schema is what matters in a text-to-SQL system prompt; show it.
        shown = system.split("SCHEMA:", 1)[-1].strip().replace("\n", " ")
        label = "schema" if "SCHEMA:" in system else "system"
        # One line (the box holds three): cut to the width, with an ellipsis; ctrl+f shows it all.
        room = max(10, (self.content_size.width or self.app.size.width - 2) - len(label) - 2)
        shown = shown if len(shown) <= room else shown[: room - 1] + "…"
        text.append(f"\n{label}: {shown or '(none)'}", style="dim")
        self.update(text)
