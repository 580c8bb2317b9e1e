"""A RichLog whose lines break between the names of a long path, not inside
one: Rich wraps only at spaces and cuts a word wider than the log wherever
the line ends, which split file names (a GGUF's, a run folder's) mid-word."""

from __future__ import annotations

import re

from textual.widgets import RichLog

PATH_PIECE = re.compile(r"[^/]*/|[^/]+")  # "a/b/c.gguf" -> "a/", "b/", "c.gguf"


def wrap_at_names(text: str, width: int) -> list[str]:
    """``text`` as lines of at most ``width`` characters: broken at spaces,
    and a word too long for a line after a ``/``; only a single name wider
    than the whole line is cut."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            pieces = PATH_PIECE.findall(word) if len(word) > width else [word]
            for i, piece in enumerate(pieces):
                glue = " " if line and i == 0 else ""
                if line and len(line) + len(glue) + len(piece) > width:
                    lines.append(line)
                    line, glue = "", ""
                line += glue + piece
                while len(line) > width:
                    lines.append(line[:width])
                    line = line[width:]
        lines.append(line)
    return lines


class PathLog(RichLog):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        # Lines written before the log has a width (e.g. on a tab not shown
        # yet): wrapped when it has one, not at Rich's narrow fallback.
        self._unwrapped: list[str] = []

    def write_line(self, text: str) -> None:
        self._unwrapped.append(text)
        self._flush()

    def on_resize(self) -> None:
        self.call_after_refresh(self._flush)

    def _flush(self) -> None:
        width = self.scrollable_content_region.width
        if width < 10:
            return
        lines, self._unwrapped = self._unwrapped, []
        for text in lines:
            for line in wrap_at_names(text, width):
                self.write(line)
