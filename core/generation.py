"""Chat generation with mlx-lm: load a model (+ adapter) and stream a reply.

Runs on the MLX worker thread only. Tokens are emitted as ``Token`` events as
``mlx_lm.stream_generate`` yields them; the cancel flag is checked between
tokens so Esc stops at once and keeps what was produced.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from core import events as ev
from core.errors import TuneDeckError
from core.model_folder import check_model_folder


@dataclass
class Sampling:
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    max_tokens: int = 256
    repetition_penalty: float | None = None
    seed: int | None = None


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
    from mlx.utils import tree_flatten
    from mlx_lm import load

    check_model_folder(model_path)
    if adapter_path is not None:
        adapter = Path(adapter_path)
        if not (adapter / "adapters.safetensors").is_file() or not (adapter / "adapter_config.json").is_file():
            raise TuneDeckError(f"no trained adapter in {adapter_path}",
                                "train first, or point at a folder with adapters.safetensors and adapter_config.json")
    try:
        model, tokenizer = load(model_path, adapter_path=adapter_path)
    except ValueError as exc:  # e.g. an adapter trained for another model
        raise TuneDeckError(f"could not load {Path(model_path).name}"
                            + (f" with the adapter in {adapter_path}" if adapter_path else "") + f": {exc}",
                            "use the adapter with the base model it was trained on") from exc
    params = sum(v.size for _, v in tree_flatten(model.parameters()))
    return ChatModel(model_path, adapter_path, model, tokenizer, int(params))


def prompt_tokens(tokenizer, messages: list[dict]) -> list[int]:
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False)
    # No chat template (base models): a plain transcript, as mlx-lm's chat does.
    text = "\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\nassistant:"
    return tokenizer.encode(text)


def stream_reply(ctx, chat: ChatModel, messages: list[dict], sampling: Sampling) -> ev.GenerationFinished:
    import mlx.core as mx
    from mlx_lm import stream_generate
    from mlx_lm.sample_utils import make_logits_processors, make_sampler

    if sampling.seed is not None:
        mx.random.seed(sampling.seed)
    sampler = make_sampler(temp=sampling.temperature,
                           top_p=sampling.top_p if 0 < sampling.top_p < 1 else 0.0)
    processors = make_logits_processors(repetition_penalty=sampling.repetition_penalty) \
        if sampling.repetition_penalty else None
    prompt = prompt_tokens(chat.tokenizer, messages)
    started = time.perf_counter()
    first = None
    parts: list[str] = []
    response = None
    stop_reason = "max_tokens"
    for response in stream_generate(chat.model, chat.tokenizer, prompt, max_tokens=sampling.max_tokens,
                                    sampler=sampler, logits_processors=processors):
        if first is None:
            first = time.perf_counter() - started
        if response.text:
            parts.append(response.text)
            ctx.emit(ev.Token(text=response.text))
        if response.finish_reason == "stop":
            stop_reason = "eos"
        if ctx.cancelled:
            stop_reason = "stopped"
            break
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
