"""Token lengths of a data folder under one model's tokenizer.

Lengths come from mlx-lm's own dataset classes (``create_dataset(...)
.process(record)`` → ``(tokens, prompt_offset)``), so the chat template, the
EOS handling and the prompt mask are exactly what training will use. Examples
longer than ``max_seq_length`` are cut by mlx-lm; with ``mask_prompt`` an
example whose prompt alone fills the window trains on nothing at all.
"""

from __future__ import annotations

import json
import types
from dataclasses import dataclass, field
from pathlib import Path

from core.data import records
from core.data.folder import SPLITS
from core.runtime.errors import TuneDeckError

# Imported where used, not at module level (import cost, 2 cores): mlx_lm ~3 s


@dataclass
class SplitTokens:
    name: str
    lengths: list[int] = field(default_factory=list)
    over: int = 0  # longer than max_seq_length: truncated
    no_answer: int = 0  # prompt alone reaches max_seq_length (masked: nothing to learn)
    rows: int = 0  # rows in the file (lengths may stop at ``limit``)

    def summary(self, max_seq_length: int) -> str:
        if not self.lengths:
            return f"{self.name}: no examples"
        ls = sorted(self.lengths)
        p95 = ls[min(len(ls) - 1, int(len(ls) * 0.95))]
        seen = f"{len(ls):,}" + (f" of {self.rows:,}" if self.rows > len(ls) else "")
        text = (
            f"{self.name}: {seen} rows · tokens {ls[0]}-{ls[-1]}, mean {sum(ls) / len(ls):.0f}, "
            f"p95 {p95} · {self.over} over {max_seq_length}"
        )
        if self.no_answer:
            text += f" ({self.no_answer} lose every trained token)"
        return text


@dataclass
class Segment:
    text: str
    kind: str  # prompt (masked) | trained | cut (beyond max_seq_length)


@dataclass
class TokenReport:
    model: str
    max_seq_length: int
    mask_prompt: bool
    format: str
    splits: dict[str, SplitTokens]
    preview: list[Segment]
    preview_tokens: tuple[int, int] = (0, 0)  # (masked, trained) token counts of the preview

    @property
    def truncated(self) -> int:
        return sum(s.over for s in self.splits.values())


def load_tokenizer(model: str):
    """mlx-lm's tokenizer wrapper for a local model folder (no weights loaded)."""
    from mlx_lm.utils import load_tokenizer as _load  # imports mlx: call on the worker thread

    path = Path(model).expanduser()
    if not (path / "config.json").is_file():
        raise TuneDeckError(
            f"{model} is not a model folder (no config.json)",
            "give the folder of a downloaded or built model (the Model step shows it)",
        )
    try:
        return _load(path)
    except Exception as exc:
        raise TuneDeckError(
            f"cannot load the tokenizer of {model}: {exc}", "the folder needs tokenizer.json / tokenizer_config.json"
        ) from exc


def _dataset_for(first: dict, tokenizer, mask_prompt: bool):
    from mlx_lm.tuner.datasets import create_dataset

    # mlx-lm refuses the prompt mask for text data; its lengths do not depend on it.
    is_text = records.kind_of(first) == "text"
    return create_dataset([first], tokenizer, types.SimpleNamespace(mask_prompt=mask_prompt and not is_text))


