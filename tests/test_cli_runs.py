"""``tunedeck train --detach``, ``runs``, ``runs watch`` and ``runs stop``,
end to end in real processes, as a user over SSH types them."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from core.training.run_folders import read_events, run_info

pytestmark = pytest.mark.slow


def tunedeck(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui", *args], capture_output=True, text=True, timeout=timeout)


def test_detach_list_watch_and_stop(demo_model, sample_data, tmp_path):
    run = tmp_path / "long"
    common = ["--model", demo_model, "--data", sample_data, "--steps-per-report", "2", "--steps-per-eval", "100000"]
    started = tunedeck("train", *common, "--iters", "100000", "--out", str(run), "--detach")
    assert started.returncode == 0, started.stdout + started.stderr
    assert f"training in the background: {run}" in started.stdout
    assert f"tunedeck runs watch {run}" in started.stdout and f"tunedeck runs stop {run}" in started.stdout
    assert run_info(run).status == "running"  # the command has ended; its run has not

    listed = tunedeck("runs", "--dir", str(tmp_path))
    assert "long" in listed.stdout and "running" in listed.stdout and "tunedeck runs watch RUN" in listed.stdout

    # A watcher follows it live until it ends, and ends with the run's exit status.
    watcher = subprocess.Popen(
        [sys.executable, "-m", "tui", "runs", "watch", str(run)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        time.sleep(3)
        stopped = tunedeck("runs", "stop", str(run))
        out, _ = watcher.communicate(timeout=120)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert f"stopping {run.name}: its current step finishes and is saved first" in stopped.stdout
    assert f"resume it with `tunedeck train --resume {run}`" in stopped.stdout
    end = read_events(run)[-1]
    assert end["type"] == "stopped" and end["reason"] == "tunedeck runs stop"
    text = out.decode()
    assert f"watching {run.name}" in text and "iter " in text and f"stopped after {end['iteration']} iterations" in text
    assert watcher.returncode == 143  # a stop asked by another process is the run's SIGTERM

    again = tunedeck("runs", "stop", str(run))
    assert again.returncode == 1 and "is not training (stopped" in again.stdout and "nothing to stop" in again.stdout
    watched = tunedeck("runs", "--dir", str(tmp_path), "watch", run.name)
    assert watched.returncode == 130 and f"{run.name} is not training: stopped at {end['iteration']}" in watched.stdout

    missing = tunedeck("runs", "watch", str(tmp_path / "nope"))
    assert missing.returncode == 1 and "is not a TuneDeck run folder" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_a_short_run_in_the_foreground_prints_and_finishes(demo_model, sample_data, tmp_path):
    run = tmp_path / "short"
    done = tunedeck("train", "--model", demo_model, "--data", sample_data, "--iters", "6", "--out", str(run))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "... loading model" in done.stdout and "iter 5: train loss" in done.stdout
    assert f"finished after 6 iterations of {demo_model}" in done.stdout
    assert run_info(run).status == "finished" and (run / "adapters" / "adapters.safetensors").is_file()
    assert "run process" in (run / "run.log").read_text()  # the run's own output went to its folder
