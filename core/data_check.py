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

from core.jsonl import SPLITS

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


def _check_chat(messages) -> tuple[str, str] | None:
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
    return None


def _check_fields(obj: dict, fmt: str) -> tuple[str, str] | None:
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


def check_file(path: Path, report: CheckReport, label: str) -> SplitSummary:
    """Stream one JSONL file into ``report``; returns its summary."""
    summary = SplitSummary(name=path.stem, path=str(path))
    first_fmt_line = 0
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            def bad(message: str, fix: str, severity: str = "error") -> None:
                report.add(Problem(label, lineno, message, fix, severity))

            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad(f"not valid UTF-8 (byte {exc.start + 1} is 0x{raw[exc.start]:02x})",
                    "re-save the file as UTF-8")
                continue
            if not text.strip():
                bad("blank line (mlx-lm fails on it)", "delete the empty line")
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                bad(f"invalid JSON at column {exc.colno}: {exc.msg}",
                    "each line must be one complete JSON object; check quotes, commas and brackets")
                continue
            if not isinstance(obj, dict):
                bad(f"a JSON {type(obj).__name__}, not an object",
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
                continue
            summary.rows += 1
    return summary


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
