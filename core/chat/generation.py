"""Chat generation with mlx-lm: load a model (+ adapter) and stream a reply.

Runs on the MLX worker thread only. Text reaches listeners as ``Token``
events, coalesced by time: the first piece at once (an honest time to first
token), then at most one event every ``TOKEN_EVENT_SECONDS``, and whatever is
left when the answer ends. One event per token would cost the UI one message
per token (hundreds a second on a small model), enough to make it lag; the
concatenated events are still exactly the answer. The cancel flag is checked
between tokens so Esc stops at once and keeps what was produced.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from core.models.model_folder import load_model
from core.runtime import events as ev
from core.runtime.errors import TuneDeckError

# Imported where used, not at module level (import cost, 2 cores): mlx (runs on the worker), mlx_lm ~3 s

TOKEN_EVENT_SECONDS = 0.02  # at most ~50 Token events a second, whatever the model's speed


@dataclass
class Sampling:
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    max_tokens: int = 256
    repetition_penalty: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()  # extra stop strings; the stop text is not part of the answer

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    def check(self) -> Sampling:
        """Raise a TuneDeckError for values mlx-lm would choke on."""
        if self.max_tokens < 1:
            raise TuneDeckError(f"max tokens must be at least 1, not {self.max_tokens}", "try 256")
        if self.temperature < 0:
            raise TuneDeckError(f"temperature must be 0 (greedy) or more, not {self.temperature}", "try 0.7")
        if not 0 < self.top_p <= 1:
            raise TuneDeckError(f"top-p must be in (0, 1], not {self.top_p}", "1.0 turns it off; try 0.9")
        if self.repetition_penalty is not None and self.repetition_penalty <= 0:
            raise TuneDeckError(
                f"repetition penalty must be positive, not {self.repetition_penalty}",
                "1.0 (or empty) turns it off; try 1.1",
            )
        return self

    def describe(self) -> str:
        temp = "greedy" if self.greedy else f"temperature {self.temperature:g}"
        parts = [temp]
        if not self.greedy and self.top_p < 1:
            parts.append(f"top-p {self.top_p:g}")
        parts.append(f"max {self.max_tokens} tokens")
        if self.repetition_penalty and self.repetition_penalty != 1:
            parts.append(f"repetition penalty {self.repetition_penalty:g}")
        if self.seed is not None:
            parts.append(f"seed {self.seed}")
        if self.stop:
            parts.append("stop " + ", ".join(repr(s) for s in self.stop))
        return " · ".join(parts)


def describe_stop(reason: str, max_tokens: int | None = None) -> str:
    """Why an answer ended, in words a user can act on."""
    if reason == "eos":
        return "end of answer (EOS)"
    if reason == "max_tokens":
        limit = f" ({max_tokens})" if max_tokens else ""
        return f"hit max tokens{limit} — the model did not end its answer; raise max tokens or train more"
    if reason == "stop_string":
        return "hit a stop string"
    if reason == "stopped":
        return "stopped by you"
    return reason


class StopMatcher:
    """Cut a stream of text pieces at the first stop string.

    A stop string can span several tokens, so text that might be the start
    of one is held back until the next piece shows whether it is.
    ``feed`` returns the text that is safe to show; ``hit`` is set once a
    stop string appeared (the stop text itself is never returned).
    """

    def __init__(self, stops: tuple[str, ...] | list[str]):
        self.stops = tuple(s for s in stops if s)
        self.held = ""
        self.hit: str | None = None

    def feed(self, piece: str) -> str:
        if self.hit is not None:
            return ""
        text = self.held + piece
        found = [(text.find(s), s) for s in self.stops if s in text]
        if found:
            at, self.hit = min(found)
            self.held = ""
            return text[:at]
        keep = 0
        for s in self.stops:
            for n in range(min(len(s) - 1, len(text)), keep, -1):
                if s.startswith(text[-n:]):
                    keep = n
                    break
        self.held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        """What was held back, once the stream ended without a stop string."""
        rest, self.held = self.held, ""
        return rest


class TokenBatcher:
    """Coalesce streamed text into fewer, larger pieces for ``send``.

    The first piece goes at once (the user sees the first token as soon as
    it exists), later ones at most every ``interval`` seconds; ``flush``
    sends what is left. Nothing is dropped or reordered.
    """

    def __init__(self, send, interval: float, clock=time.perf_counter):
        self.send, self.interval, self.clock = send, interval, clock
        self.unsent: list[str] = []
        self.sent_at: float | None = None

    def add(self, text: str) -> None:
        if not text:
            return
        self.unsent.append(text)
        now = self.clock()
        if self.sent_at is None or now - self.sent_at >= self.interval:
            self._send(now)

    def flush(self) -> None:
        if self.unsent:
            self._send(self.clock())

    def _send(self, now: float) -> None:
        text = "".join(self.unsent)
        self.unsent.clear()
        self.sent_at = now
        self.send(text)


@dataclass
class ChatModel:
    model_path: str
    adapter_path: str | None
    model: object
    tokenizer: object
    parameters: int

    @property
    def key(self) -> tuple:
        return (self.model_path, self.adapter_path)


def load_chat_model(model_path: str, adapter_path: str | None = None) -> ChatModel:
    from mlx_lm.utils import get_total_parameters  # mlx-lm's count: right for quantized weights

    model, tokenizer = load_model(model_path, adapter_path)
    params = get_total_parameters(model)
    return ChatModel(model_path, adapter_path, model, tokenizer, int(params))


def prompt_tokens(tokenizer, messages: list[dict]) -> list[int]:
    if tokenizer.has_chat_template:
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False)
    # No chat template (base models). mlx_lm.chat applies one regardless (and fails here); mlx_lm.generate
    # would encode the bare prompt. A role-tagged transcript keeps the turns apart for a base model.
    text = "\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\nassistant:"
    return tokenizer.encode(text)


def stream_reply(ctx, chat: ChatModel, messages: list[dict], sampling: Sampling) -> ev.GenerationFinished:
    import mlx.core as mx
    from mlx_lm import stream_generate
    from mlx_lm.sample_utils import make_logits_processors, make_sampler

    sampling.check()
    if sampling.seed is not None:
        mx.random.seed(sampling.seed)
    sampler = make_sampler(temp=sampling.temperature, top_p=sampling.top_p if 0 < sampling.top_p < 1 else 0.0)
    processors = (
        make_logits_processors(repetition_penalty=sampling.repetition_penalty)
        if sampling.repetition_penalty and sampling.repetition_penalty != 1
        else None
    )
    prompt = prompt_tokens(chat.tokenizer, messages)
    matcher = StopMatcher(sampling.stop)
    started = time.perf_counter()
    first = None
    parts: list[str] = []
    response = None
    stop_reason = "max_tokens"

    batcher = TokenBatcher(lambda text: ctx.emit(ev.Token(text=text)), TOKEN_EVENT_SECONDS)

    def emit(text: str) -> None:
        if text:
            parts.append(text)
            batcher.add(text)

    for response in stream_generate(
        chat.model,
        chat.tokenizer,
        prompt,
        max_tokens=sampling.max_tokens,
        sampler=sampler,
        logits_processors=processors,
    ):
        if first is None:
            first = time.perf_counter() - started
        emit(matcher.feed(response.text))
        if matcher.hit is not None:
            stop_reason = "stop_string"
            break
        if response.finish_reason == "stop":
            stop_reason = "eos"
        if ctx.cancelled:
            stop_reason = "stopped"
            break
    if matcher.hit is None:
        emit(matcher.flush())
    batcher.flush()
    done = ev.GenerationFinished(
        text="".join(parts),
        prompt_tokens=response.prompt_tokens if response else len(prompt),
        generation_tokens=response.generation_tokens if response else 0,
        tokens_per_second=response.generation_tps if response else 0.0,
        time_to_first_token=first or 0.0,
        stop_reason=stop_reason,
    )
    ctx.emit(done)
    return done
