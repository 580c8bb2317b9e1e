"""Questions (and their reference answers) taken from a data folder's test split.

mlx-lm's three JSONL formats are understood: chat (``messages``), completions
(``prompt``/``completion``) and text (``text``: the whole line is the prompt,
there is no reference to compare with).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.runtime.errors import TuneDeckError


@dataclass
class TestPrompt:
    __test__ = False  # not a pytest class

    prompt: str
    system: str | None = None
    reference: str | None = None
    line: int = 0


def from_row(row: dict, line: int = 0) -> TestPrompt | None:
    if isinstance(row.get("messages"), list):
        msgs = [m for m in row["messages"] if isinstance(m, dict)]
        system = next((m.get("content") for m in msgs if m.get("role") == "system"), None)
        users = [i for i, m in enumerate(msgs) if m.get("role") == "user"]
        if not users:
            return None
        last_user = users[-1]
        reference = next((m.get("content") for m in msgs[last_user + 1 :] if m.get("role") == "assistant"), None)
        return TestPrompt(str(msgs[last_user].get("content", "")), system, reference, line)
    if "prompt" in row:
        completion = row.get("completion")
        return TestPrompt(str(row["prompt"]), None, None if completion is None else str(completion), line)
    if "text" in row:
        return TestPrompt(str(row["text"]), None, None, line)
    return None


def load(data_dir: str | Path | None, limit: int = 500) -> list[TestPrompt]:
    """Up to ``limit`` usable prompts from ``data_dir/test.jsonl``.

    Raises a TuneDeckError when there is no test split to take them from;
    lines that are not JSON or have no prompt are skipped (the data screen
    reports them)."""
    if not data_dir:
        raise TuneDeckError(
            "no data folder chosen, so there is no test split", "choose a dataset with a test split first"
        )
    path = Path(data_dir) / "test.jsonl"
    if not path.is_file():
        raise TuneDeckError(f"no test split in {data_dir}", "add a test.jsonl next to train.jsonl")
    prompts: list[TestPrompt] = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                continue
            item = from_row(row, number) if isinstance(row, dict) else None
            if item and item.prompt.strip():
                prompts.append(item)
                if len(prompts) >= limit:
                    break
    if not prompts:
        raise TuneDeckError(
            f"{path} has no usable prompts", "each line needs messages (chat), prompt (completions) or text"
        )
    return prompts
