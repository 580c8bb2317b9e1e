"""The Training screen keeps what it shows true while a run trains, stops and
resumes (Pilot at 80x24, the demo model)."""

import asyncio
import threading

import pytest
from textual.widgets import DataTable
from ui_helpers import text_of, wait_for

from tui.app import make_app


def run_row(screen) -> list[str]:
    table = screen.query_one("#runs-table", DataTable)
    return [str(c) for c in table.get_row(screen.run_dir)]


@pytest.mark.slow
def test_runs_row_follows_the_run_and_a_stopped_resume_offers_r(demo_model, sample_data):
    async def run():
        app = make_app()  # its own engine: the app shuts it down on exit
        async with app.run_test(size=(80, 24)) as pilot:
            app.session.model_path, app.session.data_dir = demo_model, sample_data
            app.go("train")
            await pilot.pause()
            screen = app.screen
            for fid, value in (("#iters", "400"), ("#reportsteps", "2"), ("#evalsteps", "400")):
                screen.query_one(fid).value = value
            await pilot.press("escape", "s")
            # The base's validation loss at iteration 0 comes first: the axis starts at 0, not -1.
            await wait_for(pilot, lambda: screen.plot.val_pts)
            await pilot.pause()
            assert "-1.0" not in screen.query_one("#plot").plt.build()
            await wait_for(pilot, lambda: screen.plot.train_pts and screen.plot.train_pts[-1][0] >= 4)
            await wait_for(pilot, lambda: run_row(screen)[2] != "0/400")  # the row follows the reports
            status, iters = run_row(screen)[1:3]
            assert status == "running" and iters.endswith("/400") and int(iters.split("/")[0]) >= 2

            await pilot.press("x")
            await wait_for(pilot, lambda: screen.job.done)
            await pilot.pause()
            assert run_row(screen)[1] == "stopped"  # not left reading "running"

            await pilot.press("ctrl+p")  # the Runs tab: its table has the keys at once
            assert screen.query_one("#tabs").active == "tab-runs"
            assert app.focused is screen.query_one("#runs-table")

            # A resume stopped before its first step (queued behind a job that
            # holds the worker) says how to go on with it: r, not s.
            release = threading.Event()
            blocker = app.engine.worker.submit("hold", lambda ctx: release.wait(30))
            await pilot.press("r", "x")
            release.set()
            blocker.result(timeout=30)
            await wait_for(pilot, lambda: screen.job.done)
            await pilot.pause()
            stats = text_of(screen, "#stats")
            assert "Press r to resume the run" in stats and "Press s" not in stats

    asyncio.run(run())


def test_a_run_of_several_processes_says_how_many_and_where(tmp_path):
    from ui_helpers import at_step

    from core.runtime import events as ev

    async def run():
        async with at_step("train") as (app, pilot, notes):
            screen = app.screen
            start = dict(run_dir=str(tmp_path / "run"), iters=100, start_iteration=0, trainable_parameters=1)
            start.update(total_parameters=2, train_examples=10, model="/m/tunedeck-demo", data=str(tmp_path / "d"))
            screen.on_train_started(ev.TrainStarted(**start, processes=2, hosts=["mac1", "mac2"]))
            await pilot.pause()
            subject = text_of(screen, "#subject")
            assert subject.startswith("training tunedeck-demo on ") and subject.endswith(" · 2 processes on 2 hosts")
            log = "\n".join(line.text for line in screen.query_one("#log").lines)
            assert "2 processes on 2 hosts: mac1, mac2" in log
            screen.on_train_started(ev.TrainStarted(**start))  # one process: nothing added
            await pilot.pause()
            assert "processes" not in text_of(screen, "#subject")

    asyncio.run(run())
