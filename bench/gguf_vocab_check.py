"""Check the GGUF tokenizer logic against llama.cpp's own reference vocabularies.

    python -m bench.gguf_vocab_check LLAMA_CPP_MODELS_DIR

llama.cpp ships vocabulary-only GGUF files of real tokenizers with test
strings and the token ids llama.cpp must produce for them
(``models/ggml-vocab-NAME.gguf`` + ``.inp`` / ``.out``; they are inside the
llama-cpp-python source package, so no llama.cpp build is needed):

    pip download --no-deps --no-binary :all: llama-cpp-python -d /tmp/lcp
    tar xzf /tmp/lcp/llama_cpp_python-*.tar.gz -C /tmp/lcp --wildcards '*/models/ggml-vocab-*'
    python -m bench.gguf_vocab_check /tmp/lcp/llama_cpp_python-*/vendor/llama.cpp/models

For each pre-tokenizer TuneDeck has split rules for (qwen2, gpt-2) it rebuilds
a tokenizer from the file exactly as the export's read-back check does
(``core.shipping.gguf.verify.tokenizer_from_gguf``) and checks that
1. llama.cpp's check hash of that tokenizer is the one in llama.cpp's table
   for the name (so the check text and the hash are computed as llama.cpp does),
2. ``same_split_rules`` recognises it by behaviour under the same name, and
3. it tokenizes every llama.cpp test string to llama.cpp's expected ids.
Exit status 0 when all hold. This is a correctness check, not a timing.
"""

from __future__ import annotations

import sys
from pathlib import Path


def check(models: Path, name: str) -> list[str]:
    from gguf import GGUFReader
    from transformers import PreTrainedTokenizerFast

    from core.shipping.gguf import pretokenizer
    from core.shipping.gguf.verify import tokenizer_from_gguf

    path = models / f"ggml-vocab-{name}.gguf"
    tok = tokenizer_from_gguf(GGUFReader(path))
    digest = pretokenizer.llama_cpp_hash(PreTrainedTokenizerFast(tokenizer_object=tok))
    texts = path.with_suffix(".gguf.inp").read_text(encoding="utf-8").split("\n__ggml_vocab_test__\n")
    expected = path.with_suffix(".gguf.out").read_text(encoding="utf-8").split("\n")
    pairs = list(zip(texts, expected))
    same = sum(tok.encode(t, add_special_tokens=False).ids == [int(x) for x in ids.split()] for t, ids in pairs)
    problems = []
    if pretokenizer.LLAMA_CPP_HASHES.get(digest) != name:
        problems.append(f"{name}: check hash {digest} is not llama.cpp's for {name!r}")
    if pretokenizer.same_split_rules(tok) != name:
        problems.append(f"{name}: split rules recognised as {pretokenizer.same_split_rules(tok)!r}")
    if same != len(pairs):
        problems.append(f"{name}: {len(pairs) - same} of {len(pairs)} test strings tokenize differently")
    print(
        f"{name}: hash {digest[:16]}… -> {pretokenizer.LLAMA_CPP_HASHES.get(digest)!r}; "
        f"{same}/{len(pairs)} llama.cpp test strings tokenized to llama.cpp's ids"
    )
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not Path(args[0]).is_dir():
        print(__doc__)
        return 2
    from core.shipping.gguf.pretokenizer import LAYOUTS

    problems = [p for name in LAYOUTS for p in check(Path(args[0]), name)]
    for p in problems:
        print(f"FAIL {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
