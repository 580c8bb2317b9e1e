"""Check an mlx-lm data folder line by line, before mlx-lm ever sees it.

mlx-lm reads ``train/valid/test.jsonl`` with one ``json.loads`` per line and
guesses the format from the first record, so one bad line deep in a file
ends a run with a bare traceback whose "line 1 column 23" is not the file's
line. This checker streams every line of every split (bounded memory), and
reports each problem as ``file:line``, what is wrong, and how to fix it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from core.jsonl import SPLITS, json_error

ROLES = {"system", "user", "assistant", "tool"}
MAX_PROBLEMS = 200  # stored per check; the total is still counted


@dataclass
class Problem:
    file: str
    line: int  # 0 when the problem is about the whole file
    message: str
    fix: str
    severity: str = "error"  # error | warning

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def __str__(self) -> str:
        return f"{self.where}: {self.severity}: {self.message} (fix: {self.fix})"


@dataclass
class SplitSummary:
    name: str
    path: str
    rows: int = 0
    format: str | None = None  # chat | completions | text


@dataclass
class CheckReport:
    folder: str
    splits: dict[str, SplitSummary] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    errors: int = 0
    warnings: int = 0

    @property
    def ok(self) -> bool:
        """True when ``mlx_lm.lora --train`` would accept the folder."""
        return self.errors == 0

    def add(self, problem: Problem) -> None:
        if problem.severity == "error":
            self.errors += 1
        else:
            self.warnings += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def summary(self) -> str:
        counts = ", ".join(f"{s.name} {s.rows}" for s in self.splits.values())
        verdict = "ready to train" if self.ok else "training would fail"
        return f"{counts or 'no splits'}; {self.errors} error(s), {self.warnings} warning(s): {verdict}"


def record_format(obj: dict) -> str | None:
    """mlx-lm's own precedence: completions, then chat, then text."""
    if "prompt" in obj and "completion" in obj:
        return "completions"
    if "messages" in obj:
        return "chat"
    if "text" in obj:
        return "text"
    return None


def _check_chat(messages) -> tuple[str, ...] | None:
    """(message, fix) for an error, (message, fix, "warning") for a warning."""
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list", 'write "messages": [{"role": "user", "content": "..."}, ...]'
    roles = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            return f"message {i + 1} is not an object", 'each message is {"role": ..., "content": ...}'
        role = m.get("role")
        if role not in ROLES:
            return (f"message {i + 1} has role {role!r}",
                    "use one of system, user, assistant (tool for tool results)")
        content = m.get("content")
        if not isinstance(content, str):
            kind = "missing" if content is None else f"a {type(content).__name__}"
            return f"message {i + 1} ({role}) content is {kind}, not a string", "make every content a string"
        if role != "system" and not content.strip():
            return f"message {i + 1} ({role}) has empty content", "fill it in or drop the example"
        roles.append(role)
    if "assistant" not in roles:
        return "no assistant turn: nothing to learn from", "add the answer as a final assistant message"
    if "system" in roles[1:]:
        return "a system message appears after the first message", "put the system message first"
    turns = [r for r in roles if r in ("user", "assistant")]
    if turns and turns[0] != "user":
        return ("the first turn is the assistant's, not the user's",
                "start with a user message (after an optional system message)", "warning")
    for i in range(1, len(turns)):
        if turns[i] == turns[i - 1]:
            return (f"two {turns[i]} turns in a row: roles must alternate user/assistant",
                    "merge the two messages; many chat templates (Llama, Mistral, Gemma) reject this",
                    "warning")
    if roles[-1] != "assistant":
        return (f"the last message is {roles[-1]}, not assistant",
                "end each example with the assistant answer it should learn", "warning")
    return None


def check_record(obj) -> tuple[str, ...] | None:
    """The first problem with one record (as in ``_check_chat``), or None."""
    if not isinstance(obj, dict):
        return f"a JSON {_json_kind(obj)}, not an object", "write one JSON object per line"
    fmt = record_format(obj)
    if fmt is None:
        return "unknown format", "use 'messages', 'prompt'+'completion' or 'text'"
    return _check_fields(obj, fmt)


def _check_fields(obj: dict, fmt: str) -> tuple[str, ...] | None:
    if fmt == "chat":
        return _check_chat(obj["messages"])
    keys = ("prompt", "completion") if fmt == "completions" else ("text",)
    for key in keys:
        value = obj[key]
        if not isinstance(value, str):
            return f"'{key}' is a {type(value).__name__}, not a string", f"make '{key}' a string"
        if not value.strip():
            return f"'{key}' is empty", "fill it in or drop the example"
    return None


