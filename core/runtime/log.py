"""TuneDeck's log file: tracebacks of unexpected failures, nothing else.

The screen gets one readable line and the log's path; the log gets the
details. It is rotated (a few MB times a few files), never raises or prints
a traceback of its own when it cannot be written (a full disk must be
reported as such, not buried under logging's "--- Logging error ---"), and
never holds a Hugging Face token.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import traceback

from core.runtime import paths

log = logging.getLogger("tunedeck")

MAX_BYTES = 2 * 2**20
BACKUPS = 3  # tunedeck.log.1 … .3: at most 8 MB in all
TOKEN_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
_TOKEN_RE = re.compile(r"hf_[A-Za-z0-9]{8,}")


def redact(text: str) -> str:
    """``text`` without any Hugging Face token in it."""
    for var in TOKEN_VARS:
        secret = os.environ.get(var)
        if secret and len(secret) >= 8:
            text = text.replace(secret, "<token>")
    return _TOKEN_RE.sub("hf_<token>", text)


class _Redacting(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class QuietRotatingHandler(logging.handlers.RotatingFileHandler):
    """A rotating file handler that records its own failure instead of
    printing logging's traceback to stderr (which, in the TUI, would also
    paint over the screen)."""

    failed: BaseException | None = None

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        import sys

        self.failed = sys.exc_info()[1]
        self._drop_stream()  # its buffer would fail again at every flush; the next record reopens

    def _drop_stream(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None:
            try:
                stream.close()  # closes even when its final flush fails
            except OSError:
                pass

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as exc:  # the record did not reach the disk
            self.failed = exc
            self._drop_stream()

    def close(self) -> None:
        try:
            super().close()
        except OSError:
            pass


def log_path():
    return paths.logs_dir() / "tunedeck.log"


def _handler() -> QuietRotatingHandler:
    path = str(log_path())
    for h in log.handlers:
        if isinstance(h, QuietRotatingHandler) and h.baseFilename == os.path.abspath(path):
            return h
    paths.logs_dir().mkdir(parents=True, exist_ok=True)
    handler = QuietRotatingHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True)
    handler.setFormatter(_Redacting("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False  # never echoed to stderr by a root handler
    return handler


def log_exception(what: str) -> str:
    """Log the current exception's traceback; returns the log path, or ''
    when the log cannot be written (which must not hide the original error)."""
    try:
        handler = _handler()
        handler.failed = None
        log.error("%s:\n%s", what, traceback.format_exc())
        return "" if handler.failed is not None else handler.baseFilename
    except Exception:
        return ""
