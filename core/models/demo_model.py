"""The embedded demo model: a tiny Qwen2 built here in seconds, no download.

It is a real Hugging Face-layout model folder (config.json, model.safetensors,
tokenizer.json, tokenizer_config.json with a ChatML chat template) that
``mlx_lm.load`` and ``mlx_lm.lora --model`` accept. Weights are random with a
fixed seed; the byte-level BPE tokenizer is trained on the sample dataset's
text, so SQL and schema words are short token sequences and LoRA training
shows a clearly falling loss within a hundred iterations.

Heavy imports (mlx, tokenizers) happen inside ``build`` because this module
may be imported on the UI's path; call ``build`` on the MLX worker thread.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from core.data.sample_data import corpus_text
from core.runtime.targets import DEMO_MODEL, claim, write_folder

# Imported where used (import cost, 2 cores): mlx (runs on the worker), mlx_lm ~3 s, tokenizers ~0.05 s

DEMO_NAME = "tunedeck-demo"
MARKER = DEMO_MODEL.marker  # written into the folder; identifies a demo build

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# ChatML, as Qwen2.5-Instruct uses (without its default system prompt).
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


@dataclass(frozen=True)
class DemoSpec:
    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 192
    vocab_size: int = 1024
    seed: int = 0


SIZES = {
    # ~0.17M params: 100 LoRA iterations in ~20 s on 2 CPU cores (reference BLAS).
    "tiny": DemoSpec(),
    # ~30M params, built the same way: the compute-bound case for benchmarks.
    "large": DemoSpec(
        hidden_size=512,
        num_hidden_layers=8,
        num_attention_heads=8,
        num_key_value_heads=4,
        intermediate_size=1536,
        vocab_size=4096,
    ),
}


def is_demo_model(path: str | Path) -> bool:
    return (Path(path) / MARKER).is_file()


def _train_tokenizer(spec: DemoSpec):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus_text(seed=spec.seed), trainer=trainer)
    return tok


def _model_config(spec: DemoSpec, vocab_size: int, eos_id: int, bos_id: int) -> dict:
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "hidden_size": spec.hidden_size,
        "intermediate_size": spec.intermediate_size,
        "num_hidden_layers": spec.num_hidden_layers,
        "num_attention_heads": spec.num_attention_heads,
        "num_key_value_heads": spec.num_key_value_heads,
        "vocab_size": vocab_size,
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": True,
        "hidden_act": "silu",
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "torch_dtype": "float32",
    }


def build(out_dir: str | Path, size: str = "tiny", progress=None, overwrite: bool = False) -> Path:
    """Build the demo model into ``out_dir`` under the write rule
    (``core.runtime.targets``): a new or empty folder, or (``overwrite``) an earlier
    demo model, replaced atomically."""
    claim(out_dir, DEMO_MODEL, overwrite)  # refuse at once, not after the imports and the build
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models import qwen2

    if size not in SIZES:
        raise ValueError(f"unknown demo size {size!r}; choose one of {', '.join(SIZES)}")
    spec = SIZES[size]
    report = progress or (lambda _msg: None)
    out_dir = Path(out_dir)
    with write_folder(out_dir, DEMO_MODEL, overwrite) as draft:
        tmp = draft.path
        report("training the tokenizer on the sample data")
        tok = _train_tokenizer(spec)
        vocab = tok.get_vocab_size()
        eos_id = tok.token_to_id("<|im_end|>")
        pad_id = tok.token_to_id("<|endoftext|>")
        tok.save(str(tmp / "tokenizer.json"))
        (tmp / "tokenizer_config.json").write_text(
            json.dumps(
                {
                    "tokenizer_class": "PreTrainedTokenizerFast",
                    "model_max_length": 2048,
                    "bos_token": None,
                    "eos_token": "<|im_end|>",
                    "pad_token": "<|endoftext|>",
                    "unk_token": None,
                    "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
                    "chat_template": CHAT_TEMPLATE,
                    "clean_up_tokenization_spaces": False,
                },
                indent=2,
            )
            + "\n"
        )
        (tmp / "special_tokens_map.json").write_text(
            json.dumps(
                {
                    "eos_token": "<|im_end|>",
                    "pad_token": "<|endoftext|>",
                    "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
                },
                indent=2,
            )
            + "\n"
        )
        config = _model_config(spec, vocab, eos_id, pad_id)
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        (tmp / "generation_config.json").write_text(
            json.dumps({"eos_token_id": [eos_id, pad_id], "pad_token_id": pad_id}, indent=2) + "\n"
        )

        report("initialising Qwen2 weights")
        mx.random.seed(spec.seed)
        model = qwen2.Model(qwen2.ModelArgs.from_dict(config))
        weights = dict(tree_flatten(model.parameters()))
        mx.eval(weights)
        mx.save_safetensors(str(tmp / "model.safetensors"), weights, metadata={"format": "mlx"})
        n_params = sum(v.size for v in weights.values())
        draft.marker.update({"size": size, "parameters": n_params, **asdict(spec)})
        (tmp / "README.md").write_text(
            f"# {DEMO_NAME} ({size})\n\nA randomly initialised Qwen2 model with "
            f"{n_params:,} parameters and a BPE tokenizer trained on TuneDeck's\n"
            "generated text-to-SQL sample. Built offline by `tunedeck demo-model`; "
            "it exists to exercise\nthe fine-tuning pipeline, not to be useful on its own.\n"
        )
    report("done")
    return out_dir
