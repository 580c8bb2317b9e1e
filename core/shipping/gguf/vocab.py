"""The tokenizer half of a GGUF file: a byte-level BPE vocabulary.

llama.cpp's "gpt2" tokenizer model is a byte-level BPE: the token strings
(in GPT-2's byte-to-unicode spelling), one type per token, the merges, the
pre-tokenizer name (``pretokenizer.py``), the special-token ids and flags
and the chat template. Token list and types follow what llama.cpp's
converter writes (``get_vocab_base``): ids up to ``vocab_size`` in order,
ids the tokenizer does not use as ``[PAD<id>]`` (UNUSED), added tokens as
CONTROL when special (or shaped like ``<|...|>``), else USER_DEFINED;
merges, special ids, add-BOS/EOS flags and the chat template come from
gguf-py's ``SpecialVocab``, as there; add-BOS is always written (from what
the tokenizer does when SpecialVocab found no setting).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.runtime.errors import TuneDeckError
from core.shipping.gguf.pretokenizer import PreTokenizer, identify

# Imported where used, not at module level (import cost, 2 cores): transformers ~2.3 s, gguf ~0.7 s


@dataclass
class Vocab:
    tokens: list[str]
    types: list[int]
    pre: PreTokenizer
    special: object  # gguf.SpecialVocab: merges, special ids, flags, chat template


def _looks_special(token: str) -> bool:
    return token.startswith("<|") and token.endswith("|>")


def adds_bos(tokenizer) -> bool:
    """Whether the tokenizer puts a BOS token in front of what it encodes."""
    plain = tokenizer.encode("a", add_special_tokens=False)
    full = tokenizer.encode("a")
    return len(full) > len(plain) and full[0] == tokenizer.bos_token_id


def load_hf_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:  # transformers raises many kinds for a broken folder
        raise TuneDeckError(
            f"cannot load the tokenizer in {folder}: {exc}",
            "the fused folder needs tokenizer.json and tokenizer_config.json; re-fuse it",
        ) from exc
    if not getattr(tokenizer, "is_fast", False):
        raise TuneDeckError(
            f"the tokenizer in {folder} has no tokenizer.json",
            "GGUF export reads tokenizer.json; re-fuse the model with a current mlx-lm",
        )
    return tokenizer


def check_byte_level_bpe(folder: Path) -> None:
    """Refuse tokenizers that are not byte-level BPE (SentencePiece-style
    vocabularies, WordPiece, Unigram), naming what is missing."""
    try:
        spec = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise TuneDeckError(f"{folder} has no tokenizer.json", "re-fuse the model so its tokenizer is saved") from exc
    except (OSError, ValueError) as exc:
        raise TuneDeckError(f"{folder / 'tokenizer.json'} cannot be read: {exc}", "re-fuse the model") from exc
    model = spec.get("model") or {}
    decoder = spec.get("decoder") or {}
    if model.get("type") != "BPE" or model.get("byte_fallback") or decoder.get("type") != "ByteLevel":
        kind = "SentencePiece-style BPE" if model.get("byte_fallback") else (model.get("type") or "unknown")
        raise TuneDeckError(
            f"the tokenizer in {folder} is {kind}; TuneDeck writes GGUF only for byte-level BPE "
            "tokenizers (Qwen2/Qwen2.5, Llama 3, Mistral Nemo, SmolLM): SentencePiece vocabularies "
            "(Llama 2, Mistral 7B) need llama.cpp's converter",
            "convert the fused folder with llama.cpp's convert_hf_to_gguf.py",
        )


def read_vocab(folder: Path, vocab_size: int, tokenizer) -> Vocab:
    """The GGUF vocabulary of ``tokenizer`` (loaded from ``folder``)."""
    import gguf

    check_byte_level_bpe(folder)
    pre = identify(tokenizer, folder)
    vocab = tokenizer.get_vocab()
    if vocab and max(vocab.values()) >= vocab_size:
        raise TuneDeckError(
            f"the tokenizer in {folder} has ids up to {max(vocab.values())} but config.json "
            f"says vocab_size {vocab_size}",
            "the tokenizer does not belong to this model; re-fuse it",
        )
    by_id = {i: t for t, i in vocab.items()}
    added = tokenizer.get_added_vocab()
    decoder = tokenizer.added_tokens_decoder
    tokens: list[str] = []
    types: list[int] = []
    for i in range(vocab_size):
        token = by_id.get(i)
        if token is None:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif token in added:
            special = decoder[i].special if i in decoder else False
            if i in decoder and not decoder[i].normalized:
                # llama.cpp expects added tokens in their plain, pre-normalised text
                token = tokenizer.decode(tokenizer.encode(token, add_special_tokens=False))
            tokens.append(token)
            types.append(gguf.TokenType.CONTROL if special or _looks_special(token) else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(token)
            types.append(gguf.TokenType.NORMAL)
    special = gguf.SpecialVocab(folder, load_merges=True, n_vocab=vocab_size)
    if not special.merges:
        raise TuneDeckError(
            f"the tokenizer in {folder} has no merges", "re-fuse the model so tokenizer.json is complete"
        )
    # Always explicit: without the key llama.cpp picks a default per pre-tokenizer.
    special.add_special_token.setdefault("bos", adds_bos(tokenizer))
    return Vocab(tokens, types, pre, special)


def add_to_writer(writer, vocab: Vocab) -> None:
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre.name)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    vocab.special.add_to_gguf(writer, quiet=True)
