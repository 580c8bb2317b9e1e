"""The one reader of a data folder's test split, as questions to ask a model.

The Judge's task score, the chat's test questions and the fused model's
check all read ``test.jsonl`` (or ``valid.jsonl``) through ``read``: each
line becomes a ``Question`` (the prompt messages and the reference answer,
as ``core.data.records`` reads the record) or an ``Unusable`` saying why
not. Lines are numbered and split as mlx-lm reads them, and the file's kind
is its first record's, as in mlx-lm. Callers decide what a bad line costs:
the task score stops on it, the chat skips it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.data import records
from core.data.check import check_as, jsonl_lines
from core.runtime.errors import TuneDeckError


@dataclass
class Question:
    where: str  # file:line
    line: int
    kind: str  # chat | completions | text
    messages: list[dict]  # what to ask: system first (if any), the last turn the user's
    reference: str | None  # the data's answer; None for text and a chat not ending on the assistant
    system: str | None = None

    @property
    def text(self) -> str:
        """The question itself: the last user turn asked."""
        return next(m["content"] for m in reversed(self.messages) if m.get("role") == "user")


@dataclass
class Unusable:
    where: str
    line: int
    message: str
    fix: str


def split_file(data_dir: str | Path | None, split: str = "test", hint: str | None = None) -> Path:
    """``data_dir/<split>.jsonl``; a TuneDeckError (with ``hint``) when there is none."""
    if not data_dir:
        raise TuneDeckError(
            f"no data folder chosen, so there is no {split} split", "choose a dataset with a test split first"
        )
    path = Path(data_dir) / f"{split}.jsonl"
    if not path.is_file():
        raise TuneDeckError(
            f"no {split} split in {Path(data_dir)} (no {split}.jsonl)",
            hint or f"add a {split}.jsonl next to train.jsonl",
        )
    return path


def read(path: Path) -> Iterator[Question | Unusable]:
    """Every non-blank line of a split file, in order."""
    kind = None
    for n, text, bad_byte in jsonl_lines(path):
        where = f"{path}:{n}"
        if not text.strip():
            continue
        if bad_byte is not None:
            yield Unusable(where, n, "not valid UTF-8", "re-save the file as UTF-8")
            continue
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:
            yield Unusable(where, n, f"not valid JSON: {exc}", "fix or remove that line")
            continue
        own = records.kind_of(obj)
        if own is None:
            yield Unusable(
                where, n, "not an mlx-lm record", "each line needs messages (chat), prompt+completion or text"
            )
            continue
        kind = kind or own
        if not records.reads(obj, kind):
            yield Unusable(where, n, f"a {own} record in a {kind} file", "convert every line to one format")
            continue
        problem = check_as(obj, kind, text=text)
        if problem and len(problem) < 3:  # warnings (a last turn not the assistant's) still ask something
            yield Unusable(where, n, problem[0], problem[1])
            continue
        yield _question(records.parse(obj, kind), where, n)


def _question(record: records.Record, where: str, line: int) -> Question | Unusable:
    asked = record.question
    if not any(m.get("role") == "user" for m in asked):
        return Unusable(where, line, "no user turn to ask", "put a user message before the answer")
    return Question(where, line, record.kind, asked, record.reference, record.system)
