"""GGUF export for qwen2 (Qwen2, Qwen2.5), llama and mistral, with gguf-py.

One code path for all three (``arch`` for hyper-parameters and tensors,
``vocab`` + ``pretokenizer`` for the tokenizer, ``writer`` for the file,
``verify`` for the read-back). mlx-lm's own writer (``mlx_lm.gguf``) is not
used: it writes every tokenizer as a SentencePiece one with placeholder
scores and no merges or pre-tokenizer name (wrong for Llama 3's byte-level
BPE), only F16, no chat template, and it has no Qwen2.

The file is written to a temp sibling, read back and checked, and only then
renamed into place: a failed check, a cancel, a full disk or a bad path
leave no ``.gguf`` behind. Runs on the MLX worker thread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from core.runtime.errors import TuneDeckError
from core.runtime.targets import GGUF, claim, file_draft
from core.shipping.fuse import FALLBACK_PROMPTS, verify_prompts
from core.shipping.gguf import arch, verify, writer
from core.shipping.gguf.arch import unsupported as arch_unsupported
from core.shipping.gguf.vocab import load_hf_tokenizer, read_vocab
from core.shipping.lmstudio import check_export_source, default_name, lmstudio_root
from core.shipping.provenance import check_fused

# Imported where used, not at module level (import cost, 2 cores): mlx (runs on the worker), mlx_lm ~3 s

TYPES = ("f16", "bf16", "q8_0", "q4_0")  # tensor types a file can be written in
DEFAULT_TYPE = "f16"


@dataclass(frozen=True)
class GgufResult:
    path: str
    bytes: int
    type: str  # one of TYPES
    architecture: str  # as GGUF names it (mistral is written as llama)
    model_type: str  # the model's own (config.json)
    pre_tokenizer: str
    pre_tokenizer_how: str  # how the pre-tokenizer was known ("llama.cpp hash", ...)
    tensors: int
    dequantized: bool  # the fused model was MLX-quantized
    checks: list[verify.Check]  # the read-back
    runtime: verify.RuntimeParity  # llama.cpp vs MLX, when llama_cpp is installed
    notes: list[str] = field(default_factory=list)


def converter_steps(fused: str | Path, out: str | Path) -> list[str]:
    """llama.cpp's documented route, for what TuneDeck does not write."""
    return [
        "git clone https://github.com/ggml-org/llama.cpp",
        "pip install -r llama.cpp/requirements.txt",
        f"python llama.cpp/convert_hf_to_gguf.py {fused} --outfile {out} --outtype f16",
    ]


def _config(folder: Path) -> dict:
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except ValueError as exc:
        raise TuneDeckError(
            f"{folder / 'config.json'} is not valid JSON: {exc}", "repair or re-fuse the model"
        ) from exc


def unsupported(folder: str | Path) -> str | None:
    """Why this folder's architecture cannot be written, or None (also None
    for a folder that cannot be read: the export reports that itself)."""
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return arch_unsupported(config) if isinstance(config, dict) else None


def default_file_name(name: str, gguf_type: str) -> str:
    return f"{name}-{gguf_type}.gguf"


def lmstudio_gguf_path(name: str, gguf_type: str, root: str | None = None, publisher: str = "tunedeck") -> Path:
    """Where LM Studio looks for a GGUF model: ``<root>/<publisher>/<name>-GGUF/<file>``,
    beside the MLX layout ``<root>/<publisher>/<name>/`` of the same export."""
    return lmstudio_root(root) / publisher / f"{name}-GGUF" / default_file_name(name, gguf_type)


def _check_request(out: Path, gguf_type: str, replace: bool) -> None:
    if gguf_type not in TYPES:
        raise TuneDeckError(f"unknown GGUF type {gguf_type!r}", f"choose one of {', '.join(TYPES)}")
    if out.suffix != ".gguf":
        raise TuneDeckError(f"{out} does not end in .gguf", "name the output file like model.gguf")
    claim(out, GGUF, replace)  # a new name, or (asked for) a GGUF file TuneDeck wrote earlier


def _load_params(ctx, source: Path, config: dict):
    """The model's weights as MLX arrays by name; a quantized (MLX 4/8-bit)
    model is dequantized first, since GGUF cannot hold MLX's quantization."""
    from mlx.utils import tree_flatten
    from mlx_lm.utils import dequantize_model, load_model

    ctx.progress(f"loading {source.name}")
    model, _ = load_model(source, lazy=True)
    quantized = "quantization" in config or "quantization_config" in config
    if quantized:
        ctx.progress("dequantizing the MLX-quantized weights")
        model = dequantize_model(model)
    return model, dict(tree_flatten(model.parameters())), quantized


