"""Check an mlx-lm data folder line by line, before mlx-lm ever sees it.

mlx-lm reads ``train/valid/test.jsonl`` with one ``json.loads`` per line and
guesses the format from the first record, so one bad line deep in a file
ends a run with a bare traceback whose "line 1 column 23" is not the file's
line. This checker streams every line of every split (bounded memory), and
reports each problem as ``file:line``, what is wrong, and how to fix it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from core.data import records
from core.data.folder import SPLITS, json_error

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

    def first_error(self) -> Problem | None:
        return next((p for p in self.problems if p.severity == "error"), None)


def _short(value, width: int = 40) -> str:
    """A value for a message: its repr, cut (a 1 MB role must not fill the screen)."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _kind(value) -> str:
    return {
        list: "a list",
        dict: "an object",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


def _check_chat(messages, mask_prompt: bool = False) -> tuple[str, ...] | None:
    """(message, fix) for an error, (message, fix, "warning") for a warning."""
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list", 'write "messages": [{"role": "user", "content": "..."}, ...]'
    roles = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            return f"message {i + 1} is {_kind(m)}, not an object", 'each message is {"role": ..., "content": ...}'
        role = m.get("role")
        if not isinstance(role, str) or role not in ROLES:
            what = _short(role) if isinstance(role, str) or role is None else f"{_kind(role)} {_short(role)}"
            return (f"message {i + 1} has role {what}", "use one of system, user, assistant (tool for tool results)")
        content = m.get("content")
        if not isinstance(content, str):
            kind = "missing" if content is None else _kind(content)
            return f"message {i + 1} ({role}) content is {kind}, not a string", "make every content a string"
        if role != "system" and not content.strip():
            return f"message {i + 1} ({role}) has empty content", "fill it in or drop the example"
        roles.append(role)
    if "assistant" not in roles:
        return "no assistant turn: nothing to learn from", "add the answer as a final assistant message"
    if "system" in roles[1:]:
        return "a system message appears after the first message", "put the system message first"
    if mask_prompt and len(messages) == 1:
        # mlx-lm's prompt mask renders messages[:-1]: an empty conversation it refuses.
        return (
            "a single message: with prompt masking there is no prompt before the answer",
            "add the user turn before the answer, or train without prompt masking",
        )
    turns = [r for r in roles if r in ("user", "assistant")]
    if turns and turns[0] != "user":
        return (
            "the first turn is the assistant's, not the user's",
            "start with a user message (after an optional system message)",
            "warning",
        )
    for i in range(1, len(turns)):
        if turns[i] == turns[i - 1]:
            return (
                f"two {turns[i]} turns in a row: roles must alternate user/assistant",
                "merge the two messages; many chat templates (Llama, Mistral, Gemma) reject this",
                "warning",
            )
    if roles[-1] != "assistant":
        return (
            f"the last message is {roles[-1]}, not assistant",
            "end each example with the assistant answer it should learn",
            "warning",
        )
    return None


def check_record(obj, mask_prompt: bool = False) -> tuple[str, ...] | None:
    """The first problem with one record (as in ``_check_chat``), or None."""
    if not isinstance(obj, dict):
        return f"a JSON {_json_kind(obj)}, not an object", "write one JSON object per line"
    fmt = records.kind_of(obj)
    if fmt is None:
        return "unknown format", "use 'messages', 'prompt'+'completion' or 'text'"
    return check_as(obj, fmt, mask_prompt)


def check_as(obj: dict, fmt: str, mask_prompt: bool = False, text: str | None = None) -> tuple[str, ...] | None:
    """The first problem with ``obj`` read as a ``fmt`` record (its file's
    kind), which it must have the keys of (``records.reads``); ``text`` is
    the line it came from, if any."""
    return _check_values(obj, fmt, text) or _check_fields(obj, fmt, mask_prompt)


def _check_fields(obj: dict, fmt: str, mask_prompt: bool = False) -> tuple[str, ...] | None:
    if fmt != "text":
        # mlx-lm passes a row's "tools" to the chat template, which takes a list
        # of tool schemas (objects); anything else fails mid-run.
        tools = obj.get(records.TOOLS)
        if tools is not None and not (isinstance(tools, list) and all(isinstance(t, dict) for t in tools)):
            what = (
                _kind(tools)
                if not isinstance(tools, list)
                else "a list holding " + next(_kind(t) for t in tools if not isinstance(t, dict))
            )
            return (
                f"'tools' is {what}, not a list of tool definitions (objects)",
                'write "tools": [{"type": "function", "function": {...}}], or drop the key',
            )
    if fmt == "chat":
        return _check_chat(obj[records.DEFAULT.chat], mask_prompt)
    for key in records.DEFAULT.of(fmt):
        value = obj[key]
        if not isinstance(value, str):
            return f"'{key}' is {_kind(value)}, not a string", f"make '{key}' a string"
        if not value.strip():
            return f"'{key}' is empty", "fill it in or drop the example"
    return None


MAX_DEPTH = 64  # deeper than any real record; mlx-lm's template code recurses per level
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _check_values(obj: dict, fmt: str, text: str | None = None) -> tuple[str, str] | None:
    """Values no chat template or tokenizer survives, in the fields mlx-lm
    reads for ``fmt``: nesting deeper than ``MAX_DEPTH`` and lone UTF-16
    surrogates (JSON's ``"\\ud800"`` escape gives one; the tokenizer cannot
    encode it). Walked without recursion. ``text``, the line it came from,
    skips the walk when it cannot hold either (most lines)."""
    if text is not None:
        deep = text.count("[") + text.count("{") > MAX_DEPTH
        if not deep and not ("\\u" in text and _SURROGATE_ESCAPE.search(text)):
            return None
    read = records.DEFAULT.of(fmt) + ((records.TOOLS,) if fmt != "text" else ())
    stack = [(obj[key], 2, key) for key in read if key in obj]
    while stack:
        value, depth, where = stack.pop()
        where = where if len(where) <= 60 else where[:59] + "…"
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError as exc:
                    half = f"\\u{ord(value[exc.start]):04x}"
                    return (
                        f"{where} holds a lone surrogate ({half}, half of a UTF-16 pair): "
                        "the tokenizer cannot encode it",
                        "write the character itself, or both halves of its \\uXXXX\\uXXXX pair",
                    )
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth > MAX_DEPTH:
            return (
                f"nested more than {MAX_DEPTH} levels deep ({where})",
                "flatten the record: keep only messages/prompt/completion/text as plain strings",
            )
        if isinstance(value, dict):
            for key, item in value.items():
                stack.append((key, depth, f"{where}.{key}" if where else key))
                stack.append((item, depth + 1, f"{where}.{key}" if where else key))
        else:
            stack.extend((item, depth + 1, f"{where}[{i}]") for i, item in enumerate(value))
    return None


def jsonl_lines(path: Path):
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


def check_file(path: Path, report: CheckReport, label: str, mask_prompt: bool = False) -> SplitSummary:
    """Stream one JSONL file into ``report``; returns its summary.

    ``mask_prompt``: as training will run (mlx-lm's prompt mask refuses text
    data and a chat of one message)."""
    summary = SplitSummary(name=path.stem, path=str(path))
    try:
        _check_lines(path, report, label, summary, mask_prompt)
    except OSError as exc:  # unreadable, or gone while reading: a problem, not a crash
        report.add(
            Problem(
                label, 0, f"cannot be read ({exc.strerror or exc})", "check the file exists and you may read it (ls -l)"
            )
        )
    return summary


def _check_lines(path: Path, report: CheckReport, label: str, summary: SplitSummary, mask_prompt: bool) -> None:
    first_fmt_line = 0
    ends_cr = False  # did this line end on a bare \r (so the next one continues a record)?
    for lineno, text, bad_byte in jsonl_lines(path):

        def bad(message: str, fix: str, severity: str = "error", lineno: int = lineno) -> None:
            report.add(Problem(label, lineno, message, fix, severity))

        split_before, ends_cr = ends_cr, text.endswith("\r") and not text.endswith("\r\n")
        if bad_byte is not None:
            col, byte = bad_byte
            bad(
                f"not valid UTF-8 (byte 0x{byte:02x} at column {col + 1})",
                "re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
            )
            continue
        if not text.strip():
            bad("blank line (mlx-lm fails on it)", "delete the empty line")
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            if ends_cr:
                bad(
                    "a bare carriage return (\\r) ends this line mid-record: mlx-lm reads \\r as a line break",
                    "escape carriage returns inside strings as \\r, or remove them (e.g. tr -d '\\r')",
                )
            elif split_before:
                bad(
                    f"the rest of a record cut at line {lineno - 1} by a bare carriage return (\\r)",
                    "escape carriage returns inside strings as \\r, or remove them",
                )
            elif text.startswith("\ufeff"):
                bad("starts with a byte-order mark (BOM)", "re-save the file as UTF-8 without BOM")
            else:
                bad(
                    json_error(exc, text),
                    "each line must be one complete JSON object; check quotes, commas and brackets",
                )
            continue
        except RecursionError:  # json's own nesting limit (about a thousand levels)
            bad(
                "nested too deeply for a JSON reader (hundreds of [ or { levels)",
                "flatten the record: keep only messages/prompt/completion/text as plain strings",
            )
            continue
        except ValueError as exc:  # Python refuses integers of more than 4300 digits
            huge = "digits" in str(exc)
            bad(
                "holds a number too long to read (more than 4300 digits)" if huge else f"invalid JSON: {exc}",
                "write such a number as a string, or drop it" if huge else "each line must be one complete JSON object",
            )
            continue
        if not isinstance(obj, dict):
            bad(
                f"a JSON {_json_kind(obj)}, not an object",
                'wrap it as {"messages": [...]}, {"prompt": ..., "completion": ...} or {"text": ...}',
            )
            continue
        fmt = records.kind_of(obj)
        if fmt is None:
            keys = ", ".join(_short(k, 24) for k in sorted(obj)[:5]) or "none"
            bad(
                f"unknown format (keys: {keys})", "use 'messages' (chat), 'prompt'+'completion' (completions) or 'text'"
            )
            continue
        if summary.format is None:
            summary.format, first_fmt_line = fmt, lineno
            if mask_prompt and fmt == "text":
                bad(
                    "prompt masking is on but this is text data: it has no prompt to mask",
                    "train without prompt masking, or use chat or completions data",
                )
                continue
        elif not records.reads(obj, summary.format):
            # mlx-lm picks one dataset class from the first record and reads
            # only that format's keys from every later one.
            bad(
                f"{fmt} record in a {summary.format} file (line {first_fmt_line} set the format)",
                "mlx-lm picks the format from the first line; convert every line to one format",
            )
            continue
        issue = check_as(obj, summary.format, mask_prompt, text)
        if issue:
            bad(*issue)
            if len(issue) < 3:  # warnings still leave a usable row
                continue
        summary.rows += 1


def _json_kind(obj) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(obj), "number")


