"""The past runs, read from their folders: a table, a line about the
highlighted run, and its curve (with one pinned run overlaid to compare).
Rows of running runs (any process's) are read again every few seconds, on
a thread: an hour-long run's events.jsonl takes a while to read."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from core.training.run_folders import RunInfo, curve, list_runs, read_events, run_info
from tui.widgets.loss_plot import draw_curves

HELP = "Enter shows a run · o overlays it · r resumes it · a attaches to a running one"
LIVE_SECONDS = 2.0  # how often running rows are read again (one events.jsonl each)


def shown_path(path: str) -> str:
    """A folder as people read it: ~ for the home folder."""
    home = str(Path.home())
    return "~" + path[len(home) :] if path.startswith(home + "/") else path


class RunsBrowser(Vertical):
    DEFAULT_CSS = """
    RunsBrowser { height: 1fr; }
    RunsBrowser #runs-table { height: 7; }
    RunsBrowser #runs-plot { height: 1fr; min-height: 5; }
    RunsBrowser #runs-info { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, root: str | Path | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.root = root  # the runs folder (None: TuneDeck's own)
        self.overlay_path: str | None = None  # the pinned run (◆)
        self.shown_path: str | None = None  # the run whose curve is shown

    def compose(self) -> ComposeResult:
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static(HELP, id="runs-info")
        yield PlotextPlot(id="runs-plot")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key in (("run", "run"), ("status", "status"), ("iters", "iters"), ("val loss", "val")):
            table.add_column(label, key=key)
        self._live = self.set_interval(LIVE_SECONDS, self.refresh_running, pause=True)

    def focus_table(self) -> None:
        self.query_one(DataTable).focus()

    def refresh_runs(self) -> None:
        """Read the list from the run folders again, keeping the cursor's row."""
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        running = False
        for r in list_runs(self.root):
            val = f"{r.last_val_loss:.3f}" if r.last_val_loss is not None else "-"
            mark = "◆ " if r.path == self.overlay_path else ""
            table.add_row(mark + r.name[-34:], r.status, f"{r.iteration}/{r.iters}", val, key=r.path)
            running = running or r.status == "running"
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))
        self._follow_live(running)

    def _follow_live(self, running: bool) -> None:
        self._live.resume() if running else self._live.pause()

    class RunningRead(Message):
        """The running rows' runs, as read again from their folders."""

        def __init__(self, infos: list[RunInfo]) -> None:
            super().__init__()
            self.infos = infos

    def refresh_running(self) -> None:
        """Read the running rows again (off the UI thread): a run trained by any process moves on here."""
        table = self.query_one(DataTable)
        running = [key.value for key in table.rows if str(table.get_cell(key, "status")) == "running"]
        if running:
            self._read_running(running)
        else:
            self._follow_live(False)

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs-live")
    def _read_running(self, paths: list[str]) -> None:
        self.post_message(self.RunningRead([run_info(p) for p in paths]))  # post_message: thread-safe

    @on(RunningRead)
    def _running_read(self, message: RunningRead) -> None:
        table = self.query_one(DataTable)
        for r in message.infos:
            key = str(r.path)
            if key not in table.rows:  # the list was read again meanwhile
                continue
            table.update_cell(key, "status", r.status)
            table.update_cell(key, "iters", f"{r.iteration}/{r.iters}")
            if r.last_val_loss is not None:
                table.update_cell(key, "val", f"{r.last_val_loss:.3f}")
        self._follow_live(any(r.status == "running" for r in message.infos))

    def show_running(self, run_dir: str | None, iteration: int, total: int, val: float | None) -> None:
        """The running run's row, from its events (the list is read from disk
        only at its start and end: reading every run at each report costs)."""
        table = self.query_one(DataTable)
        if run_dir not in table.rows:
            return
        table.update_cell(run_dir, "status", "running")
        table.update_cell(run_dir, "iters", f"{iteration}/{total}")
        if val is not None:
            table.update_cell(run_dir, "val", f"{val:.3f}")

    def highlighted(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.shown_path = event.row_key.value
        info = run_info(self.shown_path)
        if info.model or info.data:
            self.query_one("#runs-info", Static).update(
                f"{Path(info.model).name or '?'} on {shown_path(info.data or '?')} · o overlay · r resume"
            )
        self.show_plot()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.shown_path = event.row_key.value
        self.show_plot()

    def show_plot(self) -> None:
        series = []
        for path in dict.fromkeys(p for p in (self.shown_path, self.overlay_path) if p):
            c = curve(read_events(path))
            label = "◆" if path == self.overlay_path and path != self.shown_path else ""
            series.append((label, c.train, c.val))
        draw_curves(self.query_one(PlotextPlot), series)

    def toggle_overlay(self) -> str | None:
        """Pin the highlighted run (or unpin it); returns the pinned run, if any."""
        path = self.highlighted()
        if path is None:
            return None
        self.overlay_path = None if self.overlay_path == path else path
        self.refresh_runs()
        self.show_plot()
        return self.overlay_path