def runtime_prompts(source: Path) -> list[list[dict]]:
    """The prompts fuse verified with (the first test prompts of the adapter
    the fused folder's record names), else fuse's built-in ones."""
    fresh = check_fused(source)
    if fresh is None or fresh.adapter is None:
        return FALLBACK_PROMPTS
    return verify_prompts(str(fresh.adapter))


def _write_error(exc: OSError, out: Path) -> TuneDeckError:
    return TuneDeckError(
        f"cannot write {out}: {exc.strerror or exc}",
        "choose a folder you can write to (it must be a folder, not a file)",
    )


def export_gguf(
    ctx, fused: str, out: str, gguf_type: str = DEFAULT_TYPE, replace: bool = False, allow_stale: bool = False
) -> GgufResult:
    source = check_export_source(fused, allow_stale)
    out_path = Path(out).expanduser()
    _check_request(out_path, gguf_type, replace)
    config = _config(source)
    reason = arch.unsupported(config)
    if reason:
        raise TuneDeckError(
            reason,
            "convert the fused folder with llama.cpp's converter: " + " && ".join(converter_steps(source, out_path)),
        )
    ctx.progress("reading the tokenizer")
    hf_tokenizer = load_hf_tokenizer(source)
    vocab = read_vocab(source, config["vocab_size"], hf_tokenizer)
    model, params, dequantized = _load_params(ctx, source, config)
    n_layers = config["num_hidden_layers"]
    plans = arch.tensor_plan(config, sorted(params), n_layers)
    # the split rules as loaded (transformers may replace tokenizer.json's own)
    loaded = json.loads(hf_tokenizer.backend_tokenizer.to_str())
    split_rules = {k: loaded.get(k) for k in ("normalizer", "pre_tokenizer")}
    try:
        # file_draft: the write rule; a full disk comes out as core.runtime.errors.disk_full
        with file_draft(out_path, GGUF, replace, suffix=".gguf") as tmp:
            written = writer.write(ctx, tmp, config, params, plans, vocab, gguf_type, default_name(source))
            ctx.progress("reading the file back to check it")
            checks = verify.verify(
                tmp,
                arch.ARCHITECTURES[config["model_type"]],
                arch.expected_hparams(config, n_layers),
                written,
                plans,
                params,
                vocab,
                hf_tokenizer,
                split_rules,
            )
            ctx.check_cancelled()
    except OSError as exc:  # a bad path: making the folder, writing, or the final rename
        raise _write_error(exc, out_path) from exc
    runtime = verify.runtime_parity(ctx, out_path, model, hf_tokenizer, runtime_prompts(source))
    notes = []
    if dequantized:
        notes.append(
            f"the fused model has MLX-quantized weights: they were dequantized to full precision "
            f"before writing {gguf_type} (GGUF cannot hold MLX's quantization)"
        )
    return GgufResult(
        path=str(out_path),
        bytes=out_path.stat().st_size,
        type=gguf_type,
        architecture=arch.ARCHITECTURES[config["model_type"]],
        model_type=config["model_type"],
        pre_tokenizer=vocab.pre.name,
        pre_tokenizer_how=vocab.pre.how,
        tensors=len(written),
        dequantized=dequantized,
        checks=checks,
        runtime=runtime,
        notes=notes,
    )


def summary_lines(result: GgufResult) -> list[str]:
    """What an export did and how the file was checked, as plain lines."""
    how = "llama.cpp's hash table" if result.pre_tokenizer_how == "llama.cpp hash" else "its split rules"
    lines = [
        f"wrote {result.path} ({result.bytes:,} bytes, {result.type}, {result.architecture}, "
        f"{result.tensors} tensors; pre-tokenizer {result.pre_tokenizer!r}, known by {how})"
    ]
    lines += [f"checked: {c.what}" for c in result.checks]
    runtime = result.runtime
    if not runtime.ran:
        lines.append(f"llama.cpp runtime check skipped: {runtime.why}; to enable it: {runtime.how}")
    for i, r in enumerate(runtime.prompts):
        if r.match and r.same_tokens:
            lines.append(f"llama.cpp vs MLX, prompt {i + 1}: match ({r.mlx!r})")
        else:
            what = "same prompt tokens" if r.same_tokens else "prompt tokens DIFFER"
            lines.append(
                f"llama.cpp vs MLX, prompt {i + 1}: DIFFERS ({what}) - MLX {r.mlx!r}, llama.cpp {r.llama_cpp!r}"
            )
    lines += [f"note: {n}" for n in result.notes]
    return lines
