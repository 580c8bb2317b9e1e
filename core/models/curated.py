"""A short list of instruct models that fit small machines, for the picker.

Sizes are the hub's published figures (rounded): they let the picker show a
download size and a memory estimate before anything is fetched. ``gated``
models need accepting their licence on the hub and a login.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.runtime.memory import Estimate, estimate, weights_bytes


@dataclass(frozen=True)
class Curated:
    repo_id: str
    parameters: int
    hidden_size: int
    layers: int
    model_type: str
    bits: int | None = None  # None: 16-bit weights (LoRA); 4: QLoRA
    gated: bool = False
    note: str = ""

    @property
    def download_bytes(self) -> float:
        return weights_bytes(self.parameters, self.bits)

    def estimate(self, memory_bytes: int | None = None) -> Estimate:
        return estimate(self.parameters, self.hidden_size, self.layers, self.bits, memory_bytes)


def _qwen(size: str, params: int, hidden: int, layers: int) -> list[Curated]:
    name = f"Qwen2.5-{size}-Instruct"
    return [
        Curated(f"Qwen/{name}", params, hidden, layers, "qwen2", note="the recipe's model" if size == "0.5B" else ""),
        Curated(f"mlx-community/{name}-4bit", params, hidden, layers, "qwen2", bits=4, note="QLoRA"),
    ]


CURATED: tuple[Curated, ...] = (
    *_qwen("0.5B", 494_000_000, 896, 24),
    *_qwen("1.5B", 1_540_000_000, 1536, 28),
    *_qwen("3B", 3_090_000_000, 2048, 36),
    *_qwen("7B", 7_620_000_000, 3584, 28),
    Curated("HuggingFaceTB/SmolLM2-360M-Instruct", 362_000_000, 960, 32, "llama"),
    Curated("HuggingFaceTB/SmolLM2-1.7B-Instruct", 1_710_000_000, 2048, 24, "llama"),
    Curated("mlx-community/Llama-3.2-1B-Instruct-4bit", 1_240_000_000, 2048, 16, "llama", bits=4, note="QLoRA"),
    Curated("mlx-community/Llama-3.2-3B-Instruct-4bit", 3_210_000_000, 3072, 28, "llama", bits=4, note="QLoRA"),
    Curated("meta-llama/Llama-3.2-1B-Instruct", 1_240_000_000, 2048, 16, "llama", gated=True),
    Curated("meta-llama/Llama-3.2-3B-Instruct", 3_210_000_000, 3072, 28, "llama", gated=True),
    Curated("google/gemma-3-1b-it", 1_000_000_000, 1152, 26, "gemma3_text", gated=True),
)


def find(repo_id: str) -> Curated | None:
    return next((c for c in CURATED if c.repo_id == repo_id), None)
