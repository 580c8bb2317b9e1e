"""Read a written GGUF back and check it against the model it came from.

1. **Structure** (gguf-py's ``GGUFReader``): architecture, every
   hyper-parameter, the tensor table (names, shapes, types, count), and the
   tokenizer metadata (model, pre-tokenizer, tokens, types, merges, special
   ids, chat template) equal what was meant to be written.
2. **Values**: the token embedding and all of block 0, dequantized with
   gguf-py, are within the type's rounding of the source weights.
3. **Tokenization**: a tokenizer rebuilt from the file's own tokens, merges
   and token types (with the split rules its ``tokenizer.ggml.pre`` names)
   encodes a set of strings to exactly the ids the model's Hugging Face
   tokenizer gives, and adds a BOS token exactly when it does; the chat
   template is the tokenizer's.
4. **Runtime** (only when ``llama_cpp`` is importable): llama.cpp loads the
   file, tokenizes chat prompts like the HF tokenizer, and its greedy
   continuation is compared with MLX's (reported as match / differ).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.runtime.errors import TuneDeckError
from core.shipping.gguf import pretokenizer
from core.shipping.gguf.vocab import adds_bos
from core.shipping.gguf.writer import Written, source_array

if TYPE_CHECKING:  # for annotations only
    pass

# Imported where used (import cost, 2 cores): mlx (runs on the worker), mlx_lm ~3 s, gguf ~0.7 s, numpy ~0.3 s,
# tokenizers ~0.05 s, llama_cpp (optional)

# Relative to a tensor's largest magnitude: the worst rounding each type allows
# (Q4_0 keeps 16 levels per 32 values, and clips the far side of a block at 7/8).
TOLERANCE = {"F32": 1e-6, "F16": 1e-3, "BF16": 1e-2, "Q8_0": 1e-2, "Q4_0": 0.13}
# Plus, in absolute terms: F16 numbers and the F16 block scales of Q8_0/Q4_0
# lose precision below F16's normal range (tiny weights), by at most half the
# smallest F16 step per unit of the quantized value (up to 127).
FLOOR = {"F16": 2.0**-25, "Q8_0": 127 * 2.0**-25, "Q4_0": 8 * 2.0**-25}
RUNTIME_HINT = "pip install llama-cpp-python (it compiles llama.cpp: about 20 minutes on 2 cores), then export again"


@dataclass
class Check:
    what: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class PromptParity:
    """One chat prompt: llama.cpp's greedy continuation vs MLX's."""

    prompt: str
    same_tokens: bool  # llama.cpp tokenized the prompt as the HF tokenizer did
    match: bool
    mlx: str
    llama_cpp: str


@dataclass(frozen=True)
class RuntimeParity:
    ran: bool  # False: llama_cpp is not installed (``why``, ``how``)
    prompts: list[PromptParity]
    why: str = ""
    how: str = ""

    @property
    def all_match(self) -> bool:
        return all(p.match and p.same_tokens for p in self.prompts)


def _value(reader, key: str):
    field = reader.get_field(key)
    return None if field is None else field.contents()


def _special_keys(special) -> list[tuple[str, object]]:
    """GGUF keys and values of SpecialVocab's ids, flags and chat template."""
    from gguf import Keys

    keys = [(getattr(Keys.Tokenizer, f"{kind.upper()}_ID"), tid) for kind, tid in special.special_token_ids.items()]
    keys += [(getattr(Keys.Tokenizer, f"ADD_{kind.upper()}"), flag) for kind, flag in special.add_special_token.items()]
    if special.chat_template:
        keys.append((Keys.Tokenizer.CHAT_TEMPLATE, special.chat_template))
    return keys


