"""Errors meant for people: what went wrong, where, and how to fix it."""

from __future__ import annotations


class TuneDeckError(Exception):
    """A failure the user can act on. Shown as-is; never as a traceback.

    ``where`` is a location such as ``data/train.jsonl:17`` when there is one.
    """

    def __init__(self, message: str, hint: str = "", where: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.where = where

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        return f"{text}\n  fix: {self.hint}" if self.hint else text


class Cancelled(Exception):
    """Raised inside a job when the user asked it to stop."""