def check_folder(folder: str | Path, mask_prompt: bool = False) -> CheckReport:
    """Check every split of an mlx-lm data folder. Never raises: every
    problem, the folder's own included, is a ``Problem`` in the report."""
    folder = Path(folder)
    report = CheckReport(folder=str(folder))
    if not folder.is_dir():
        report.add(Problem(str(folder), 0, "folder not found", "give a folder holding train.jsonl and valid.jsonl"))
        return report
    formats = {}
    for name in SPLITS:
        path = folder / f"{name}.jsonl"
        label = f"{folder.name}/{name}.jsonl"
        if path.exists() and not path.is_file():  # mlx-lm would open (or block on) it
            report.add(
                Problem(
                    label,
                    0,
                    "is not a regular file (a folder, link or device)",
                    f"make {name}.jsonl a JSONL file, or move it away",
                )
            )
            continue
        if not path.is_file():
            if name == "train":
                report.add(Problem(label, 0, "missing", "every data folder needs train.jsonl"))
            elif name == "valid":
                report.add(
                    Problem(
                        label,
                        0,
                        "missing: training runs without validation loss",
                        "split some examples off into valid.jsonl",
                        "warning",
                    )
                )
            else:
                report.add(
                    Problem(
                        label,
                        0,
                        "missing: test loss cannot be measured",
                        "split some examples off into test.jsonl",
                        "warning",
                    )
                )
            continue
        errors_before = report.errors
        summary = check_file(path, report, label, mask_prompt)
        report.splits[name] = summary
        if summary.rows == 0 and report.errors == errors_before:
            # mlx-lm reads the first record of every split file that exists.
            report.add(
                Problem(
                    label,
                    0,
                    "file is empty (mlx-lm fails on it)",
                    "add examples, one JSON object per line, or delete the file",
                )
            )
        if summary.format:
            formats[name] = summary.format
    if len(set(formats.values())) > 1:
        detail = ", ".join(f"{k} is {v}" for k, v in formats.items())
        report.add(
            Problem(
                folder.name,
                0,
                f"splits use different formats ({detail})",
                "mlx-lm accepts this, but losses are only comparable within one format",
                "warning",
            )
        )
    return report
