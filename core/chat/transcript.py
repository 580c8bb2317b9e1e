"""A chat saved as Markdown: model, adapter, sampling, system prompt, turns
and the statistics of every answer. Written atomically, and never over an
existing file: a new name for the default ones, and a named file is
replaced only when it is a TuneDeck transcript and the caller says so."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.chat.generation import Sampling, describe_stop
from core.runtime import paths
from core.runtime.errors import TuneDeckError
from core.runtime.targets import TRANSCRIPT, write_file


def transcripts_dir() -> Path:
    return paths.home() / "transcripts"


@dataclass
class Answer:
    label: str  # e.g. "tuned (tunedeck-demo + adapter)"
    text: str = ""
    generation_tokens: int = 0
    tokens_per_second: float = 0.0
    time_to_first_token: float = 0.0
    stop_reason: str = ""  # "" while it is still being written
    error: str = ""
    max_tokens: int = 0  # the limit this answer ran under

    def stats(self) -> str:
        if self.error:
            return f"failed: {self.error}"
        if not self.stop_reason:
            return "unfinished"
        return (
            f"{self.generation_tokens} tokens · {self.tokens_per_second:.0f} tok/s · "
            f"first token {self.time_to_first_token * 1000:.0f} ms · "
            f"{describe_stop(self.stop_reason, self.max_tokens)}"
        )


@dataclass
class Turn:
    prompt: str
    answers: list[Answer] = field(default_factory=list)
    reference: str | None = None
    system: str | None = None  # the system prompt it was asked with, when known


@dataclass
class Transcript:
    model: str | None = None
    adapter: str | None = None
    system: str = ""
    sampling: Sampling = field(default_factory=Sampling)
    mode: str = "chat"  # chat | compare
    turns: list[Turn] = field(default_factory=list)


def _fence(text: str) -> str:
    """A fenced block that survives backticks inside the text."""
    run = longest = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}text\n{text}\n{ticks}"


HEADING = TRANSCRIPT.header  # the first line that makes a file ours


def is_transcript(path: str | Path) -> bool:
    """Whether ``path`` is a transcript TuneDeck wrote (its first line says so)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.readline().rstrip("\n") == HEADING
    except OSError:
        return False


def to_markdown(t: Transcript, saved_at: str | None = None) -> str:
    saved_at = saved_at or time.strftime("%Y-%m-%d %H:%M:%S")
    lines = [
        TRANSCRIPT.header,
        "",
        f"- saved: {saved_at}",
        f"- model: `{t.model or 'none'}`",
        f"- adapter: `{t.adapter}`" if t.adapter else "- adapter: none",
        f"- mode: {t.mode}",
        f"- sampling: {t.sampling.describe()}",
        "",
        "## System prompt",
        "",
        _fence(t.system) if t.system else "(none)",
    ]
    for n, turn in enumerate(t.turns, start=1):
        lines += ["", f"## Turn {n}", ""]
        if turn.system is not None and turn.system != t.system:  # changed during the chat
            lines += ["**System prompt:**", "", _fence(turn.system) if turn.system else "(none)", ""]
        lines += ["**You:**", "", _fence(turn.prompt)]
        for answer in turn.answers:
            lines += ["", f"**{answer.label}** — {answer.stats()}", "", _fence(answer.text)]
        if turn.reference is not None:
            lines += ["", "**Reference (test split):**", "", _fence(turn.reference)]
    return "\n".join(lines) + "\n"


def default_path(folder: Path | None = None) -> Path:
    """A new file name in ``folder`` (the transcripts folder by default): two
    saves within a second must not overwrite each other."""
    folder = folder or transcripts_dir()
    stamp = time.strftime("chat-%Y%m%d-%H%M%S")
    target, n = folder / f"{stamp}.md", 1
    while target.exists():
        n += 1
        target = folder / f"{stamp}-{n}.md"
    return target


def save(t: Transcript, path: str | Path | None = None, overwrite: bool = False) -> Path:
    """Write the transcript (never half a file); returns where it went.
    ``path`` may be a file or an existing folder (a new name goes in it); an
    existing file is replaced only if it is a transcript and ``overwrite``."""
    target = Path(path).expanduser() if path else default_path()
    if os.path.isdir(target):  # (never raises, whatever the name)
        target = default_path(target)
    try:
        write_file(target, TRANSCRIPT, to_markdown(t), overwrite)
    except OSError as exc:
        raise TuneDeckError(
            f"could not write the transcript to {target}: {exc.strerror or exc}",
            "choose a file in a folder you can write to",
        ) from exc
    return target