def histogram(lengths: list[int], bins: int = 10, max_seq_length: int | None = None) -> list[tuple[int, int, int]]:
    """(low, high, count) bins over the lengths (high inclusive)."""
    if not lengths:
        return []
    lo, hi = min(lengths), max(lengths)
    if max_seq_length and lo <= max_seq_length < hi:
        hi = max(hi, max_seq_length)
    width = max(1, -(-(hi - lo + 1) // bins))
    counts = [0] * bins
    for n in lengths:
        counts[min(bins - 1, (n - lo) // width)] += 1
    return [(lo + i * width, lo + (i + 1) * width - 1, c) for i, c in enumerate(counts) if lo + i * width <= hi]


def text_histogram(lengths: list[int], max_seq_length: int, width: int = 40, bins: int = 10) -> list[str]:
    """A plain-text histogram; bins past max_seq_length are marked '!'."""
    rows = histogram(lengths, bins, max_seq_length)
    top = max((c for _, _, c in rows), default=1) or 1
    out = []
    for low, high, count in rows:
        bar = "#" * max(1, round(count / top * width)) if count else ""
        mark = "!" if high > max_seq_length else " "
        out.append(f"{mark}{low:>6}-{high:<6} {count:>7} {bar}")
    return out


def token_report(
    folder: str,
    model: str,
    max_seq_length: int = 2048,
    mask_prompt: bool = False,
    limit: int | None = None,
    progress=None,
    check_cancelled=None,
) -> TokenReport:
    """Tokenize every example (up to ``limit`` per split) of a checked folder."""
    progress = progress or (lambda *a, **k: None)
    check_cancelled = check_cancelled or (lambda: None)
    progress(f"loading the tokenizer of {Path(model).name}")
    tokenizer = load_tokenizer(model)
    folder_path = Path(folder)
    splits: dict[str, SplitTokens] = {}
    preview: list[Segment] = []
    preview_counts = (0, 0)
    fmt = ""
    for name in SPLITS:
        path = folder_path / f"{name}.jsonl"
        if not path.is_file():
            continue
        st = splits[name] = SplitTokens(name)
        ds = None
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                st.rows += 1
                if limit is not None and len(st.lengths) >= limit:
                    continue  # keep counting rows
                record = json.loads(line)
                if ds is None:
                    ds = _dataset_for(record, tokenizer, mask_prompt)
                    fmt = fmt or records.kind_of(record)
                try:
                    tokens, offset = ds.process(record)
                except Exception as exc:  # a template that rejects this record (roles, tools…)
                    raise TuneDeckError(
                        f"the tokenizer's chat template rejects this example: {exc}",
                        "fix this example (a data check, without a model, lists the record problems)",
                        where=f"{name}.jsonl:{st.rows}",
                    ) from exc
                n = len(tokens)
                st.lengths.append(n)
                st.over += n > max_seq_length
                st.no_answer += bool(offset) and offset >= max_seq_length
                if not preview:
                    preview, preview_counts = _preview(record, tokens, tokenizer, mask_prompt, max_seq_length)
                if len(st.lengths) % 500 == 0:
                    check_cancelled()
                    progress(f"tokenizing {name}.jsonl", len(st.lengths), None)
    if not splits:
        raise TuneDeckError(f"{folder} has no split files", "build or check the folder first")
    return TokenReport(model, max_seq_length, mask_prompt, fmt, splits, preview, preview_counts)


def _preview(record: dict, tokens: list[int], tokenizer, mask_prompt: bool, max_seq_length: int):
    """The first example as segments: masked prompt, trained tokens, cut tail.

    The prompt offset is always computed (as mlx-lm does with mask_prompt) so
    the preview can show what masking would hide even when it is off.
    """
    if records.kind_of(record) == "text":
        offset = 0
    else:
        from mlx_lm.tuner.datasets import create_dataset

        masked = create_dataset([record], tokenizer, types.SimpleNamespace(mask_prompt=True))
        _, offset = masked.process(record)
    cut = min(len(tokens), max_seq_length)
    offset = min(offset, cut)
    decode = tokenizer.decode
    segments = [
        Segment(decode(tokens[:offset]), "prompt" if mask_prompt else "trained-prompt"),
        Segment(decode(tokens[offset:cut]), "trained"),
    ]
    if cut < len(tokens):
        segments.append(Segment(decode(tokens[cut:]), "cut"))
    return [s for s in segments if s.text], (offset if mask_prompt else 0, cut - (offset if mask_prompt else 0))
