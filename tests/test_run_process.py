"""Runs in a process of their own (core.training.run_process), started and
followed through the engine as the TUI and the CLI do: refusals said before
any process starts, a crash seen at once, late and second viewers, leaving
a run training, wall-time checkpoints, the run's status file, and keeping a
Mac awake. The CLI's commands on top of it: tests/test_cli_runs.py."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from core.runtime import events as ev
from core.runtime.awake import keep_awake
from core.runtime.errors import Cancelled, TuneDeckError
from core.training.launcher import launch_new, request_stop, running_runs
from core.training.run_folders import is_locked, read_events, run_info, status
from core.training.settings import demo_settings

LONG = dict(iters=100000, save_every=1000, steps_per_report=2, steps_per_eval=100000, save_minutes=0)


def wait_until(cond, timeout: float = 120, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what or cond}"
        time.sleep(0.05)


def reports(recorder, job) -> list[ev.TrainReport]:
    return recorder.of(ev.TrainReport, job)


def test_a_mistake_is_said_before_any_process_starts(demo_model, sample_data, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    with pytest.raises(TuneDeckError, match="already exists and is not a run folder"):
        launch_new(demo_settings(demo_model, sample_data, ""), mine)
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]  # no run.log, no lock: nothing written

    bad = tmp_path / "bad-data"
    bad.mkdir()
    lines = Path(sample_data, "train.jsonl").read_text().splitlines()
    lines[2] = '{"messages": [{"role": "user"'
    (bad / "train.jsonl").write_text("\n".join(lines) + "\n")
    (bad / "valid.jsonl").write_text(Path(sample_data, "valid.jsonl").read_text())
    run = tmp_path / "run"
    with pytest.raises(TuneDeckError) as err:
        launch_new(demo_settings(demo_model, str(bad), ""), run)
    assert err.value.where.endswith("bad-data/train.jsonl:3") and err.value.hint
    assert not run.exists()


@pytest.mark.slow
def test_a_run_process_trains_is_followed_late_twice_and_stops_cleanly(engine, recorder, demo_model, sample_data):
    job = engine.start_run(demo_settings(demo_model, sample_data, "", **LONG))
    wait_until(lambda: len(reports(recorder, job)) >= 2 or job.done, what="reports")
    run = Path(job.state["run_dir"])
    assert [r.path for r in running_runs()] == [str(run)]
    # run.json: who trains it, and how far (display only: the lock decides)
    wait_until(lambda: status(run).get("iteration", 0) >= 2, what="a heartbeat")
    info = status(run)
    assert info["pid"] != os.getpid() and info["iters"] == 100000 and info["heartbeat"] <= time.time()

    # Two late viewers: each replays the session from its start, then goes on live.
    late = [engine.attach_run(run), engine.attach_run(run)]
    wait_until(lambda: all(recorder.of(ev.TrainStarted, j) for j in late), what="replayed starts")
    seen = len(reports(recorder, job))
    wait_until(lambda: all(len(reports(recorder, j)) > seen for j in late), what="live reports")

    job.cancel("stopped by the test")
    for j in (job, *late):
        result = j.result(timeout=120)
        assert result.stopped_early and result.reason == "stopped by the test"
        assert [e.result for e in recorder.of(ev.JobFinished, j)] == [result]  # its one end
    end = read_events(run)[-1]
    assert end["type"] == "stopped" and end["reason"] == "stopped by the test"
    assert (run / "checkpoints" / f"{end['iteration']:07d}").is_dir()  # resumable from exactly there
    assert not is_locked(run) and not (run / "stop.json").exists() and not (run / "run.json").exists()
    starts = [e.job_id for e in recorder.of(ev.TrainStarted) if e.job_id in (job.id, *(j.id for j in late))]
    assert len(starts) == 3  # every viewer heard the one start


@pytest.mark.slow
def test_leaving_a_run_leaves_it_training_and_a_kill_shows_as_crashed_at_once(
    engine, recorder, demo_model, sample_data
):
    job = engine.start_run(demo_settings(demo_model, sample_data, "", **LONG))
    wait_until(lambda: reports(recorder, job) or job.done, what="a report")
    run = Path(job.state["run_dir"])
    engine.detach_runs()  # what quitting the app, or a hang-up, does
    with pytest.raises(Cancelled):
        job.result(timeout=10)
    time.sleep(1.0)
    assert run_info(run).status == "running" and read_events(run)[-1]["type"] == "train"

    watcher = engine.attach_run(run)
    wait_until(lambda: reports(recorder, watcher), what="the watcher's reports")
    os.kill(status(run)["pid"], signal.SIGKILL)  # power loss, the OOM killer
    killed = time.monotonic()
    with pytest.raises(TuneDeckError, match="the run process ended without finishing") as err:
        watcher.result(timeout=30)
    assert time.monotonic() - killed < 3  # the kernel drops the lock at once
    assert "resume it" in err.value.hint or "start it again" in err.value.hint
    assert run_info(run).status == "crashed"


@pytest.mark.slow
def test_a_run_process_that_cannot_begin_says_why(engine, demo_model, sample_data, tmp_path):
    run = tmp_path / "done"
    engine.train(demo_settings(demo_model, sample_data, "", iters=2, steps_per_eval=100), run).result(timeout=120)
    # The launcher cannot know this one: the process finds it under the run's lock, and says so.
    job = engine.resume_run(run, iters=2)
    with pytest.raises(TuneDeckError, match="already completed 2 of 2 iterations") as err:
        job.result(timeout=120)
    assert "--iters" in err.value.hint
    assert "already completed" in (run / "run.log").read_text()


def test_wall_time_checkpoints_come_besides_save_every(engine, demo_model, sample_data, tmp_path):
    s = demo_settings(
        demo_model, sample_data, "", iters=3, save_every=1000, steps_per_eval=1000, save_minutes=1e-9
    )  # every step is "minutes" after the last save here
    engine.train(s, tmp_path / "run").result(timeout=120)
    saved = [e["iteration"] for e in read_events(tmp_path / "run") if e["type"] == "checkpoint"]
    assert saved == [1, 2, 3]
    off = demo_settings(demo_model, sample_data, "", iters=3, save_every=1000, steps_per_eval=1000, save_minutes=0)
    engine.train(off, tmp_path / "off").result(timeout=120)
    assert [e["iteration"] for e in read_events(tmp_path / "off") if e["type"] == "checkpoint"] == [3]


def test_stop_needs_a_process_that_trains_the_run(tmp_path):
    (tmp_path / "events.jsonl").write_text("")
    assert request_stop(tmp_path) is False  # nothing holds it: nothing to stop, nothing written
    assert not (tmp_path / "stop.json").exists()


def test_a_mac_is_kept_awake_while_it_trains_and_let_go_after(tmp_path, monkeypatch):
    log = tmp_path / "caffeinate.log"
    tool = tmp_path / "bin" / "caffeinate"
    tool.parent.mkdir()
    # A stand-in for macOS's own tool: says how it was called, then holds on as caffeinate -w does.
    tool.write_text(f'#!/bin/sh\necho "$@" > {log}\nexec sleep 60\n')
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    with keep_awake(platform="darwin") as said:
        wait_until(log.exists, 10, "caffeinate to start")
        assert log.read_text().split() == ["-i", "-w", str(os.getpid())]
        assert said.startswith("keeping the Mac awake while it trains (caffeinate, pid ")
        pid = int(said.rsplit(" ", 1)[1].rstrip(")"))
        os.kill(pid, 0)  # alive while the run trains
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # and gone after: nothing is left changed
    with keep_awake(platform="linux") as said:
        assert said == ""  # elsewhere nothing is done


def test_the_run_log_records_why_a_viewer_stopped_it(tmp_path):
    """stop.json names the reason only for the process it was written for."""
    from core.training.run_process import stop_reason

    (tmp_path / "stop.json").write_text(json.dumps({"reason": "x in TuneDeck", "pid": os.getpid()}))
    assert stop_reason(tmp_path, signal.SIGTERM) == "x in TuneDeck"
    (tmp_path / "stop.json").write_text(json.dumps({"reason": "x in TuneDeck", "pid": os.getpid() + 1}))
    assert stop_reason(tmp_path, signal.SIGTERM) == "SIGTERM"
