"""Runs outlive the TUI: it starts them in a process of their own, attaches
to them when opened, stops them with x, asks before quitting and before
loading a model beside them (real run processes, the tiny demo model)."""

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input
from ui_helpers import at_step, record_notifications, text_of, wait_for

from core.training.launcher import launch_new, running_runs
from core.training.run_folders import is_locked, latest_checkpoint, new_run_dir, read_events, run_info, status
from core.training.settings import demo_settings
from tui.app import make_app

LONG = 100000  # iterations no test waits for: the run is stopped


@pytest.fixture
def no_run_left():
    """Whatever a test leaves training is killed at its end (by the pid its run wrote)."""
    yield
    for info in running_runs():
        pid = status(info.path).get("pid")
        if isinstance(pid, int) and pid > 0:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 30
    while running_runs() and time.monotonic() < deadline:
        time.sleep(0.1)


def launch(demo_model, sample_data, iters=LONG, **kw):
    """A run started as a shell's ``tunedeck train --detach`` would: no app involved."""
    run = new_run_dir(demo_model)
    settings = demo_settings(
        demo_model, sample_data, str(run / "adapters"), iters=iters, steps_per_report=1, steps_per_eval=LONG, **kw
    )
    launched = launch_new(settings, run)
    deadline = time.monotonic() + 120
    while not any(e["type"] == "train" for e in read_events(run)):
        assert launched.process.poll() is None, (run / "run.log").read_text()
        assert time.monotonic() < deadline, "the run never reported"
        time.sleep(0.1)
    return run, launched.process


