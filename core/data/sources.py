"""Where training rows come from: one ``Source`` for every kind of input.

- the embedded sample (text-to-SQL rows in b-mc2/sql-create-context's shape)
- local files: JSONL, JSON, CSV/TSV, Parquet
- a folder in mlx-lm's layout (train/valid/test.jsonl), rows taken as they are
- a ``datasets`` dataset saved with ``save_to_disk``
- a Hugging Face hub id (``core.data.hub_datasets``: through ``datasets``, with progress and cancel)

A source is a random-access table: ``columns``, ``len()``, ``row(i)`` and
``where(i)`` (``file:line`` for files, so a bad row can be pointed to).
Broken input files fail with every bad line counted and the first one named.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from core.data import hub_datasets
from core.data.folder import SPLITS, json_error
from core.data.rows import Source, columns_of
from core.data.sample_data import make_example
from core.runtime.errors import TuneDeckError

# Imported where used, not at module level (import cost, 2 cores): datasets ~1.8 s, pyarrow ~0.4 s

SAMPLE = "sample"
FILE_KINDS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
SAMPLE_ROWS = 2000  # the sample source is generated, so any size would do


def open_source(spec: str, config: str | None = None, split: str | None = None, progress=None, **hub) -> Source:
    """Open SOURCE: 'sample', a file, a folder, or a hub dataset id.

    ``hub``: options for a hub id (``core.data.hub_datasets.load``: endpoint,
    token, ui, sample, seed, stream, emit, cancel)."""
    spec = str(spec).strip()
    if not spec:
        raise TuneDeckError("no source given", "give a file, a folder, a hub dataset id or 'sample'")
    if spec == SAMPLE:
        return sample_source()
    path = Path(spec).expanduser()
    if path.is_dir():
        if any((path / f"{name}.jsonl").is_file() for name in SPLITS):
            return _mlx_folder(path)
        if any((path / name).is_file() for name in ("dataset_dict.json", "dataset_info.json", "state.json")):
            return _saved_dataset(path, split)
        raise TuneDeckError(
            f"{path} holds no train.jsonl and is not a saved dataset",
            "give a folder with train/valid/test.jsonl, one written by datasets' save_to_disk, or a data file",
        )
    if path.exists() or path.suffix.lower() in FILE_KINDS or spec.startswith((".", "/", "~")):
        if not path.is_file():
            raise TuneDeckError(f"{path}: file not found", "check the path")
        kind = FILE_KINDS.get(path.suffix.lower())
        if kind is None:
            raise TuneDeckError(
                f"{path}: unknown file type {path.suffix!r}", "use .jsonl, .json, .csv, .tsv or .parquet"
            )
        reader = {"jsonl": _jsonl, "json": _json, "csv": _csv, "parquet": _parquet}[kind]
        return reader(path)
    return _hub(spec, config, split, progress, hub)


def _bad_lines(path: Path, bad: list[tuple[int, str]], total: int, fix: str):
    first_line, first_msg = bad[0]
    more = (
        f" ({len(bad)} bad lines in all: {', '.join(str(n) for n, _ in bad[:10])}{'…' if len(bad) > 10 else ''})"
        if len(bad) > 1
        else ""
    )
    return TuneDeckError(f"{first_msg}{more}", fix, where=f"{path}:{first_line}")


def _from_rows(spec: str, kind: str, rows: list[dict], lines=None, **details) -> Source:
    if not rows:
        raise TuneDeckError(f"{spec}: no rows", "the source is empty; add rows or pick another source")
    return Source(spec, kind, columns_of(rows), rows, lines, details)


def _jsonl(path: Path) -> Source:
    rows, lines, bad = [], [], []
    # Same line splitting as mlx-lm (universal newlines), UTF-8 errors kept per line.
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        for n, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                text.encode("utf-8")
                obj = json.loads(text)
            except UnicodeEncodeError:
                bad.append((n, "not valid UTF-8"))
                continue
            except json.JSONDecodeError as exc:
                bad.append((n, json_error(exc, text)))
                continue
            if not isinstance(obj, dict):
                bad.append((n, f"a JSON {type(obj).__name__}, not an object"))
                continue
            rows.append(obj)
            lines.append(f"{path.name}:{n}")
    if bad:
        raise _bad_lines(path, bad, len(rows), "make every line one JSON object, UTF-8 encoded")
    return _from_rows(str(path), "jsonl", rows, lines)


def _json(path: Path) -> Source:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise TuneDeckError(
            f"not valid UTF-8 (byte {exc.start})", "re-save the file as UTF-8", where=str(path)
        ) from exc
    except json.JSONDecodeError as exc:
        raise TuneDeckError(
            f"invalid JSON at column {exc.colno}: {exc.msg}",
            "fix the JSON (or use one object per line as .jsonl)",
            where=f"{path}:{exc.lineno}",
        ) from exc
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            data = lists[0]  # {"data": [...]} style wrappers
        elif all(isinstance(v, list) for v in data.values()) and data:
            # column-oriented: {"question": [...], "answer": [...]}
            keys = list(data)
            data = [dict(zip(keys, vals)) for vals in zip(*data.values())]
    if not isinstance(data, list):
        raise TuneDeckError("the JSON is not a list of rows", 'write [{"column": value, ...}, ...]', where=str(path))
    bad = [i for i, r in enumerate(data) if not isinstance(r, dict)]
    if bad:
        raise TuneDeckError(
            f"item {bad[0] + 1} of the list is not an object ({len(bad)} such items)",
            "every item must be an object of column: value",
            where=str(path),
        )
    return _from_rows(str(path), "json", data, [f"{path.name} item {i + 1}" for i in range(len(data))])


def _csv(path: Path) -> Source:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    rows, lines, bad = [], [], []
    # surrogateescape: a non-UTF-8 byte is reported on its own line, not as a crash.
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(reader, None)
            if not header or not any(h.strip() for h in header):
                raise TuneDeckError("no header row", "the first line must name the columns", where=f"{path}:1")
            header = [h.strip() for h in header]
            start = reader.line_num + 1
            for record in reader:
                if not record:
                    start = reader.line_num + 1
                    continue
                if len(record) != len(header):
                    bad.append((start, f"{len(record)} fields, the header has {len(header)}"))
                elif not all(f.isascii() for f in record) and not _utf8(record):
                    bad.append((start, "not valid UTF-8"))
                else:
                    rows.append(dict(zip(header, record)))
                    lines.append(f"{path.name}:{start}")
                start = reader.line_num + 1
        except csv.Error as exc:
            raise TuneDeckError(f"CSV error: {exc}", "check the quoting", where=f"{path}:{reader.line_num}") from exc
    if bad:
        raise _bad_lines(
            path, bad, len(rows), "quote fields that contain the delimiter or line breaks; save the file as UTF-8"
        )
    return _from_rows(str(path), "csv", rows, lines)


def _utf8(fields: list[str]) -> bool:
    try:
        for f in fields:
            f.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _parquet(path: Path) -> Source:
    import pyarrow.parquet as pq  # comes with datasets; heavy, so only here

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise TuneDeckError(f"cannot read Parquet: {exc}", "check the file is Parquet", where=str(path)) from exc
    return _from_rows(str(path), "parquet", table.to_pylist())


def _saved_dataset(path: Path, split: str | None) -> Source:
    import datasets  # heavy (pyarrow, pandas): imported only for this kind

    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as exc:
        raise TuneDeckError(
            f"cannot load the saved dataset: {exc}", "the folder must come from Dataset.save_to_disk", where=str(path)
        ) from exc
    used = None  # the split read, recorded in the manifest
    if isinstance(ds, datasets.DatasetDict):
        used, ds = _pick_split(ds, split, str(path))
    if len(ds) == 0:
        raise TuneDeckError(f"{path}: the dataset has no rows", "pick another split or source")
    return Source(str(path), "saved-dataset", list(ds.column_names), ds, details={"split": used})


def _pick_split(dd, split: str | None, what: str):
    if split is None:
        split = "train" if "train" in dd else next(iter(dd))
    if split not in dd:
        raise TuneDeckError(f"{what} has no split {split!r}", f"choose one of: {', '.join(dd)}")
    return split, dd[split]


def _hub(spec: str, config: str | None, split: str | None, progress, hub: dict) -> Source:
    return hub_datasets.load(spec, config, split, progress=progress, **hub)


def _mlx_folder(path: Path) -> Source:
    rows, lines = [], []
    for name in SPLITS:
        f = path / f"{name}.jsonl"
        if f.is_file():
            part = _jsonl(f)
            rows += part.data
            lines += [f"{name}.jsonl:{loc.rsplit(':', 1)[1]}" for loc in part.lines]
    return _from_rows(str(path), "mlx-folder", rows, lines)


def sample_source(n: int = SAMPLE_ROWS, seed: int = 0) -> Source:
    """The generated text-to-SQL rows in b-mc2/sql-create-context's columns."""
    r = random.Random(seed + 104729)
    rows = []
    for _ in range(n):
        system, user, assistant = (m["content"] for m in make_example(r)["messages"])
        rows.append({"question": user, "context": system.split("SCHEMA:\n", 1)[1], "answer": assistant})
    return Source(SAMPLE, "sample", ["question", "context", "answer"], rows)
