"""Time GGUF export on a Qwen2.5-0.5B-shaped model with the real Qwen2 vocabulary.

    python -m bench.gguf_export_bench LLAMA_CPP_MODELS_DIR WORK_DIR [f16 q8_0 q4_0 ...]

Builds (once) ``WORK_DIR/qwen05``: Qwen2.5-0.5B's shape (494,032,768
parameters, 24 layers, tied embeddings), random bf16 weights and the
tokenizer rebuilt from llama.cpp's ``ggml-vocab-qwen2.gguf`` (how to get that
folder: ``bench/gguf_vocab_check.py``), so the pre-tokenizer is found
through llama.cpp's hash table as for a real Qwen2.5 fine-tune. Then each
type is exported with the same code as ``tunedeck export --gguf`` and timed
(wall seconds, including the read-back checks). Needs ~1 GB for the model
and ~2 GB for the files; say which BLAS and how loaded the machine was.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

CHATML = (
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- endif %}"
)
CONFIG = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0,
    "tie_word_embeddings": True,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "torch_dtype": "bfloat16",
}


def build(models: Path, out: Path) -> None:
    import mlx.core as mx
    from gguf import GGUFReader
    from mlx.utils import tree_flatten
    from mlx_lm.models import qwen2
    from transformers import PreTrainedTokenizerFast

    from core.shipping.gguf.verify import tokenizer_from_gguf

    out.mkdir(parents=True, exist_ok=True)
    tok = tokenizer_from_gguf(GGUFReader(models / "ggml-vocab-qwen2.gguf"))
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    hf.chat_template = CHATML
    hf.save_pretrained(out)
    (out / "config.json").write_text(json.dumps(CONFIG, indent=1))
    mx.random.seed(0)
    weights = {
        k: v.astype(mx.bfloat16) for k, v in tree_flatten(qwen2.Model(qwen2.ModelArgs.from_dict(CONFIG)).parameters())
    }
    mx.save_safetensors(str(out / "model.safetensors"), weights, metadata={"format": "mlx"})


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print(__doc__)
        return 2
    from core.runtime.blas import maybe_preload

    maybe_preload()
    from core.runtime.worker import JobContext
    from core.shipping.gguf import export_gguf

    models, work = Path(args[0]), Path(args[1])
    model = work / "qwen05"
    if not (model / "model.safetensors").is_file():
        build(models, model)
    ctx = JobContext(0, "bench", threading.Event(), lambda event: None)
    for gguf_type in args[2:] or ["f16", "q8_0", "q4_0"]:
        start = time.perf_counter()
        result = export_gguf(ctx, str(model), str(work / f"qwen05-{gguf_type}.gguf"), gguf_type, replace=True)
        print(
            f"{gguf_type}: {time.perf_counter() - start:.1f} s, {result.bytes:,} bytes, pre-tokenizer "
            f"{result.pre_tokenizer!r} by {result.pre_tokenizer_how}, "
            f"{sum(c.ok for c in result.checks)}/{len(result.checks)} checks",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
