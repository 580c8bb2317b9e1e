"""Step 5: chat with the tuned model (or the base, or any model folder),
streamed token by token, and compare base and tuned side by side."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding

from core.chat import transcript as tx
from core.chat.generation import Sampling
from core.data.sample_data import SYSTEM_PROMPT
from core.evaluation import test_prompts
from core.runtime import events as ev
from core.runtime.errors import TuneDeckError
from tui.screens.base import StepScreen
from tui.screens.chat_dialogs import ChatSettings, ModelChoice, ModelPicker, SettingsDialog
from tui.screens.memory_ask import ask_before_loading, not_agreed
from tui.widgets.answer import AnswerView
from tui.widgets.chat.model_line import NO_MODEL, ModelLine, comparing, model_label, talking_to
from tui.widgets.chat.transcript import ChatTranscript
from tui.widgets.prompt_area import PromptArea

DEFAULT_SYSTEM = SYSTEM_PROMPT.format(schema="CREATE TABLE players (player VARCHAR, team VARCHAR, goals INTEGER)")


class ChatScreen(StepScreen):
    STEP = "chat"
    BACK = "train"
    GUIDE = (
        "Step 5: ask and press Enter (ctrl+j: new line; up/down: earlier prompts). ctrl+g: a test "
        "question · ctrl+b: compare base vs tuned · ctrl+o: model · ctrl+f: settings · Esc stops · "
        "PgUp/PgDn, ctrl+home/end: scroll."
    )
    BINDINGS = [
        # Typed letters go to the prompt box here, so n and ? stay out of the footer.
        Binding("n", "next_step", "Next", id="next-step", show=False),
        Binding("question_mark", "toggle_guide", "Guide", id="toggle-guide", show=False),
        Binding("escape", "stop", "Stop", id="stop-generation"),
        Binding("ctrl+g", "example", "Test Q", id="test-question"),
        Binding("ctrl+b", "toggle_compare", "Compare", id="toggle-compare"),
        Binding("ctrl+o", "pick_model", "Model", id="pick-model"),
        Binding("ctrl+f", "settings", "Settings", id="chat-settings"),
        Binding("ctrl+r", "toggle_greedy", "Greedy", id="toggle-greedy", show=False),  # the model line says so
        Binding("ctrl+s", "save_transcript", "Save", id="save-transcript"),
        Binding("ctrl+l", "new_chat", "New chat", id="new-chat", show=False),
        # Focus stays in the prompt box, whose TextArea would take these keys:
        # priority makes them scroll the transcript from anywhere on this screen.
        Binding(
            "pageup", "scroll_transcript('page_up')", "Scroll up", id="transcript-page-up", show=False, priority=True
        ),
        Binding(
            "pagedown",
            "scroll_transcript('page_down')",
            "Scroll down",
            id="transcript-page-down",
            show=False,
            priority=True,
        ),
        Binding("ctrl+home", "scroll_transcript('home')", "Top", id="transcript-top", show=False, priority=True),
        Binding("ctrl+end", "scroll_transcript('end')", "Bottom", id="transcript-bottom", show=False, priority=True),
    ]
    DEFAULT_CSS = "ChatScreen PromptArea { margin: 0 1; }"

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield ModelLine("", id="model-line", classes="status")
        yield ChatTranscript(id="transcript")
        yield PromptArea(id="prompt", placeholder="Ask something · Enter sends · ctrl+j new line")
        yield from self.compose_bottom()

    def __init__(self) -> None:
        super().__init__()
        self.choice = ModelChoice("tuned", None)
        self.compare = False
        self.sampling = Sampling()
        self._warm_temperature = 0.7  # what ctrl+r goes back to after greedy
        self.system = DEFAULT_SYSTEM
        self.messages: list[dict] = []  # the chat-mode conversation (no system prompt)
        self.transcript = tx.Transcript()
        self.job = None  # the latest generation job (the chat answer, or compare's second)
        self.jobs: list = []  # generation jobs not finished yet, in order
        self.views: dict[int, tuple[AnswerView, tx.Answer, bool]] = {}  # job id → (view, answer, in chat)
        self.load_job = None
        self.model_state = ""  # loading… / ready / ✗ error, for the model line
        self._seen_session: tuple = ()
        self._rng = random.Random(0)
        self._prompts_cache: tuple[tuple | None, list] = (None, [])  # ((folder, mtime), prompts)
        self._reference: tuple[str, str | None] | None = None  # (question, reference) from ctrl+g

    def on_screen_resume(self) -> None:
        s = self.app.session
        if (s.model_path, s.adapter_path) != self._seen_session:
            # The model or adapter changed in an earlier step: talk to the newest.
            self._seen_session = (s.model_path, s.adapter_path)
            self.choice = ModelChoice("tuned", None)
            self.preload()
        self.update_model_line()
        self.query_one("#prompt", PromptArea).focus()

    # -- which model ---------------------------------------------------------
    def current_model(self) -> tuple[str | None, str | None]:
        s = self.app.session
        if self.choice.kind == "folder":
            return self.choice.model, self.choice.adapter
        return s.model_path, (None if self.choice.kind == "base" else s.adapter_path)

    def compare_pair(self) -> tuple[tuple, tuple] | None:
        """(base, tuned): the base model against the current choice, or
        against base + the latest adapter when the base itself is chosen."""
        s = self.app.session
        current = self.current_model()
        base_model = s.model_path or current[0]
        if not base_model:
            return None
        base = (base_model, None)
        tuned = current if current != base else (base_model, s.adapter_path)
        return None if tuned == base or not tuned[0] else (base, tuned)

    def describe_choice(self) -> str:
        model, adapter = self.current_model()
        if self.choice.kind == "folder":
            return f"{model_label(model, adapter)} · folder {model}"
        if adapter:
            return f"{Path(model).name} · tuned (base + adapter)"
        if self.choice.kind == "tuned":
            return f"{Path(model).name} · base model (no adapter trained yet)"
        return f"{Path(model).name} · base model"

    def update_model_line(self) -> None:
        model, _ = self.current_model()
        if not model:
            headline = NO_MODEL
        elif self.compare:
            headline = comparing(self.compare_pair())
        else:
            headline = talking_to(self.describe_choice())
        self.query_one(ModelLine).show(headline, self.model_state, self.sampling, self.system)

    def preload(self, asked: bool = False) -> None:
        """Load the chosen model now, on the worker, so switching shows.
        While a run trains it loads only after asking (``asked``: the user
        chose a model, so ask now; else wait for the first question)."""
        model, adapter = self.current_model()
        if not model:
            return

        def load() -> None:
            self.model_state = "loading…"
            self.load_job = self.track(self.app.engine.load_chat_model(model, adapter))
            self.update_model_line()

        if not asked and not_agreed(self):
            self.model_state = "loads at your first question (a run is training)"
            return
        ask_before_loading(self, model_label(model, adapter), load)

    def action_pick_model(self) -> None:
        s = self.app.session

        def chosen(choice: ModelChoice | None) -> None:
            if choice is None:
                return
            self.choice = choice
            if self.compare and not self.compare_pair():
                self.compare = False
                self.notify("Compare mode is off: that choice is the base model itself.")
            self.preload(asked=True)
            self.update_model_line()

        self.app.push_screen(ModelPicker(s.model_path, s.adapter_path, self.choice), chosen)

    # -- settings --------------------------------------------------------------
    def action_settings(self) -> None:
        def chosen(settings: ChatSettings | None) -> None:
            if settings is None:
                return
            if settings.system != self.system and self.messages:
                self.notify("New system prompt: it applies from the next question on.")
            self.system = settings.system
            if not settings.sampling.greedy:
                self._warm_temperature = settings.sampling.temperature
            self.sampling = settings.sampling
            self.update_model_line()

        self.app.push_screen(SettingsDialog(ChatSettings(self.system, self.sampling)), chosen)

    def action_toggle_greedy(self) -> None:
        if self.sampling.greedy:
            self.sampling = replace(self.sampling, temperature=self._warm_temperature)
        else:
            self._warm_temperature = self.sampling.temperature
            self.sampling = replace(self.sampling, temperature=0.0)
        self.update_model_line()

    def action_toggle_compare(self) -> None:
        if not self.compare and not self.compare_pair():
            self.notify(
                "Compare needs a tuned model: train an adapter in step 4, or pick a fused model "
                "or an adapter with ctrl+o.",
                severity="warning",
            )
            return
        self.compare = not self.compare
        if self.compare:
            self.notify(
                "Base, then tuned, side by side; no history. ctrl+b: back to chat.", title="Compare mode", timeout=4
            )
        self.update_model_line()

    # -- sending ----------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return any(not job.done for job in self.jobs)

    def on_prompt_area_submitted(self, event: PromptArea.Submitted) -> None:
        text = event.text.strip()
        if not text:
            return
        if self.busy:
            self.notify("Still answering: Esc stops it.", severity="warning")
            return
        prompt_area = event.prompt_area

        def send() -> None:
            sent = self.send_compare(text) if self.compare else self.send_chat(text)
            if sent:
                prompt_area.accept()

        if self.compare and (pair := self.compare_pair()):
            what = f"the base and the tuned model ({model_label(*pair[0])}, {model_label(*pair[1])})"
        else:
            what = model_label(*self.current_model()) if self.current_model()[0] else ""
        if not what:
            send()  # no model: send_chat says so
            return
        ask_before_loading(self, what, send)

    def _take_reference(self, text: str) -> str | None:
        question, reference = self._reference or ("", None)
        self._reference = None
        return reference if question.strip() == text else None

    def _sampling_for_job(self) -> Sampling | None:
        try:
            return replace(self.sampling).check()
        except TuneDeckError as exc:
            self.notify(f"{exc.message}\n{exc.hint}", title="Settings (ctrl+f)", severity="error")
            return None

    def _start(
        self,
        view: AnswerView,
        answer: tx.Answer,
        model: str,
        adapter: str | None,
        convo: list[dict],
        sampling: Sampling,
        in_chat: bool,
    ):
        answer.max_tokens = sampling.max_tokens
        job = self.track(self.app.engine.generate(model, adapter, convo, sampling))
        self.views[job.id] = (view, answer, in_chat)
        self.jobs.append(job)
        self.job = job
        return job

    @property
    def transcript_view(self) -> ChatTranscript:
        return self.query_one(ChatTranscript)

    def send_chat(self, text: str) -> bool:
        model, adapter = self.current_model()
        if not model:
            self.notify("Choose a model first (step 2, or ctrl+o).", severity="warning")
            return False
        sampling = self._sampling_for_job()
        if sampling is None:
            return False
        reference = self._take_reference(text)
        self.messages.append({"role": "user", "content": text})
        answer = tx.Answer(label=model_label(model, adapter))
        self.transcript.turns.append(tx.Turn(text, [answer], reference, self.system))
        view = AnswerView("model")
        self.transcript_view.add_chat_turn(text, view, reference)
        convo = ([{"role": "system", "content": self.system}] if self.system else []) + self.messages
        self._start(view, answer, model, adapter, convo, sampling, in_chat=True)
        return True

    def send_compare(self, text: str) -> bool:
        pair = self.compare_pair()
        if pair is None:
            self.notify("Compare needs a tuned model (train one, or ctrl+o).", severity="warning")
            return False
        sampling = self._sampling_for_job()
        if sampling is None:
            return False
        reference = self._take_reference(text)
        convo = ([{"role": "system", "content": self.system}] if self.system else []) + [
            {"role": "user", "content": text}
        ]
        (bm, ba), (tm, ta) = pair
        answers = [tx.Answer(label=f"base ({model_label(bm, ba)})"), tx.Answer(label=f"tuned ({model_label(tm, ta)})")]
        self.transcript.turns.append(tx.Turn(text, answers, reference, self.system))
        views = [AnswerView("base", "magenta"), AnswerView("tuned", "green", note="waits for base…")]
        self.transcript_view.add_compare_turn(text, views, reference)
        # Two jobs, queued one after the other on the one MLX thread.
        self._start(views[0], answers[0], bm, ba, convo, sampling, in_chat=False)
        self._start(views[1], answers[1], tm, ta, convo, replace(sampling), in_chat=False)
        return True

    # -- streaming -------------------------------------------------------------
    def action_scroll_transcript(self, where: str) -> None:
        self.transcript_view.scroll_to_place(where)

    @property
    def answer_text(self) -> str:
        """Everything streamed so far for the latest answer."""
        if self.job is None or self.job.id not in self.views:
            return ""
        return self.views[self.job.id][0].body

    def handle_event(self, event: ev.Event) -> None:
        if self.load_job is not None and event.job_id == self.load_job.id:
            self.handle_load_event(event)
            return
        entry = self.views.get(event.job_id)
        if entry is None:
            return  # an answer from before "new chat"
        view, answer, in_chat = entry
        if isinstance(event, ev.Progress):
            self.model_state = event.message + "…"
            self.update_model_line()
            view.set_note(event.message + "…")
        elif isinstance(event, ev.ModelLoaded):
            self.model_state = f"ready ({event.parameters:,} parameters)"
            self.update_model_line()
            view.set_note("thinking…")
        elif isinstance(event, ev.Token):
            # The core sends text in batches (at most ~50 a second), so each is painted as it comes.
            self.transcript_view.stream(view, event.text)
        elif isinstance(event, ev.GenerationFinished):
            answer.text = event.text
            answer.generation_tokens = event.generation_tokens
            answer.tokens_per_second = event.tokens_per_second
            answer.time_to_first_token = event.time_to_first_token
            answer.stop_reason = event.stop_reason
            # Why it stopped is in the stats line (yellow for max tokens), not in
            # a toast: one would cover the prompt box and the other column.
            style = "yellow" if event.stop_reason == "max_tokens" else "dim"
            self.transcript_view.finish(view, event.text, answer.stats(), style)
            if in_chat:
                self.messages.append({"role": "assistant", "content": event.text})
        elif isinstance(event, ev.JobFailed):
            answer.error = event.message
            view.finish("", f"✗ {event.message}" + (f"\n{event.hint}" if event.hint else ""), "red")
            self.model_state = f"✗ {event.message}"
            self.update_model_line()
            self._forget_question(in_chat)
        elif isinstance(event, ev.JobCancelled):  # stopped while still queued
            answer.error = "stopped before it began"
            view.finish("", "(stopped before it began)", "dim")
            self._forget_question(in_chat)
        if isinstance(event, ev.TERMINAL):
            self.jobs = [j for j in self.jobs if j.id != event.job_id]

    def _forget_question(self, in_chat: bool) -> None:
        # A question that got no answer is not part of the conversation.
        if in_chat and self.messages and self.messages[-1]["role"] == "user":
            self.messages.pop()

    def handle_load_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.Progress):
            self.model_state = event.message + "…"
        elif isinstance(event, ev.ModelLoaded):
            self.model_state = f"ready ({event.parameters:,} parameters)"
        elif isinstance(event, ev.JobFailed):
            self.model_state = f"✗ {event.message}"
            # The model line has no room for the fix; nothing else on screen shows it yet.
            self.notify(
                event.located + (f"\n{event.hint}" if event.hint else ""),
                title="Model not loaded",
                severity="error",
                timeout=12,
            )
        elif isinstance(event, ev.JobCancelled):
            self.model_state = ""
        else:
            return
        self.update_model_line()

    # -- actions ---------------------------------------------------------------
    def action_stop(self) -> None:
        for job in self.jobs:
            job.cancel()

    def action_new_chat(self) -> None:
        self.action_stop()
        self.job = None
        self.jobs = []
        self.views = {}
        self.messages = []
        self.transcript = tx.Transcript()
        self._reference = None
        self.transcript_view.clear()

    def action_save_transcript(self) -> None:
        if not self.transcript.turns:
            self.notify("Nothing to save yet: ask something first.", severity="warning")
            return
        model, adapter = self.current_model()
        self.transcript.model, self.transcript.adapter = model, adapter
        self.transcript.system = self.system
        self.transcript.sampling = self.sampling
        self.transcript.mode = "compare" if self.compare else "chat"
        try:
            path = tx.save(self.transcript)
        except TuneDeckError as exc:
            self.notify(f"{exc.message}\n{exc.hint}", title="Transcript not saved", severity="error", timeout=10)
            return
        self.notify(str(path), title="Transcript saved", timeout=10)

    def _test_prompts(self) -> list:
        """The test split's prompts, read again when the file changed; raises
        a TuneDeckError when there are none (no data folder, no test split)."""
        data = self.app.session.data_dir
        path = Path(data) / "test.jsonl" if data else None
        key = (data, path.stat().st_mtime_ns if path is not None and path.is_file() else None)
        if self._prompts_cache[0] != key:
            self._prompts_cache = (key, test_prompts.load(data))
        return self._prompts_cache[1]

    def action_example(self) -> None:
        try:
            item = self._rng.choice(self._test_prompts())
        except TuneDeckError as exc:
            self.notify(f"{exc.message}\n{exc.hint}", title="No test question", severity="warning")
            return
        if item.system and item.system != self.system:
            self.system = item.system
            if not self.compare and self.messages:
                # A different schema: the old turns would mislead the model, so it
                # starts a fresh conversation; they stay on screen (and in a save).
                self.messages = []
                self.views = {job: (view, answer, False) for job, (view, answer, _) in self.views.items()}
                self.transcript_view.add_marker("── new conversation: the schema changed ──")
        self._reference = (item.prompt.strip(), item.reference)
        self.update_model_line()
        prompt = self.query_one("#prompt", PromptArea)
        prompt.set_prompt(item.prompt)
        prompt.focus()
