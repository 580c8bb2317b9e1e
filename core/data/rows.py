"""Loaded training rows: the ``Source`` that every input becomes.

Its own module because both readers make one: ``core.data.sources`` (files,
the sample, mlx-lm folders) and ``core.data.hub_datasets`` (hub ids).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Source:
    spec: str  # what the user gave
    kind: str  # sample | jsonl | json | csv | parquet | mlx-folder | saved-dataset | hub
    columns: list[str]
    data: Any  # a list of dicts, or a datasets.Dataset
    lines: list[str] | None = None  # where each row came from (file:line), for files
    details: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.data)

    def row(self, i: int) -> dict:
        return dict(self.data[i])

    def where(self, i: int) -> str:
        return self.lines[i] if self.lines else f"row {i + 1}"

    def head(self, n: int = 5) -> list[dict]:
        return [self.row(i) for i in range(min(n, len(self)))]

    def describe(self) -> str:
        return f"{self.spec} ({self.kind}, {len(self):,} rows; columns: {', '.join(self.columns)})"


def columns_of(rows: list[dict]) -> list[str]:
    cols: dict[str, None] = {}
    for row in rows[:1000]:  # enough to see every column of a regular table
        cols.update(dict.fromkeys(row))
    return list(cols)
