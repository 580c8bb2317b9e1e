"""Each widget the screens are built from, mounted alone in a tiny app."""

from __future__ import annotations

import asyncio
import json
import time

from ui_helpers import Alone, screen_text, wait_for

from core.runtime import events as ev
from core.runtime.errors import TuneDeckError
from core.runtime.eta import clock, eta_seconds
from core.training.settings import default_settings
from tui.widgets.event_log import EventLog
from tui.widgets.job_progress import JobProgress
from tui.widgets.loss_plot import LossPlot
from tui.widgets.runs_browser import RunsBrowser
from tui.widgets.status_line import Status, StatusLine, render_status
from tui.widgets.train_form import NO_PAIR, TrainForm


class One(Alone):
    """The widget alone, with the messages it posts."""

    def __init__(self, widget) -> None:
        super().__init__(widget)
        self.messages: list = []

    def on_loss_plot_painted(self, message) -> None:
        self.messages.append(message)

    def on_train_form_noted(self, message) -> None:
        self.messages.append(message)


def mounted(widget, check) -> None:
    async def run():
        app = One(widget)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await check(app, pilot)

    asyncio.run(run())


def test_eta_is_the_rate_so_far():
    assert eta_seconds(10, 40, 5.0) == 15.0  # 2 a second, 30 to go
    assert eta_seconds(0, 40, 5.0) is None and eta_seconds(10, 40, 0) is None
    assert eta_seconds(50, 40, 5.0) == 0
    assert (clock(None), clock(125), clock(3900)) == ("00:00", "02:05", "1h05m")


def test_status_line_renders_every_failure_the_same_way():
    failed = ev.JobFailed(job_id=1, name="train", message="bad line", hint="fix the JSON", where="train.jsonl:3")
    raised = TuneDeckError("bad line", "fix the JSON", "train.jsonl:3")
    assert render_status(Status.failed(failed)) == render_status(Status.failed(raised))
    text = render_status(Status.failed(failed, "memory check: "))
    assert text.plain == "✗ train.jsonl:3: memory check: bad line\nfix: fix the JSON" and text.style == "bold red"
    assert render_status(Status("ok", "done")).plain == "✓ done"
    assert render_status(Status(message="idle")).plain == "idle"

    async def check(app, pilot):
        line = app.widget
        assert str(line.content) == "ready"
        line.failed(raised)
        await pilot.pause()
        assert str(line.content).startswith("✗ train.jsonl:3: bad line")

    mounted(StatusLine("ready"), check)


def test_job_progress_follows_progress_events_and_works_out_the_eta():
    async def check(app, pilot):
        bar = app.widget
        bar.show(ev.Progress(job_id=1, message="tokenizing", done=3, total=12))
        await pilot.pause()
        assert (bar.progress, bar.total) == (3, 12)
        bar.span(100, at=40)  # a resumed run: the rate counts from its first step here
        bar.started = time.monotonic() - 10
        bar.advance(60)
        assert 19 < bar.eta() < 21  # 20 steps in 10 s, 40 to go

    mounted(JobProgress(), check)


def test_event_log_stamps_each_line():
    async def check(app, pilot):
        app.widget.add("saved checkpoint at iter 5")
        await pilot.pause()
        (line,) = [s.text.rstrip() for s in app.widget.lines]
        assert line.endswith(" saved checkpoint at iter 5") and line[2] == ":" and line[5] == ":"

    mounted(EventLog(), check)


def test_lines_written_while_the_log_is_not_shown_wrap_at_its_width_once_it_is():
    # A log on a tab not shown has no width: its lines were wrapped at Rich's narrowest (20).
    line = "pre-flight passed: 16.0 MB over 2 processes: 4.44 Gbit/s"

    async def check(app, pilot):
        log = app.widget
        log.display = False  # as on a tab not shown now
        await pilot.pause()
        log.add(line)
        await pilot.pause()
        log.display = True
        await wait_for(pilot, lambda: log.lines, 5)
        (shown,) = [s.text.rstrip() for s in log.lines]
        assert shown.endswith(line)

    mounted(EventLog(), check)


def report(iteration: int, loss: float) -> ev.TrainReport:
    return ev.TrainReport(
        job_id=1,
        iteration=iteration,
        train_loss=loss,
        learning_rate=1e-5,
        iterations_per_second=1.0,
        tokens_per_second=100.0,
        trained_tokens=iteration * 100,
        peak_memory_gb=0.1,
    )


