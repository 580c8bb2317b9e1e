"""Writing mlx-lm data folders (train/valid/test.jsonl + manifest)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from core.runtime.targets import DATASET, write_folder

SPLITS = ("train", "valid", "test")
MANIFEST = DATASET.marker


def write_splits(
    out_dir: str | Path, splits: dict[str, list[dict]], manifest: dict, tick=None, verify=None, overwrite: bool = False
) -> Path:
    """Write one JSONL per split plus a manifest as one folder, under the
    write rule (``core.runtime.targets``): a new or empty folder, or (``overwrite``)
    an earlier TuneDeck dataset, replaced whole.

    ``tick(done, total)`` is called every 1000 rows (it may raise to cancel);
    ``verify(tmp_dir)`` runs before the rename (it may raise to reject). Either
    way an exception leaves no folder behind.
    """
    out_dir = Path(out_dir)
    total = sum(len(rows) for rows in splits.values())
    done = 0
    with write_folder(out_dir, DATASET, overwrite, marker=manifest) as draft:
        tmp = draft.path
        for name, rows in splits.items():
            with open(tmp / f"{name}.jsonl", "w", encoding="utf-8") as fh:
                for row in rows:
                    if tick is not None and done % 1000 == 0:
                        tick(done, total)
                    # ensure_ascii=False keeps text readable; json escapes \r and
                    # \u2028 inside strings, so one record stays one line.
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                    done += 1
        if verify is not None:
            verify(tmp)
        draft.marker["counts"] = {k: len(v) for k, v in splits.items()}
        draft.marker["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return out_dir


def json_error(exc: json.JSONDecodeError, line: str) -> str:
    """What is wrong with one JSONL line, with the column counted on that line.

    ``exc.colno`` counts from the last newline inside the text given to
    ``json.loads``, so for a line cut short (its own newline kept) it says
    "column 1"; the offset into the line is what points at the problem.
    """
    if exc.pos >= len(line.rstrip()):
        return f"invalid JSON: the line ends before the record is complete ({exc.msg})"
    return f"invalid JSON at column {exc.pos + 1}: {exc.msg}"


def read_manifest(data_dir: str | Path) -> dict:
    path = Path(data_dir) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def read_rows(path: str | Path, limit: int | None = None) -> list[dict]:
    """The first ``limit`` rows of a JSONL file already known to be valid."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
                if limit is not None and len(rows) >= limit:
                    break
    return rows