def check_structure(reader, arch_name: str, hparams: dict, written: list[Written], vocab) -> list[Check]:
    import numpy as np

    checks = [
        Check(
            "architecture",
            _value(reader, "general.architecture") == arch_name,
            f"{_value(reader, 'general.architecture')!r}, expected {arch_name!r}",
        )
    ]
    wrong = []
    for key, want in hparams.items():
        got = _value(reader, key)
        same = got is not None and (np.isclose(got, want, rtol=1e-6) if isinstance(want, float) else got == want)
        if not same:
            wrong.append(f"{key}={got!r} (expected {want!r})")
    checks.append(Check(f"{len(hparams)} hyper-parameters", not wrong, "; ".join(wrong)))

    table = {t.name: (tuple(int(d) for d in reversed(t.shape)), int(t.tensor_type)) for t in reader.tensors}
    expected = {w.name: (w.shape, w.qtype) for w in written}
    bad = sorted(n for n in expected.keys() | table.keys() if table.get(n) != expected.get(n))
    checks.append(
        Check(
            f"{len(expected)} tensors (names, shapes, types)",
            not bad,
            f"{len(table)} in file; differing: {', '.join(bad[:5])}",
        )
    )

    special = vocab.special
    tok_wrong = []
    for key, want in (
        ("tokenizer.ggml.model", "gpt2"),
        ("tokenizer.ggml.pre", vocab.pre.name),
        ("tokenizer.ggml.tokens", vocab.tokens),
        ("tokenizer.ggml.token_type", list(vocab.types)),
        ("tokenizer.ggml.merges", list(special.merges)),
        *_special_keys(special),
    ):
        got = _value(reader, key)
        if isinstance(got, list) and key == "tokenizer.ggml.token_type":
            got = [int(x) for x in got]
        if got != want:
            tok_wrong.append(key)
    checks.append(
        Check(
            f"tokenizer metadata ({len(vocab.tokens)} tokens, {len(special.merges)} merges, "
            f"pre-tokenizer {vocab.pre.name!r})",
            not tok_wrong,
            ", ".join(tok_wrong),
        )
    )
    return checks


def check_values(reader, plans, params) -> Check:
    import gguf
    import numpy as np

    by_name = {t.name: t for t in reader.tensors}
    sample = [p for p in plans if p.name == "token_embd.weight" or p.name.startswith("blk.0.")]
    worst = []
    for plan in sample:
        t = by_name[plan.name]
        want = source_array(plan, params)
        got = gguf.quants.dequantize(t.data, t.tensor_type).reshape(want.shape)
        kind = t.tensor_type.name
        scale = float(np.abs(want).max()) or 1.0
        err = float(np.abs(got - want).max())
        if err > TOLERANCE.get(kind, 0.1) * scale + FLOOR.get(kind, 0.0):
            worst.append(f"{plan.name} ({kind}) off by {err / scale:.3g} of its range")
    return Check(
        f"values of {len(sample)} tensors (embedding and block 0) within rounding", not worst, "; ".join(worst)
    )


def tokenizer_from_gguf(reader, source_split_rules: dict | None = None):
    """A ``tokenizers.Tokenizer`` built only from the file's tokenizer metadata.

    The split rules are the recorded ones for the file's pre-tokenizer name
    where TuneDeck has them, else (a name found through llama.cpp's hash
    table) the source tokenizer.json's, which that name stands for.
    """
    import gguf
    from tokenizers import AddedToken

    tokens = _value(reader, "tokenizer.ggml.tokens")
    types = [int(x) for x in _value(reader, "tokenizer.ggml.token_type")]
    merges = _value(reader, "tokenizer.ggml.merges")
    pre = _value(reader, "tokenizer.ggml.pre")
    vocab = {t: i for i, (t, kind) in enumerate(zip(tokens, types)) if kind != gguf.TokenType.UNUSED}
    layout = pretokenizer.LAYOUTS.get(pre) or {
        k: (source_split_rules or {}).get(k) for k in ("normalizer", "pre_tokenizer")
    }
    tok = pretokenizer.reference_tokenizer(layout, vocab, merges, ignore_merges=pre in pretokenizer.IGNORE_MERGES)
    control = [
        AddedToken(t, special=True, normalized=False)
        for t, kind in zip(tokens, types)
        if kind == gguf.TokenType.CONTROL
    ]
    user = [
        AddedToken(t, special=False, normalized=False)
        for t, kind in zip(tokens, types)
        if kind == gguf.TokenType.USER_DEFINED
    ]
    tok.add_special_tokens(control)
    tok.add_tokens(user)
    return tok


def tokenization_probes(hf_tokenizer) -> list[str]:
    probes = [
        pretokenizer.CHECK_TEXT,
        "Hello world",
        " Hello World!",
        "naïve café — 東京タワー 🚀 ½",
        "SELECT name FROM head WHERE age > 56 ORDER BY name;",
        "  indented\n\tcode()  \r\n",
    ]
    if getattr(hf_tokenizer, "chat_template", None):
        try:
            probes.append(
                hf_tokenizer.apply_chat_template(
                    [
                        {"role": "user", "content": "How many heads of the departments are older than 56 ?"},
                        {"role": "assistant", "content": "SELECT count(*) FROM head WHERE age > 56"},
                    ],
                    tokenize=False,
                )
            )
        except Exception:  # a template that needs other roles: the plain probes still run
            pass
    return probes


