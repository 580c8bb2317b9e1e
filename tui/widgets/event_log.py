"""A job's log: one timestamped line per event worth keeping, wrapped
between the names of a long path (``PathLog``)."""

from __future__ import annotations

import time

from tui.widgets.path_log import PathLog


class EventLog(PathLog):
    def __init__(self, **kwargs) -> None:
        # min_width: RichLog wraps at >= 78 columns by default, which crops lines at 80x24
        options = {"max_lines": 200, "wrap": True, "markup": False, "min_width": 20, **kwargs}
        super().__init__(**options)

    def add(self, text: str) -> None:
        self.write_line(f"{time.strftime('%H:%M:%S')} {text}")
