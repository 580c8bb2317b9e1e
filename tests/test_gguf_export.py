"""GGUF export (core.shipping.gguf): a fused demo Qwen2 and a Qwen2 whose
tokenizer has Qwen2's exact split rules, written and read back; refusals
(architecture, tokenizer, existing file), a full disk, a bad path, cancel;
and the llama.cpp runtime comparison where llama_cpp is installed (and how
its summary reads)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from core.runtime import events as ev
from core.runtime.errors import Cancelled, TuneDeckError

# Qwen2/Qwen2.5's tokenizer.json split rules, spelled out here (not taken
# from the code under test).
QWEN2_SPLIT = {
    "normalizer": {"type": "NFC"},
    "pre_tokenizer": {
        "type": "Sequence",
        "pretokenizers": [
            {
                "type": "Split",
                "pattern": {
                    "Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
                    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
                },
                "behavior": "Isolated",
                "invert": False,
            },
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        ],
    },
}
CHATML = (
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- endif %}"
)
STRINGS = [
    "How many singers are older than 40 ?",
    "SELECT count(*) FROM singer WHERE age > 40;",
    "<|im_start|>user\nhi<|im_end|>\n",
    "Ünïcödé 12345 \t tabs",
    "  ",
]


def _train_tokenizer(split: dict, vocab_size: int = 400):
    """A byte-level BPE with the given split rules, trained on the sample text."""
    from tokenizers import Tokenizer, decoders, pre_tokenizers, trainers

    from core.data.sample_data import corpus_text

    spec = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [],
        **split,
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {},
            "merges": [],
        },
    }
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus_text(n=300), trainer=trainer)
    return tok


def _qwen2_folder(dst: Path, split: dict = QWEN2_SPLIT, tied: bool = False) -> str:
    """A tiny Qwen2 (q/k/v biases; untied output by default) with its own tokenizer."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models import qwen2

    dst.mkdir(parents=True)
    tok = _train_tokenizer(split)
    tok.save(str(dst / "tokenizer.json"))
    (dst / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": None,
                "eos_token": "<|im_end|>",
                "pad_token": "<|endoftext|>",
                "chat_template": CHATML,
            }
        )
    )
    config = {
        "model_type": "qwen2",
        "architectures": ["Qwen2ForCausalLM"],
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": tok.get_vocab_size() + 6,
        "max_position_embeddings": 512,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": tied,
        "eos_token_id": tok.token_to_id("<|im_end|>"),
    }
    (dst / "config.json").write_text(json.dumps(config))
    mx.random.seed(1)
    weights = dict(tree_flatten(qwen2.Model(qwen2.ModelArgs.from_dict(config)).parameters()))
    mx.save_safetensors(str(dst / "model.safetensors"), weights, metadata={"format": "mlx"})
    return str(dst)


@pytest.fixture(scope="module")
def fused_demo(engine, demo_model, sample_data, tmp_path_factory):
    """The demo model after a short training run, fused (as the Judge screen does)."""
    from core.training.settings import demo_settings

    run = tmp_path_factory.mktemp("gguf-run")
    engine.train(
        demo_settings(demo_model, sample_data, str(run / "adapters"), iters=5, steps_per_eval=100, save_every=100)
    ).result(timeout=300)
    (run / "events.jsonl").write_text("")
    engine.fuse(demo_model, str(run / "adapters"), str(run / "fused"), verify=False).result(timeout=300)
    return run / "fused"


@pytest.fixture(scope="module")
def qwen2_model(engine, tmp_path_factory):
    return engine.worker.call(_qwen2_folder, tmp_path_factory.mktemp("qwen2") / "m")


def _reader(path):
    from gguf import GGUFReader

    reader = GGUFReader(path)
    return reader, {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}


def _source_names(folder) -> list[str]:
    import mlx.core as mx

    return sorted(mx.load(str(Path(folder) / "model.safetensors")))


