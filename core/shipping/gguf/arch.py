"""What each supported architecture writes: hyper-parameters and tensors.

Facts follow llama.cpp's converter (``Qwen2Model`` and ``LlamaModel`` in its
``convert_hf_to_gguf.py`` / ``conversion/``): Mistral models are written as
the ``llama`` architecture; llama/mistral q/k projections are permuted from
Hugging Face's rotate-half layout to the interleaved one llama.cpp's rope
expects (Qwen2 uses llama.cpp's NeoX rope and keeps them as they are); a
Llama 3.1-style ``rope_scaling`` becomes a ``rope_freqs`` tensor. Tensor
names come from gguf-py's ``get_tensor_name_map``. Tied embeddings need
nothing: without ``output.weight`` llama.cpp reuses ``token_embd.weight``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.runtime.errors import TuneDeckError

if TYPE_CHECKING:  # for annotations only
    import numpy as np

# Imported where used, not at module level (import cost, 2 cores): gguf ~0.7 s, numpy ~0.3 s

# model_type in config.json -> GGUF architecture name
ARCHITECTURES = {"qwen2": "qwen2", "llama": "llama", "mistral": "llama"}


def unsupported(config: dict) -> str | None:
    """Why this model cannot be written as GGUF here, or None."""
    model_type = config.get("model_type", "?")
    if model_type not in ARCHITECTURES:
        return (
            f"TuneDeck writes GGUF for qwen2, llama and mistral models; this one is {model_type!r} "
            f"(no tensor-name map or hyper-parameters for it here)"
        )
    rope = config.get("rope_scaling") or {}
    kind = rope.get("rope_type", rope.get("type"))
    allowed = {
        "qwen2": (None, "default", "yarn"),
        "llama": (None, "default", "linear", "llama3"),
        "mistral": (None, "default", "linear", "llama3"),
    }[model_type]
    if kind not in allowed:
        only = ", ".join(str(k) for k in allowed[1:])
        return f"rope scaling {kind!r} is not written for {model_type} models (only {only})"
    if config.get("num_local_experts") or config.get("num_experts"):
        return f"mixture-of-experts {model_type} models are not written (no expert tensors here)"
    return None


def _head_dim(config: dict) -> int:
    return config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]


def add_hparams(writer, config: dict, n_layers: int) -> None:
    """The hyper-parameters llama.cpp reads for this architecture."""
    import gguf

    arch = ARCHITECTURES[config["model_type"]]
    heads = config["num_attention_heads"]
    writer.add_context_length(config.get("max_position_embeddings", 2048))
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(n_layers)
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.get("num_key_value_heads", heads))
    writer.add_rope_freq_base(config.get("rope_theta", 10000.0))
    writer.add_layer_norm_rms_eps(config.get("rms_norm_eps", 1e-6))
    if config.get("head_dim"):
        writer.add_key_length(config["head_dim"])
        writer.add_value_length(config["head_dim"])
    rope = config.get("rope_scaling") or {}
    kind = rope.get("rope_type", rope.get("type"))
    if arch == "llama":
        writer.add_vocab_size(config["vocab_size"])
        writer.add_rope_dimension_count(_head_dim(config))
        if kind == "linear":
            writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            writer.add_rope_scaling_factor(rope["factor"])
    elif kind == "yarn":
        writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        writer.add_rope_scaling_factor(rope["factor"])
        writer.add_rope_scaling_orig_ctx_len(rope["original_max_position_embeddings"])


def expected_hparams(config: dict, n_layers: int) -> dict:
    """What ``add_hparams`` writes, by GGUF key, for read-back checks."""
    arch = ARCHITECTURES[config["model_type"]]
    heads = config["num_attention_heads"]
    out = {
        f"{arch}.context_length": config.get("max_position_embeddings", 2048),
        f"{arch}.embedding_length": config["hidden_size"],
        f"{arch}.block_count": n_layers,
        f"{arch}.feed_forward_length": config["intermediate_size"],
        f"{arch}.attention.head_count": heads,
        f"{arch}.attention.head_count_kv": config.get("num_key_value_heads", heads),
        f"{arch}.rope.freq_base": float(config.get("rope_theta", 10000.0)),
        f"{arch}.attention.layer_norm_rms_epsilon": float(config.get("rms_norm_eps", 1e-6)),
    }
    if arch == "llama":
        out[f"{arch}.vocab_size"] = config["vocab_size"]
        out[f"{arch}.rope.dimension_count"] = _head_dim(config)
    return out


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Rotate-half (HF) to interleaved (llama.cpp) rows, per head."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


@dataclass
class TensorPlan:
    source: str  # parameter name in the MLX model ("" for a generated tensor)
    name: str  # GGUF tensor name
    transform: Callable[[np.ndarray], np.ndarray] | None = None
    generate: Callable[[], np.ndarray] | None = None


def _llama3_rope_freqs(config: dict) -> np.ndarray:
    """Per-frequency factors for Llama 3.1-style rope scaling (as llama.cpp's
    converter computes them into ``rope_freqs.weight``)."""
    import numpy as np

    rope = config["rope_scaling"]
    base = config.get("rope_theta", 10000.0)
    dim = _head_dim(config)
    factor = rope.get("factor", 8.0)
    low, high = rope.get("low_freq_factor", 1.0), rope.get("high_freq_factor", 4.0)
    old_ctx = rope.get("original_max_position_embeddings", 8192)
    low_wavelen, high_wavelen = old_ctx / low, old_ctx / high
    out = []
    for freq in 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim)):
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            out.append(1.0)
        elif wavelen > low_wavelen:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def tensor_plan(config: dict, names: list[str], n_layers: int) -> list[TensorPlan]:
    """Every GGUF tensor, in file order, with where it comes from."""
    import gguf

    arch = ARCHITECTURES[config["model_type"]]
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2 if arch == "qwen2" else gguf.MODEL_ARCH.LLAMA, n_layers)
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads", heads)
    plans = []
    unmapped = []
    for source in names:
        if source.endswith(".rotary_emb.inv_freq"):
            continue  # recomputed by llama.cpp from the rope hyper-parameters
        name = name_map.get_name(source, try_suffixes=(".weight", ".bias"))
        if name is None:
            unmapped.append(source)
            continue
        transform = None
        if arch == "llama" and source.endswith(("q_proj.weight", "q_proj.bias")):
            transform = lambda w: _permute(w, heads)  # noqa: E731
        elif arch == "llama" and source.endswith(("k_proj.weight", "k_proj.bias")):
            transform = lambda w: _permute(w, kv_heads)  # noqa: E731
        plans.append(TensorPlan(source, name, transform))
    if unmapped:
        raise TuneDeckError(
            f"{len(unmapped)} weights have no GGUF name for {arch}: {', '.join(unmapped[:3])}…",
            "the model has parts llama.cpp's layout for this architecture does not have; use llama.cpp's converter",
        )
    rope = config.get("rope_scaling") or {}
    if rope.get("rope_type", rope.get("type")) == "llama3":
        plans.append(TensorPlan("", "rope_freqs.weight", generate=lambda: _llama3_rope_freqs(config)))
    return plans