def wait_unlocked(run: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while is_locked(run):
        assert time.monotonic() < deadline, "the run is still training"
        time.sleep(0.1)


async def attached(pilot, app, timeout: float = 60):
    """The app's Train screen once it has attached at start and drawn a report."""
    await wait_for(pilot, lambda: app.current_mode == "train" and getattr(app.screen, "job", None), timeout)
    screen = app.screen
    await wait_for(pilot, lambda: screen.plot.train_pts and "iter " in text_of(screen, "#stats"), timeout)
    return screen


@pytest.mark.slow
def test_a_hang_up_leaves_the_run_training_and_a_new_app_attaches_to_it(demo_model, sample_data, no_run_left):
    iters = 60

    def before_the_app(*_):
        raise AssertionError("the app did not catch SIGHUP")

    async def first():
        async with at_step("train", model_path=demo_model, data_dir=sample_data) as (app, pilot, notes):
            screen = app.screen
            for fid, value in (("#iters", str(iters)), ("#reportsteps", "1"), ("#evalsteps", "20")):
                screen.query_one(fid, Input).value = value
            await pilot.pause()
            await pilot.press("s")
            await wait_for(pilot, lambda: len(screen.plot.train_pts) >= 2, 120)
            os.kill(os.getpid(), signal.SIGHUP)  # as a dropped SSH link or a killed tmux sends it
            deadline = time.monotonic() + 30
            while not app.stopped_by or app.is_running:  # the app exits by itself: no pilot calls
                assert time.monotonic() < deadline, "the app did not leave"
                await asyncio.sleep(0.05)
            return app, Path(screen.run_dir)

    previous = signal.signal(signal.SIGHUP, before_the_app)
    try:
        app, run = asyncio.run(first())
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert app.return_code == 129
    assert not [t for t in threading.enumerate() if isinstance(t, threading.Timer) and t.is_alive()]
    assert is_locked(run) and run_info(run).iteration < iters  # the run trains on without the app
    # Held while the new app opens, however long that takes on a busy machine:
    # a run that finished first would leave it nothing to attach to.
    pid = status(run)["pid"]
    os.kill(pid, signal.SIGSTOP)

    async def second():
        app = make_app()
        notes = record_notifications(app)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await attached(pilot, app)
            os.kill(pid, signal.SIGCONT)
            assert screen.run_dir == str(run) and app.session.run_dir == str(run)
            assert (app.session.model_path, app.session.data_dir) == (demo_model, sample_data)
            assert any(n.title == "Attached to a running run" and run.name in n.message for n in notes)
            assert "x stops it" in notes[-1].message
            assert text_of(screen, "#subject").startswith("training tunedeck-demo on ")
            # The curve from the session's start, not from the attach.
            assert screen.plot.train_pts[0][0] == 1
            await wait_for(pilot, lambda: "Training finished after" in text_of(screen, "#stats"), 180)
            assert f"Training finished after {iters} iterations" in text_of(screen, "#stats")
            assert [i for i, _ in screen.plot.train_pts] == list(range(1, iters + 1))
            assert app.session.adapter_path == str(run / "adapters")

    try:
        asyncio.run(second())
    finally:
        try:
            os.kill(pid, signal.SIGCONT)  # never left held, whatever failed
        except ProcessLookupError:
            pass  # it has finished and gone
    wait_unlocked(run)
    kinds = [e["type"] for e in read_events(run)]
    assert kinds.count("start") == 1 and kinds[-1] == "finished"
    assert [e["iteration"] for e in read_events(run) if e["type"] == "train"] == list(range(1, iters + 1))
    assert (run / "adapters" / "adapters.safetensors").is_file()
    assert int(latest_checkpoint(run).name) == iters


@pytest.mark.slow
def test_two_apps_see_one_run_and_x_from_either_stops_it_cleanly(demo_model, sample_data, no_run_left):
    other, _ = launch(demo_model, sample_data)
    run, _ = launch(demo_model, sample_data)  # the newest: the one an app attaches to

    async def both():
        a, b = make_app(), make_app()
        notes = record_notifications(a)
        async with a.run_test(size=(80, 24)) as pa, b.run_test(size=(80, 24)) as pb:
            sa, sb = await attached(pa, a), await attached(pb, b)
            assert sa.run_dir == sb.run_dir == str(run)
            assert "1 other run training too" in notes[-1].message

            # The Runs tab reads the other run's row again as it trains (no app follows it).
            await pb.press("ctrl+p")
            table = sb.query_one("#runs-table", DataTable)
            seen = str(table.get_cell(str(other), "iters"))
            await wait_for(pb, lambda: str(table.get_cell(str(other), "iters")) != seen, 60)
            assert str(table.get_cell(str(other), "status")) == "running"

            # a on that row: b follows it now, and the run it left trains on.
            table.move_cursor(row=table.get_row_index(str(other)))
            await pb.press("a")
            await wait_for(pb, lambda: sb.run_dir == str(other) and sb.plot.train_pts, 60)
            assert sb.query_one("#tabs").active == "tab-run" and is_locked(run)

            await pa.press("x")
            await wait_for(pa, lambda: sa.job.done, 120)
            await pa.pause()
            assert "Training stopped after" in text_of(sa, "#stats") and "r resumes" in text_of(sa, "#stats")

            await pb.press("x")
            await wait_for(pb, lambda: sb.job.done, 120)
            await pb.pause()
            assert "Training stopped after" in text_of(sb, "#stats")

    asyncio.run(both())
    for r in (run, other):
        wait_unlocked(r)
        end = read_events(r)[-1]
        assert end["type"] == "stopped" and end["reason"] == "x in TuneDeck"
        assert int(latest_checkpoint(r).name) == end["iteration"] >= 1
        assert (r / "adapters" / "adapters.safetensors").is_file()


@pytest.mark.slow
def test_quitting_while_a_run_trains_asks_leave_or_stop(demo_model, sample_data, no_run_left):
    async def leave():
        async with at_step("train", model_path=demo_model, data_dir=sample_data) as (app, pilot, notes):
            screen = app.screen
            screen.query_one("#iters", Input).value = str(LONG)
            await pilot.pause()
            await pilot.press("s")
            await wait_for(pilot, lambda: screen.plot.train_pts, 120)
            await pilot.press("ctrl+q")
            assert type(app.screen).__name__ == "QuitWhileTraining"
            await pilot.press("escape")  # stays
            assert app.screen is screen and app.is_running
            await pilot.press("ctrl+q")
            await pilot.press("enter")  # the default: quit and leave it training
            await wait_for(pilot, lambda: not app.is_running, 30)
            return Path(screen.run_dir)

    run = asyncio.run(leave())
    at = run_info(run).iteration
    deadline = time.monotonic() + 60
    while run_info(run).iteration == at:  # it goes on after the app has gone
        assert time.monotonic() < deadline and is_locked(run)
        time.sleep(0.1)

    async def stop():
        app = make_app()
        notes = record_notifications(app)
        async with app.run_test(size=(80, 24)) as pilot:
            await attached(pilot, app)
            await pilot.press("ctrl+q")
            await pilot.press("s")
            await wait_for(pilot, lambda: any(n.title == "Stopping…" for n in notes), 10)
            await wait_for(pilot, lambda: not app.is_running, 120)

    asyncio.run(stop())
    assert not is_locked(run)  # it quit only once the run had stopped
    end = read_events(run)[-1]
    assert end["type"] == "stopped" and end["reason"] == "ctrl+q in TuneDeck"
    assert int(latest_checkpoint(run).name) == end["iteration"] > at


@pytest.mark.slow
def test_a_chat_load_while_a_run_trains_asks_first(demo_model, sample_data, no_run_left):
    run, _ = launch(demo_model, sample_data)

    async def chat():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await attached(pilot, app)
            app.go("chat")
            await pilot.pause()
            screen = app.screen
            assert "loads at your first question" in screen.model_state and screen.load_job is None
            await pilot.press(*"hi", "enter")
            assert type(app.screen).__name__ == "ConfirmDialog"
            body = str(app.screen.query_one("#confirm-body").content)
            assert f"The run {run.name} trains now" in body and "tunedeck-demo" in body
            await pilot.press("n")
            assert app.screen is screen and not screen.messages  # nothing loaded, nothing sent
            await pilot.press("enter")
            await pilot.press("y")
            await wait_for(pilot, lambda: screen.messages and screen.messages[-1]["role"] == "assistant", 120)
            await pilot.press(*"again", "enter")  # once per run: no second question
            assert app.screen is screen
            await wait_for(pilot, lambda: len(screen.messages) == 4, 120)

            # The Judge screen asks too, before an evaluation.
            app.go("train")
            await pilot.pause()
            train = app.screen
            await pilot.press("j")
            await pilot.press("e")
            assert type(app.screen).__name__ == "ConfirmDialog"
            await pilot.press("n")
            judge = app.screen
            assert "not evaluated: a run is training" in "\n".join(str(x) for x in judge.query_one("#judge-log").lines)
            await pilot.press("escape")
            assert app.screen is train

            # A run started now unloads that chat model, and the log keeps saying so.
            await pilot.press("x")
            await wait_for(pilot, lambda: train.job.done, 120)
            await pilot.press("s")
            await wait_for(pilot, lambda: train.run_dir != str(run) and train.plot.train_pts, 120)
            log = "\n".join(str(line) for line in train.query_one("#log").lines)
            assert "unloaded the chat models: the run needs their memory" in log

    asyncio.run(chat())
    assert read_events(run)[-1]["reason"] == "x in TuneDeck"
    assert len(running_runs()) == 1  # the app left the new one training (no_run_left ends it)
