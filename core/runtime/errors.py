"""Errors meant for people: what went wrong, where, and how to fix it.

This is the one place that turns an exception into people's words:
``explain`` knows the failures that have a cause the user can act on (a full
disk, a missing path, no permission), ``writing`` names the file being
written when one of them strikes, and anything it does not know is a bug
(the worker logs its traceback).
"""

from __future__ import annotations

import contextlib
import errno
from pathlib import Path


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


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
# MLX reports a failed write (safetensors, npz) only as this RuntimeError,
# without the errno or the file: "[write] Unable to write 1927 bytes to file."
MLX_WRITE_FAILED = "Unable to write"


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in DISK_FULL
    return isinstance(exc, RuntimeError) and MLX_WRITE_FAILED in str(exc)


def disk_full(path: str | Path | None) -> TuneDeckError:
    where = f" while writing {path}" if path else ""
    return TuneDeckError(f"disk full{where}", "free space and resume (a stopped run resumes from its last checkpoint)")


def explain(exc: BaseException, path: str | Path | None = None) -> TuneDeckError | None:
    """People's words for ``exc`` when its cause is known, else None (a bug).

    ``path`` is the file being written or read, for errors that do not carry
    one (MLX's write failure)."""
    if isinstance(exc, TuneDeckError):
        return exc
    if is_disk_full(exc):
        return disk_full(getattr(exc, "filename", None) or path)
    if not isinstance(exc, OSError):
        return None
    name = exc.filename or path or "a file"
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOENT:
        return TuneDeckError(f"{name}: no such file or folder", "check the path (and that its folder exists)")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return TuneDeckError(f"{name}: permission denied", "choose a place you may write to, or fix its permissions")
    if exc.errno == errno.EROFS:
        return TuneDeckError(f"{name}: the disk is read-only", "choose a folder on a writable disk")
    if exc.errno in (errno.ENOTDIR, errno.EISDIR):
        return TuneDeckError(
            f"{name}: {reason.lower()}", "check the path: a file stands where a folder is expected, or the reverse"
        )
    if exc.errno == errno.EIO:
        return TuneDeckError(f"{name}: input/output error ({reason})", "the disk may be failing or unplugged")
    return None


@contextlib.contextmanager
def writing(path: str | Path):
    """Name ``path`` when the disk fills while it is written (MLX's error
    names neither the cause nor the file)."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        if is_disk_full(exc):
            raise disk_full(path) from exc
        raise
