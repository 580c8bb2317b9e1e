"""Step 5: chat with the tuned model (or the base), streamed token by token."""

from __future__ import annotations

import random
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Input, Static

from core import events as ev
from core.jsonl import read_rows
from core.sample_data import SYSTEM_PROMPT
from tui.screens.base import StepScreen

STOP_REASONS = {"eos": "end of answer", "max_tokens": "hit max tokens", "stopped": "stopped by you"}


class ChatScreen(StepScreen):
    # A small model streams ~1000 tokens/s; repainting the answer for each
    # one took the UI thread's time from generation (docs/benchmarks.md).
    TOKEN_REPAINT = 0.05  # s
    STEP = "chat"
    BACK = "train"
    GUIDE = ("Step 5: ask a question. ctrl+g pulls a question (and its schema) from the test split; "
             "ctrl+o switches between the tuned and the base model; Esc stops an answer.")
    BINDINGS = [
        Binding("escape", "stop", "Stop", id="stop-generation"),
        Binding("ctrl+g", "example", "Test question", id="test-question"),
        Binding("ctrl+o", "toggle_model", "Base/tuned", id="toggle-model"),
        Binding("ctrl+l", "new_chat", "New chat", id="new-chat"),
    ]

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Static("", id="model-line", classes="status")
        yield VerticalScroll(id="transcript")
        yield Input(placeholder="Ask something and press Enter", id="prompt")
        yield from self.compose_bottom()

    def __init__(self) -> None:
        super().__init__()
        self.job = None
        self.use_base = False
        self.messages: list[dict] = []
        self.system = SYSTEM_PROMPT.format(schema="CREATE TABLE players (player VARCHAR, team VARCHAR, goals INTEGER)")
        self.answer_widget: Static | None = None
        self.answer_text = ""
        self._token_timer = None
        self._rng = random.Random(0)

    def on_screen_resume(self) -> None:
        self.update_model_line()
        self.query_one("#prompt", Input).focus()

    def current_model(self) -> tuple[str | None, str | None]:
        s = self.app.session
        adapter = None if self.use_base else s.adapter_path
        return s.model_path, adapter

    def update_model_line(self) -> None:
        model, adapter = self.current_model()
        if not model:
            text = Text("No model yet: choose one in step 2 (F3).", style="bold yellow")
        else:
            which = "tuned (base + adapter)" if adapter else "base model"
            if not self.app.session.adapter_path and not self.use_base:
                which = "base model (no adapter trained yet)"
            text = Text.assemble(("Talking to: ", "bold"), f"{Path(model).name} · {which}")
        # The schema is what matters in a text-to-SQL system prompt; show it.
        shown = self.system.split("SCHEMA:", 1)[-1].strip().replace("\n", " ")
        label = "schema" if "SCHEMA:" in self.system else "system"
        text.append(f"\n{label}: {shown[:150]}", style="dim")
        self.query_one("#model-line", Static).update(text)

    def add_turn(self, who: str, text: str, style: str) -> Static:
        widget = Static(Text.assemble((f"{who}: ", f"bold {style}"), text), classes="turn")
        transcript = self.query_one("#transcript", VerticalScroll)
        transcript.mount(widget)
        transcript.scroll_end(animate=False)
        return widget

    def on_input_submitted(self, event: Input.Submitted) -> None:
        prompt = event.value.strip()
        if not prompt:
            return
        if self.job is not None and not self.job.done:
            self.notify("Still answering: Esc stops it.", severity="warning")
            return
        model, adapter = self.current_model()
        if not model:
            self.notify("Choose a model first (step 2).", severity="warning")
            return
        event.input.value = ""
        self.messages.append({"role": "user", "content": prompt})
        self.add_turn("you", prompt, "cyan")
        self.answer_text = ""
        self.answer_widget = self.add_turn("model", "…", "green")
        convo = [{"role": "system", "content": self.system}, *self.messages]
        self.job = self.track(self.app.engine.generate(model, adapter, convo))

    def handle_event(self, event: ev.Event) -> None:
        if self.answer_widget is None or self.job is None or event.job_id != self.job.id:
            return  # an answer from before "new chat"
        if isinstance(event, ev.JobCancelled):  # stopped while still queued
            self.answer_widget.update(Text("(stopped before it began)", style="dim"))
            self.answer_widget = None
            if self.messages and self.messages[-1]["role"] == "user":
                self.messages.pop()
            return
        if isinstance(event, ev.Progress):
            self.answer_widget.update(Text.assemble(("model: ", "bold green"), (event.message + "…", "dim")))
        elif isinstance(event, ev.Token):
            self.answer_text += event.text
            if self._token_timer is None:  # repaint per batch of tokens, not per token
                self._token_timer = self.set_timer(self.TOKEN_REPAINT, self._show_answer)
        elif isinstance(event, ev.GenerationFinished):
            self.messages.append({"role": "assistant", "content": event.text})
            info = (f"{event.generation_tokens} tokens · {event.tokens_per_second:.0f} tok/s · "
                    f"first token {event.time_to_first_token * 1000:.0f} ms · "
                    f"{STOP_REASONS.get(event.stop_reason, event.stop_reason)}")
            self.answer_widget.update(Text.assemble(("model: ", "bold green"), event.text or "(nothing)",
                                                    ("\n" + info, "dim")))
            self.answer_widget = None
        elif isinstance(event, ev.JobFailed):
            self.answer_widget.update(Text(f"✗ {event.message}\n{event.hint}", style="red"))
            self.answer_widget = None
            if self.messages and self.messages[-1]["role"] == "user":
                self.messages.pop()

    def _show_answer(self) -> None:
        self._token_timer = None
        if self.answer_widget is not None:
            self.answer_widget.update(Text.assemble(("model: ", "bold green"), self.answer_text))
            self.query_one("#transcript", VerticalScroll).scroll_end(animate=False)

    def action_stop(self) -> None:
        if self.job is not None and not self.job.done:
            self.job.cancel()

    def action_toggle_model(self) -> None:
        self.use_base = not self.use_base
        self.update_model_line()

    def action_new_chat(self) -> None:
        self.action_stop()
        self.job = None
        self.answer_widget = None
        self.messages = []
        self.query_one("#transcript", VerticalScroll).remove_children()

    def action_example(self) -> None:
        data = self.app.session.data_dir
        path = Path(data) / "test.jsonl" if data else None
        rows = read_rows(path, limit=200) if path and path.is_file() else []
        rows = [r for r in rows if "messages" in r]
        if not rows:
            self.notify("No chat-format test split to take a question from.", severity="warning")
            return
        row = self._rng.choice(rows)
        msgs = row["messages"]
        system = next((m["content"] for m in msgs if m["role"] == "system"), None)
        question = next((m["content"] for m in msgs if m["role"] == "user"), "")
        expected = next((m["content"] for m in msgs if m["role"] == "assistant"), "")
        if system:
            self.system = system
        self.action_new_chat()
        self.update_model_line()
        prompt = self.query_one("#prompt", Input)
        prompt.value = question
        prompt.focus()
        self.notify(f"expected answer: {expected}", title="From the test split", timeout=8)