def check_tokenization(reader, hf_tokenizer, source_split_rules: dict | None = None) -> Check:
    tok = tokenizer_from_gguf(reader, source_split_rules)
    probes = tokenization_probes(hf_tokenizer)
    differing = []
    for text in probes:
        want = hf_tokenizer.encode(text, add_special_tokens=False)
        got = tok.encode(text, add_special_tokens=False).ids
        if got != want:
            differing.append(f"{text[:30]!r}: file {got[:8]}…, tokenizer {want[:8]}…")
    hf_bos = adds_bos(hf_tokenizer)
    file_bos = bool(_value(reader, "tokenizer.ggml.add_bos_token"))
    if hf_bos != file_bos:
        differing.append(
            f"BOS: the tokenizer {'adds' if hf_bos else 'does not add'} one, the file says add_bos_token={file_bos}"
        )
    return Check(
        f"tokenization of {len(probes)} strings by the file's own vocabulary and merges",
        not differing,
        "; ".join(differing),
    )


def verify(
    path: Path, arch_name: str, hparams: dict, written, plans, params, vocab, hf_tokenizer, source_split_rules: dict
) -> list[Check]:
    """All file checks; raises TuneDeckError naming each that failed."""
    from gguf import GGUFReader

    reader = GGUFReader(path)
    checks = check_structure(reader, arch_name, hparams, written, vocab)
    checks.append(check_values(reader, plans, params))
    checks.append(check_tokenization(reader, hf_tokenizer, source_split_rules))
    template = getattr(hf_tokenizer, "chat_template", None)
    if isinstance(template, str):  # the one chat programs apply to prompts
        checks.append(
            Check(
                "chat template",
                _value(reader, "tokenizer.chat_template") == template,
                "missing or different from the tokenizer's",
            )
        )
    failed = [c for c in checks if not c.ok]
    if failed:
        raise TuneDeckError(
            "the written GGUF does not match the model: " + "; ".join(f"{c.what}: {c.detail}" for c in failed),
            "nothing was kept; please report this with the model's config.json",
        )
    return checks


# -- runtime parity (optional) ------------------------------------------------
def llama_cpp_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def runtime_parity(
    ctx, path: Path, model, hf_tokenizer, prompts: list[list[dict]], max_tokens: int = 16
) -> RuntimeParity:
    """Greedy continuations from llama.cpp and from MLX, prompt by prompt."""
    if not llama_cpp_available():
        return RuntimeParity(ran=False, prompts=[], why="llama_cpp is not installed", how=RUNTIME_HINT)
    import llama_cpp
    import mlx.core as mx
    from mlx_lm.generate import generate_step

    llm = llama_cpp.Llama(model_path=str(path), n_ctx=1024, verbose=False, seed=0)
    stop = {hf_tokenizer.eos_token_id, llm.token_eos()} - {None}
    results = []
    for i, messages in enumerate(prompts):
        ctx.check_cancelled()
        ctx.progress(f"llama.cpp check: prompt {i + 1}/{len(prompts)}", i, len(prompts))
        text = hf_tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids = hf_tokenizer.encode(text, add_special_tokens=False)
        llama_ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        mlx_out = []
        for token, _ in generate_step(
            mx.array(ids), model, max_tokens=max_tokens, sampler=lambda logits: mx.argmax(logits, axis=-1)
        ):
            token = int(token)
            if token in stop:
                break
            mlx_out.append(token)
        llama_out = []
        for token in llm.generate(llama_ids, temp=0.0, top_k=1, repeat_penalty=1.0):
            if token in stop or len(llama_out) >= max_tokens:
                break
            llama_out.append(token)
        results.append(
            PromptParity(
                prompt=messages[-1]["content"],
                same_tokens=llama_ids == ids,
                match=llama_out == mlx_out,
                mlx=hf_tokenizer.decode(mlx_out),
                llama_cpp=llm.detokenize(llama_out).decode("utf-8", "replace"),
            )
        )
    return RuntimeParity(ran=True, prompts=results)
