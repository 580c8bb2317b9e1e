"""The one renderer of a status line: what a screen is doing, how it went,
and, for a failure, the ``file:line`` and the fix. Any screen shows its
job's state with a ``StatusLine`` so every failure reads the same way."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from core.runtime import events as ev
from core.runtime.errors import TuneDeckError

KINDS = ("idle", "working", "ok", "warning", "error")
MARKS = {"ok": "✓ ", "warning": "! ", "error": "✗ "}
STYLES = {"ok": "bold green", "warning": "bold yellow", "error": "bold red"}


@dataclass(frozen=True)
class Status:
    kind: str = "idle"  # one of KINDS
    message: str = ""
    hint: str = ""  # what to do about it
    where: str = ""  # e.g. data/train.jsonl:17

    @classmethod
    def failed(cls, failure: ev.JobFailed | TuneDeckError, lead: str = "") -> Status:
        """An error status from a job's failure event or a raised error;
        ``lead`` names what failed ("memory check: ...")."""
        return cls("error", lead + failure.message, failure.hint, failure.where)


def render_status(status: Status) -> Text:
    text = f"{status.where}: {status.message}" if status.where else status.message
    if status.hint:
        text += f"\nfix: {status.hint}"
    return Text(MARKS.get(status.kind, "") + text, style=STYLES.get(status.kind, ""))


class StatusLine(Static):
    """Set ``status`` (or call ``show``/``failed``); the line repaints itself."""

    status: reactive[Status] = reactive(Status, layout=True)

    def __init__(self, status: Status | str = "", **kwargs) -> None:
        status = status if isinstance(status, Status) else Status(message=status)
        super().__init__(render_status(status), **kwargs)
        self.set_reactive(StatusLine.status, status)

    def watch_status(self, status: Status) -> None:
        self.update(render_status(status))

    def show(self, message: str, kind: str = "idle", hint: str = "", where: str = "") -> None:
        self.status = Status(kind, message, hint, where)

    def failed(self, failure: ev.JobFailed | TuneDeckError, lead: str = "") -> None:
        self.status = Status.failed(failure, lead)
