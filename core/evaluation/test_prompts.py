"""Questions (and their reference answers) from a data folder's test split,
for the chat's "ask a test question" key.

Read by ``core.data.questions``, as the task score reads them; a text
record's whole text is the question and there is no reference. Lines that
cannot be asked are skipped (the data check reports them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.data import questions
from core.runtime.errors import TuneDeckError


@dataclass
class TestPrompt:
    __test__ = False  # not a pytest class

    prompt: str
    system: str | None = None
    reference: str | None = None
    line: int = 0


def load(data_dir: str | Path | None, limit: int = 500) -> list[TestPrompt]:
    """Up to ``limit`` usable prompts from ``data_dir/test.jsonl``.

    Raises a TuneDeckError when there is no test split to take them from."""
    path = questions.split_file(data_dir, "test", "add a test.jsonl next to train.jsonl")
    prompts: list[TestPrompt] = []
    for item in questions.read(path):
        if isinstance(item, questions.Question):
            prompts.append(TestPrompt(item.text, item.system, item.reference, item.line))
            if len(prompts) >= limit:
                break
    if not prompts:
        raise TuneDeckError(
            f"{path} has no usable prompts", "each line needs messages (chat), prompt+completion or text"
        )
    return prompts
