"""Will LoRA training fit in this machine's memory? The one verdict.

Two numbers are judged the same way: the estimate below (from a model's
size, before anything is loaded: the model picker, the doctor) and the peak
that ``core.training.memory_probe`` measures by running real training steps.
Each is compared with the **budget**, what one process may use: on a Mac the
GPU's recommended working set (Metal's limit, about 75% of unified memory;
the probe reads the exact figure from MLX), elsewhere or when MLX cannot say,
75% of RAM (the OS and other apps need the rest). The verdict: **fits** up to
80% of the budget, **tight** up to 95%, **won't fit** beyond (room for the
app and allocator slack).

The estimate, in bytes, for LoRA training with mlx-lm's defaults:

    need = weights + activations + runtime

- ``weights``: parameters x bytes per parameter. 16-bit models (bf16/fp16)
  take 2 bytes; quantized ones take bits/8 plus one 16-bit scale and one
  16-bit bias per group of 64 weights (4-bit: 0.5 + 4/64 = 0.5625 bytes).
  LoRA freezes these; its own adapters, their gradients and Adam state are
  well under 1% of the model and are folded into ``runtime``.
- ``activations``: what backpropagation keeps per layer, roughly
  ``ACTIVATION_FACTOR`` hidden-size vectors of 2 bytes per token per layer
  (attention inputs/outputs, MLP intermediates, norms), for
  ``batch x tokens`` tokens. mlx-lm does not checkpoint gradients by
  default, so this grows with batch size and sequence length.
- ``runtime``: MLX, the tokenizer and Python, about 0.5 GB.

Real peaks depend on sequence lengths and the number of LoRA layers: the
memory check on the training screen measures them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

GiB = 2**30
ACTIVATION_FACTOR = 12
RUNTIME_BYTES = 0.5 * GiB
DEFAULT_BATCH = 4
DEFAULT_TOKENS = 512  # per example; text-to-SQL chat examples are shorter
FITS, TIGHT, WONT_FIT = "fits", "tight", "won't fit"
WORKING_SET_SHARE = 0.75  # Metal's default working-set limit, as a share of unified memory
FITS_SHARE = 0.80  # of the budget
TIGHT_SHARE = 0.95
# Starting settings by the weights' share of memory (core.training.settings.default_settings):
# under ROOMY batch 4 and 16 layers, under SNUG batch 2 and 8, else the tight-fit recipe.
ROOMY_WEIGHTS_SHARE = 0.05
SNUG_WEIGHTS_SHARE = 0.2
SMALL_MEMORY_BYTES = 8 * GiB  # below this the doctor suggests 0.5B or 4-bit models
UNKNOWN_MEMORY_BYTES = 8 * GiB  # assumed when the size cannot be read: the smallest Apple-silicon Mac


def budget(memory_bytes: int) -> float:
    """What training may use on a machine with this much memory, when MLX cannot say."""
    return WORKING_SET_SHARE * memory_bytes


def judge(need_bytes: float, budget_bytes: float) -> str:
    """fits | tight | won't fit, for an estimated or a measured need."""
    if need_bytes <= FITS_SHARE * budget_bytes:
        return FITS
    if need_bytes <= TIGHT_SHARE * budget_bytes:
        return TIGHT
    return WONT_FIT


def bytes_per_parameter(bits: int | None, dtype_bytes: float = 2.0) -> float:
    if bits:
        return bits / 8 + 2 * 2 / 64  # packed weights + fp16 scale and bias per 64
    return dtype_bytes


def weights_bytes(parameters: int, bits: int | None = None, dtype_bytes: float = 2.0) -> float:
    return parameters * bytes_per_parameter(bits, dtype_bytes)


@dataclass(frozen=True)
class Estimate:
    need_bytes: float
    memory_bytes: int | None
    verdict: str  # fits | tight | won't fit | "?" when memory is unknown

    @property
    def need_gb(self) -> float:
        return self.need_bytes / GiB

    def label(self) -> str:
        return f"~{self.need_gb:.1f} GB, {self.verdict}"


def training_need(
    parameters: int,
    hidden_size: int,
    layers: int,
    bits: int | None = None,
    batch: int = DEFAULT_BATCH,
    tokens: int = DEFAULT_TOKENS,
    dtype_bytes: float = 2.0,
) -> float:
    activations = batch * tokens * hidden_size * layers * 2 * ACTIVATION_FACTOR
    return weights_bytes(parameters, bits, dtype_bytes) + activations + RUNTIME_BYTES


def verdict(need_bytes: float, memory_bytes: int | None) -> str:
    """The verdict for a machine with ``memory_bytes`` of memory ("?" when unknown)."""
    if not memory_bytes:
        return "?"
    return judge(need_bytes, budget(memory_bytes))


def estimate(
    parameters: int,
    hidden_size: int,
    layers: int,
    bits: int | None = None,
    memory_bytes: int | None = None,
    dtype_bytes: float = 2.0,
) -> Estimate:
    memory_bytes = memory_bytes if memory_bytes is not None else total_memory()
    need = training_need(parameters, hidden_size, layers, bits, dtype_bytes=dtype_bytes)
    return Estimate(need, memory_bytes, verdict(need, memory_bytes))


def total_memory() -> int | None:
    """Physical (on a Mac: unified) memory in bytes, or None if unknown."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