def _hf(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


@pytest.mark.parametrize("gguf_type", ["f16", "q8_0"])
def test_fused_demo_exports_and_reads_back(engine, fused_demo, sample_data, tmp_path, gguf_type):
    from core.shipping.gguf import runtime_prompts
    from core.shipping.gguf.verify import tokenizer_from_gguf

    out = tmp_path / f"demo-{gguf_type}.gguf"
    result = engine.export_gguf(str(fused_demo), str(out), gguf_type).result(timeout=300)
    assert result.path == str(out) and all(c.ok for c in result.checks) and len(result.checks) == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temp file left
    assert result.runtime.ran is False and "pip install llama-cpp-python" in result.runtime.how
    prompts = runtime_prompts(fused_demo)  # what llama.cpp would be compared on: the adapter's test prompts
    assert (
        len(prompts) == 3
        and json.dumps(prompts[0][-1]["content"])[1:-1] in (Path(sample_data) / "test.jsonl").read_text()
    )

    reader, meta = _reader(out)
    config = json.loads((fused_demo / "config.json").read_text())
    assert meta["general.architecture"] == "qwen2" and meta["general.name"] == fused_demo.parent.name
    assert meta["qwen2.block_count"] == config["num_hidden_layers"] == 2
    assert meta["qwen2.embedding_length"] == config["hidden_size"]
    assert meta["qwen2.attention.head_count_kv"] == config["num_key_value_heads"]
    assert meta["tokenizer.ggml.model"] == "gpt2" and meta["tokenizer.ggml.pre"] == "qwen2"
    hf = _hf(fused_demo)
    assert meta["tokenizer.ggml.eos_token_id"] == hf.eos_token_id == hf.convert_tokens_to_ids("<|im_end|>")
    assert "<|im_start|>" in meta["tokenizer.chat_template"]
    names = {t.name: t for t in reader.tensors}
    # Every source weight has its tensor (tied embeddings: no output.weight), q/k/v biases included.
    assert len(names) == len(_source_names(fused_demo)) and "output.weight" not in names
    assert "blk.1.attn_q.bias" in names and "blk.1.attn_v.bias" in names
    assert [int(d) for d in names["token_embd.weight"].shape] == [config["hidden_size"], config["vocab_size"]]
    want = "Q8_0" if gguf_type == "q8_0" else "F16"
    assert names["blk.0.ffn_down.weight"].tensor_type.name == want
    assert names["blk.0.attn_norm.weight"].tensor_type.name == "F32"

    # The file's own vocabulary and merges tokenize like the model's tokenizer.
    rebuilt = tokenizer_from_gguf(reader)
    for text in STRINGS:
        assert rebuilt.encode(text, add_special_tokens=False).ids == hf.encode(text, add_special_tokens=False), text


def test_qwen2_split_rules_are_identified_and_others_refused(engine, qwen2_model, tmp_path):
    from transformers import PreTrainedTokenizerFast

    from core.shipping.gguf.pretokenizer import LLAMA_CPP_HASHES, identify, llama_cpp_hash
    from core.shipping.gguf.verify import tokenizer_from_gguf

    hf = _hf(qwen2_model)
    pre = identify(hf, qwen2_model)
    # Its own vocabulary: llama.cpp's id hash cannot know it; the split rules can.
    assert pre.name == "qwen2" and pre.how == "split rules" and pre.hash == llama_cpp_hash(hf)
    assert pre.hash not in LLAMA_CPP_HASHES

    out = tmp_path / "q.gguf"
    result = engine.export_gguf(qwen2_model, str(out), "q4_0").result(timeout=300)
    assert all(c.ok for c in result.checks) and result.pre_tokenizer == "qwen2"
    reader, meta = _reader(out)
    names = {t.name: t.tensor_type.name for t in reader.tensors}
    assert names["output.weight"] == "Q8_0" and names["blk.0.attn_q.weight"] == "Q4_0"  # untied head kept
    tokens = meta["tokenizer.ggml.tokens"]
    assert len(tokens) == json.loads(Path(qwen2_model, "config.json").read_text())["vocab_size"]
    assert tokens[-1].startswith("[PAD")  # ids past the tokenizer's are padding, as llama.cpp writes them
    rebuilt = tokenizer_from_gguf(reader)
    for text in STRINGS:
        assert rebuilt.encode(text, add_special_tokens=False).ids == hf.encode(text, add_special_tokens=False), text

    # Llama 3's digit rule (\p{N}{1,3}) is a different pre-tokenizer: refused, not guessed.
    other = json.loads(json.dumps(QWEN2_SPLIT).replace("\\\\p{N}|", "\\\\p{N}{1,3}|"))
    assert other != QWEN2_SPLIT
    wrapped = PreTrainedTokenizerFast(tokenizer_object=_train_tokenizer(other, vocab_size=300))
    with pytest.raises(TuneDeckError, match="not one TuneDeck can name for llama.cpp") as err:
        identify(wrapped, "elsewhere")
    assert "convert_hf_to_gguf.py" in err.value.hint


def test_unsupported_models_get_a_message_not_a_traceback(cli, engine, demo_model, tmp_path):
    import shutil

    phi = tmp_path / "phi"
    shutil.copytree(demo_model, phi)
    config = json.loads((phi / "config.json").read_text())
    (phi / "config.json").write_text(json.dumps({**config, "model_type": "phi3"}))
    proc = cli("export", "--model", phi, "--gguf", tmp_path / "p.gguf")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "qwen2, llama and mistral" in proc.stderr and "'phi3'" in proc.stderr
    assert "convert_hf_to_gguf.py" in proc.stderr and not (tmp_path / "p.gguf").exists()

    # A SentencePiece-style tokenizer (byte fallback) is named as what is missing.
    (phi / "config.json").write_text(json.dumps({**config, "model_type": "mistral"}))
    spec = json.loads((phi / "tokenizer.json").read_text())
    spec["model"]["byte_fallback"] = True
    (phi / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(TuneDeckError, match="SentencePiece"):
        engine.export_gguf(str(phi), str(tmp_path / "m.gguf")).result(timeout=120)
    with pytest.raises(TuneDeckError, match="unknown GGUF type"):
        engine.export_gguf(demo_model, str(tmp_path / "m.gguf"), "q2_k").result(timeout=60)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["phi"]


def test_existing_file_cancel_bad_path_and_full_disk_leave_no_gguf(engine, demo_model, tmp_path):
    mine = tmp_path / "mine.gguf"
    mine.write_text("keep me")
    for replace in (False, True):  # a file TuneDeck did not write is never replaced
        with pytest.raises(TuneDeckError, match="a file TuneDeck did not write"):
            engine.export_gguf(demo_model, str(mine), replace=replace).result(timeout=60)
    assert mine.read_text() == "keep me"
    own = tmp_path / "own.gguf"
    engine.export_gguf(demo_model, str(own)).result(timeout=120)
    written = own.read_bytes()
    with pytest.raises(TuneDeckError, match="already exists") as err:
        engine.export_gguf(demo_model, str(own)).result(timeout=60)
    assert err.value.replaceable  # ours: the CLI offers --overwrite, the dialog its replace box

    def cancel_while_writing(event):
        if isinstance(event, ev.Progress) and event.message.startswith("writing") and event.done:
            job.cancel()

    engine.add_listener(cancel_while_writing)
    try:
        job = engine.export_gguf(demo_model, str(own), replace=True)
        with pytest.raises(Cancelled):
            job.result(timeout=120)
    finally:
        engine.remove_listener(cancel_while_writing)
    assert own.read_bytes() == written and mine.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.gguf", "own.gguf"]

    (tmp_path / "afile").write_text("")
    with pytest.raises(TuneDeckError, match="cannot write"):
        engine.export_gguf(demo_model, str(tmp_path / "afile" / "x.gguf")).result(timeout=60)

    full = tmp_path / "full"
    full.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(full)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("needs root and tmpfs to fill a disk")
    try:
        with pytest.raises(TuneDeckError, match="disk full while writing"):  # the demo's f16 file is ~360 kB
            engine.export_gguf(demo_model, str(full / "d.gguf")).result(timeout=120)
        assert list(full.iterdir()) == []
    finally:
        subprocess.run(["umount", str(full)], check=True)


def test_quantized_base_is_dequantized_and_the_user_told(engine, demo_model, tmp_path):
    def quantize():
        from mlx_lm import convert

        convert(demo_model, str(tmp_path / "q4"), quantize=True, q_group_size=32, q_bits=4)

    engine.worker.call(quantize)
    result = engine.export_gguf(str(tmp_path / "q4"), str(tmp_path / "q4.gguf"), "bf16").result(timeout=300)
    assert result.dequantized and "dequantized to full precision" in result.notes[0]
    assert all(c.ok for c in result.checks)
    reader, _ = _reader(tmp_path / "q4.gguf")
    assert {t.tensor_type.name for t in reader.tensors} == {"BF16", "F32"}
    assert not [t.name for t in reader.tensors if "scales" in t.name or "biases" in t.name]


def test_llama_cpp_runs_the_file_like_mlx(engine, fused_demo, tmp_path):
    """Only where llama-cpp-python is installed (it compiles llama.cpp for
    ~20 minutes on 2 cores, so it is not a default dependency)."""
    pytest.importorskip("llama_cpp")
    result = engine.export_gguf(str(fused_demo), str(tmp_path / "d.gguf")).result(timeout=600)
    runtime = result.runtime
    assert runtime.ran and len(runtime.prompts) == 3
    assert all(p.same_tokens for p in runtime.prompts), runtime  # llama.cpp's tokenizer = HF's
    assert runtime.all_match, runtime  # greedy text from the f16 file = MLX's


def test_mistral_is_written_as_llama_with_permuted_q_and_k(engine, demo_model, tmp_path):
    """llama.cpp runs Mistral as llama, whose rope pairs rows differently
    from Hugging Face: q and k rows are permuted per head, v is not."""
    import shutil

    import gguf
    import numpy as np

    def build():
        import mlx.core as mx
        from mlx.utils import tree_flatten
        from mlx_lm.models import llama

        folder = tmp_path / "mistral"
        shutil.copytree(demo_model, folder)
        config = {
            **json.loads((folder / "config.json").read_text()),
            "model_type": "mistral",
            "architectures": ["MistralForCausalLM"],
        }
        (folder / "config.json").write_text(json.dumps(config))
        mx.random.seed(2)
        weights = dict(tree_flatten(llama.Model(llama.ModelArgs.from_dict(config)).parameters()))
        mx.save_safetensors(str(folder / "model.safetensors"), weights)
        return config, {k: np.array(v) for k, v in weights.items() if k.startswith("model.layers.0.self_attn")}

    config, source = engine.worker.call(build)
    result = engine.export_gguf(str(tmp_path / "mistral"), str(tmp_path / "m.gguf")).result(timeout=120)
    assert result.architecture == "llama" and all(c.ok for c in result.checks)
    reader, meta = _reader(tmp_path / "m.gguf")
    assert meta["general.architecture"] == "llama" and meta["llama.rope.dimension_count"] == 64 // 4
    tensors = {t.name: gguf.quants.dequantize(t.data, t.tensor_type) for t in reader.tensors}

    def permuted(w, heads):
        return w.reshape(heads, 2, w.shape[0] // heads // 2, w.shape[1]).swapaxes(1, 2).reshape(w.shape)

    for name, heads in (("q_proj", config["num_attention_heads"]), ("k_proj", config["num_key_value_heads"])):
        want = permuted(source[f"model.layers.0.self_attn.{name}.weight"], heads)
        got = tensors[f"blk.0.attn_{name[0]}.weight"].reshape(want.shape)
        assert np.allclose(got, want, atol=1e-3) and not np.allclose(
            got, source[f"model.layers.0.self_attn.{name}.weight"], atol=1e-3
        )
    v = source["model.layers.0.self_attn.v_proj.weight"]
    assert np.allclose(tensors["blk.0.attn_v.weight"].reshape(v.shape), v, atol=1e-3)


def test_summary_says_where_llama_cpp_and_mlx_differ():
    """The llama.cpp comparison as the user reads it (the runtime itself is
    optional, so its report is built here)."""
    from core.shipping.gguf import GgufResult, summary_lines
    from core.shipping.gguf.verify import Check, PromptParity, RuntimeParity

    runtime = RuntimeParity(
        ran=True,
        prompts=[
            PromptParity(prompt="a", same_tokens=True, match=True, mlx="SELECT 1", llama_cpp="SELECT 1"),
            PromptParity(prompt="b", same_tokens=False, match=False, mlx="SELECT 2", llama_cpp="SELECT 3"),
        ],
    )
    assert not runtime.all_match and RuntimeParity(ran=True, prompts=runtime.prompts[:1]).all_match
    result = GgufResult(
        path="m.gguf",
        bytes=2048,
        type="f16",
        architecture="qwen2",
        model_type="qwen2",
        pre_tokenizer="qwen2",
        pre_tokenizer_how="split rules",
        tensors=3,
        dequantized=False,
        checks=[Check("the tensor table", True)],
        runtime=runtime,
    )
    assert summary_lines(result) == [
        "wrote m.gguf (2,048 bytes, f16, qwen2, 3 tensors; pre-tokenizer 'qwen2', known by its split rules)",
        "checked: the tensor table",
        "llama.cpp vs MLX, prompt 1: match ('SELECT 1')",
        "llama.cpp vs MLX, prompt 2: DIFFERS (prompt tokens DIFFER) - MLX 'SELECT 2', llama.cpp 'SELECT 3'",
    ]
