"""One line of download progress: a bar, then bytes · speed · ETA · files.

The Model screen (model downloads) and the Data screen (hub datasets, and
its build steps) show the same ``DownloadProgress`` events this way.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from core.models.model_info import format_size
from core.runtime import events as ev
from core.runtime.eta import clock


def download_text(event: ev.DownloadProgress) -> str:
    """Fits beside the bar at 80 columns even for GB sizes and an hour-long ETA."""
    eta = ""
    if event.eta_seconds is not None and (event.done or 0) < (event.total or 0):
        eta = f" · ETA {clock(event.eta_seconds)}"
    return (
        f"{format_size(event.done) if event.done else '0 B'}/{format_size(event.total)}"
        f" · {format_size(event.bytes_per_second)}/s{eta}"
        f" · {event.files_done}/{event.files_total} files"
    )


class DownloadProgressRow(Horizontal):
    """The bar and its line; hidden until a job reports progress."""

    DEFAULT_CSS = """
    DownloadProgressRow { height: 1; padding: 0 1; display: none; }
    DownloadProgressRow ProgressBar { width: 22; }
    DownloadProgressRow Bar { width: 16; }
    DownloadProgressRow .progress-line { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield ProgressBar(show_eta=False)
        yield Static("", classes="progress-line")

    def start(self, text: str = "starting…") -> None:
        self.query_one(ProgressBar).update(total=None, progress=0)
        self.query_one(Static).update(text)
        self.display = True

    def show(self, event: ev.Progress) -> str:
        """Show a progress event (bytes, or a step's done/total); returns the line shown."""
        self.display = True
        if event.total:
            self.query_one(ProgressBar).update(total=event.total, progress=event.done or 0)
        if isinstance(event, ev.DownloadProgress):
            text = download_text(event)
        elif event.total:
            text = f"{int(event.done or 0):,}/{int(event.total):,}"
        else:
            text = ""
        self.query_one(Static).update(text)
        return text

    def stop(self) -> None:
        self.display = False