def test_the_loss_plot_counts_whole_iterations():
    # plotext's own ticks for a run at iteration 35 were 0.0 8.8 17.5 26.2 35.0.
    async def check(app, pilot):
        plot = app.widget
        for i in range(1, 36):
            plot.add_report(report(i, 3.0 - i / 20))
        plot.flush()
        await pilot.pause()
        shown = screen_text(app)
        assert [line.split() for line in shown.splitlines() if line.split()[:1] == ["0"]] == [
            ["0", "10", "20", "30"]
        ], shown

    mounted(LossPlot(), check)


def test_loss_plot_keeps_every_point_and_paints_at_most_every_interval():
    async def check(app, pilot):
        plot = app.widget
        plot.REPAINT_EVERY = 30  # the second report must wait
        plot.add_report(report(1, 2.0))  # the first paints at once
        plot.add_report(report(2, 1.5))
        await pilot.pause()
        assert [m.report.iteration for m in app.messages] == [1]
        assert plot.flush().iteration == 2 and plot.flush() is None  # shown once, at the end
        plot.add_val(2, 1.7)
        assert plot.train_pts == [(1, 2.0), (2, 1.5)] and plot.val_pts == [(2, 1.7)]

    mounted(LossPlot(), check)


def test_runs_browser_lists_pins_and_shows_a_running_row(tmp_path):
    for name, iteration in (("20261201-100000-a", 3), ("20261201-110000-b", 5)):
        run = tmp_path / name
        run.mkdir()
        records = [
            {"type": "start", "time": time.time(), "iters": 10, "model": "/m/a", "data": "/d"},
            {"type": "train", "iteration": iteration, "train_loss": 1.0},
        ]
        (run / "events.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))

    async def check(app, pilot):
        runs = app.widget
        runs.refresh_runs()
        await pilot.pause()
        table = runs.query_one("#runs-table")
        assert table.row_count == 2 and runs.highlighted()
        first = runs.highlighted()
        assert runs.toggle_overlay() == first and table.get_cell(first, "run").startswith("◆ ")
        assert runs.toggle_overlay() is None
        runs.show_running(first, 7, 10, 0.5)
        assert (table.get_cell(first, "iters"), table.get_cell(first, "val")) == ("7/10", "0.500")

    mounted(RunsBrowser(root=tmp_path), check)


def test_runs_browser_reads_running_rows_again_off_the_ui_thread(tmp_path, monkeypatch):
    import threading

    import tui.widgets.runs_browser as browser
    from core.training.run_folders import RunLock

    run = tmp_path / "20261201-120000-live"
    log = run / "events.jsonl"
    lock = RunLock(run).acquire()  # as its run process holds it: the row reads "running"
    log.write_text(json.dumps({"type": "start", "time": time.time(), "iters": 50, "model": "/m", "data": "/d"}) + "\n")
    readers, read = [], browser.run_info

    def recorded(path):
        readers.append(threading.current_thread() is threading.main_thread())
        return read(path)

    monkeypatch.setattr(browser, "run_info", recorded)

    async def check(app, pilot):
        runs = app.widget
        runs.refresh_runs()
        table = runs.query_one("#runs-table")
        assert str(table.get_cell(str(run), "status")) == "running"
        with log.open("a") as fh:
            fh.write(json.dumps({"type": "train", "iteration": 12, "train_loss": 1.0}) + "\n")
            fh.write(json.dumps({"type": "val", "iteration": 12, "val_loss": 0.75}) + "\n")
        await pilot.pause()
        readers.clear()  # (highlighting the row read it once, as the user moved there)
        runs.refresh_running()
        await wait_for(pilot, lambda: str(table.get_cell(str(run), "iters")) == "12/50", 10)
        assert str(table.get_cell(str(run), "val")) == "0.750"
        lock.release()  # its process ended
        runs.refresh_running()
        await wait_for(pilot, lambda: str(table.get_cell(str(run), "status")) != "running", 10)

    try:
        mounted(RunsBrowser(root=tmp_path), check)
    finally:
        lock.release()
    assert readers and not any(readers)  # each timed read of the running rows was made on a worker thread


def test_train_form_reads_back_what_it_was_filled_with(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"text": "a"}\n' * 4)

    async def check(app, pilot):
        form = app.widget
        assert form.settings() == (None, NO_PAIR)
        form.pair = (str(tmp_path / "model"), str(tmp_path))
        form.fill(default_settings(str(tmp_path / "model"), str(tmp_path), ""))
        await pilot.pause()
        s, problem = form.settings()
        assert problem is None and s.data == str(tmp_path)
        assert "examples" in str(form.query_one("#config-info").content)
        form.query_one("#iters").value = "0"
        await pilot.pause()
        assert "iters" in form.settings()[1] and form.query_one("#config-error").display

    mounted(TrainForm(), check)