def _lines(path: Path):
    """(line number, text, bad byte offset) the way mlx-lm numbers them.

    mlx-lm iterates ``open(path)`` in text mode: universal newlines, so a bare
    ``\r`` ends a line just like ``\n`` and ``\r\n``. ``newline=""`` splits the
    same way but keeps the terminator, so a stray ``\r`` can be named. Bytes
    that are not UTF-8 survive as surrogates (``surrogateescape``) so one bad
    byte costs one line, not the whole file.
    """
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
        for lineno, line in enumerate(fh, start=1):
            bad_byte = None
            if not line.isascii():  # fast path: most lines are ASCII
                try:
                    line.encode("utf-8")
                except UnicodeEncodeError as exc:
                    bad_byte = (exc.start, ord(line[exc.start]) - 0xDC00)
            yield lineno, line, bad_byte


def check_file(path: Path, report: CheckReport, label: str) -> SplitSummary:
    """Stream one JSONL file into ``report``; returns its summary."""
    summary = SplitSummary(name=path.stem, path=str(path))
    first_fmt_line = 0
    ends_cr = False  # did this line end on a bare \r (so the next one continues a record)?
    for lineno, text, bad_byte in _lines(path):
        def bad(message: str, fix: str, severity: str = "error") -> None:
            report.add(Problem(label, lineno, message, fix, severity))

        split_before, ends_cr = ends_cr, text.endswith("\r") and not text.endswith("\r\n")
        if bad_byte is not None:
            col, byte = bad_byte
            bad(f"not valid UTF-8 (byte 0x{byte:02x} at column {col + 1})",
                "re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)")
            continue
        if not text.strip():
            bad("blank line (mlx-lm fails on it)", "delete the empty line")
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            if ends_cr:
                bad("a bare carriage return (\\r) ends this line mid-record: mlx-lm reads \\r as a line break",
                    "escape carriage returns inside strings as \\r, or remove them (e.g. tr -d '\\r')")
            elif split_before:
                bad(f"the rest of a record cut at line {lineno - 1} by a bare carriage return (\\r)",
                    "escape carriage returns inside strings as \\r, or remove them")
            elif text.startswith("\ufeff"):
                bad("starts with a byte-order mark (BOM)", "re-save the file as UTF-8 without BOM")
            else:
                bad(json_error(exc, text),
                    "each line must be one complete JSON object; check quotes, commas and brackets")
            continue
        if not isinstance(obj, dict):
            bad(f"a JSON {_json_kind(obj)}, not an object",
                'wrap it as {"messages": [...]}, {"prompt": ..., "completion": ...} or {"text": ...}')
            continue
        fmt = record_format(obj)
        if fmt is None:
            keys = ", ".join(sorted(obj)[:5]) or "none"
            bad(f"unknown format (keys: {keys})",
                "use 'messages' (chat), 'prompt'+'completion' (completions) or 'text'")
            continue
        if summary.format is None:
            summary.format, first_fmt_line = fmt, lineno
        elif fmt != summary.format:
            bad(f"{fmt} record in a {summary.format} file (line {first_fmt_line} set the format)",
                "mlx-lm picks the format from the first line; convert every line to one format")
            continue
        issue = _check_fields(obj, fmt)
        if issue:
            bad(*issue)
            if len(issue) < 3:  # warnings still leave a usable row
                continue
        summary.rows += 1
    return summary


def _json_kind(obj) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(obj), "number")


def check_folder(folder: str | Path) -> CheckReport:
    folder = Path(folder)
    report = CheckReport(folder=str(folder))
    if not folder.is_dir():
        report.add(Problem(str(folder), 0, "folder not found",
                           "give a folder holding train.jsonl and valid.jsonl"))
        return report
    formats = {}
    for name in SPLITS:
        path = folder / f"{name}.jsonl"
        label = f"{folder.name}/{name}.jsonl"
        if not path.is_file():
            if name == "train":
                report.add(Problem(label, 0, "missing", "every data folder needs train.jsonl"))
            elif name == "valid":
                report.add(Problem(label, 0, "missing: training runs without validation loss",
                                   "split some examples off into valid.jsonl", "warning"))
            else:
                report.add(Problem(label, 0, "missing: test loss cannot be measured",
                                   "split some examples off into test.jsonl", "warning"))
            continue
        errors_before = report.errors
        summary = check_file(path, report, label)
        report.splits[name] = summary
        if summary.rows == 0 and report.errors == errors_before:
            # mlx-lm reads the first record of every split file that exists.
            report.add(Problem(label, 0, "file is empty (mlx-lm fails on it)",
                               "add examples, one JSON object per line, or delete the file"))
        if summary.format:
            formats[name] = summary.format
    if len(set(formats.values())) > 1:
        detail = ", ".join(f"{k} is {v}" for k, v in formats.items())
        report.add(Problem(folder.name, 0, f"splits use different formats ({detail})",
                           "mlx-lm accepts this, but losses are only comparable within one format",
                           "warning"))
    return report
