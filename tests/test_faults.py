"""The process-level fault suite on the demo model (figures in docs/reliability.md).

* SIGKILL of the run process at random moments, seeded (TUNEDECK_FAULT_SEED,
  TUNEDECK_KILL_TRIALS): the newest checkpoint always loads, each resume
  continues the iteration count, the final curve and adapter equal an
  unbroken run's, events.jsonl is never corrupt beyond a torn last line, and
  the user's files in the run folder survive every clean-up.
* SIGINT, SIGTERM, a second SIGINT while stopping, to the command showing
  the run: a clean stop (checkpoint of the last step, a stop record naming
  the signal, exit 128 + signal), resumable. SIGHUP with the terminal gone:
  the run trains on, and ``tunedeck runs stop`` stops it cleanly.
* Two processes on one run: one trains, the other (a second resume, or the
  TUI) refuses, naming the run folder.
* A full disk (a small tmpfs, mounted as root; skipped where that cannot be
  done) while checkpointing, building a dataset, fusing and exporting.

Set TUNEDECK_FAULT_REPORT=path.json to write the figures of a run.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import queue
import random
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.runtime import events as ev
from core.runtime.errors import TuneDeckError
from core.training.follow import Tail
from core.training.launcher import launch_resume
from core.training.run_folders import checkpoint_dirs, curve, latest_checkpoint, read_events, run_info
from core.training.settings import demo_settings

SEED = int(os.environ.get("TUNEDECK_FAULT_SEED", "1207"))
TRIALS = int(os.environ.get("TUNEDECK_KILL_TRIALS", "20"))
REPORT: dict = {}


def _report(key: str, value) -> None:
    REPORT[key] = value
    path = os.environ.get("TUNEDECK_FAULT_REPORT")
    if path:
        Path(path).write_text(json.dumps(REPORT, indent=2) + "\n")


class Proc:
    """A headless ``tunedeck`` child whose output lines are read as they come."""

    def __init__(self, *args, stdout=None):
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        self.p = subprocess.Popen(
            [sys.executable, "-m", "tui", *args],
            stdout=stdout or subprocess.PIPE,
            stderr=subprocess.STDOUT if stdout is None else stdout,
            text=stdout is None,
        )
        if stdout is None:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.p.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"exited ({self.p.wait()}) before {text!r}:\n" + "".join(self.seen[-30:]))
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no {text!r} in {timeout} s:\n" + "".join(self.seen[-30:]))

    def finish(self, timeout: float = 180) -> tuple[int, str]:
        rc = self.p.wait(timeout)
        while True:
            line = self.lines.get(timeout=30)
            if line is None:
                return rc, "".join(self.seen)
            self.seen.append(line)

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(30)


def safetensors_complete(path: Path) -> bool:
    """The header parses and the file holds every byte it promises."""
    data = path.read_bytes()
    if len(data) < 8:
        return False
    (n,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8 : 8 + n])
    except ValueError:
        return False
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    return len(data) == 8 + n + end


def check_run(run: Path) -> dict:
    """What must hold after any fault: returns the newest checkpoint's
    iteration and whether the log's last line was torn."""
    raw = (run / "events.jsonl").read_bytes().split(b"\n")
    complete, last = raw[:-1], raw[-1]
    for line in complete:
        json.loads(line)  # every finished line is a whole record
    torn = bool(last)
    for ckpt in checkpoint_dirs(run):
        state = json.loads((ckpt / "state.json").read_text())
        assert state["iteration"] == int(ckpt.name)
        for name in ("adapters.safetensors", "optimizer.safetensors"):
            assert safetensors_complete(ckpt / name), ckpt / name
        json.loads((ckpt / "adapter_config.json").read_text())
    for folder in ("adapters", "best"):
        if (run / folder / "adapters.safetensors").exists():
            assert safetensors_complete(run / folder / "adapters.safetensors"), folder
    for p in (run / "checkpoints").iterdir():  # anything else there is a temp name, never a checkpoint
        assert p.name.isdigit() or p.name.startswith("."), p
    newest = latest_checkpoint(run)
    return {"latest": int(newest.name) if newest else 0, "torn": torn}


def wait_for_record(run: Path, launched, kind: str, timeout: float = 180) -> dict:
    """The first ``kind`` record the launched run process writes."""
    tail = Tail(run / "events.jsonl", launched.offset)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in tail.read():
            if record["type"] == kind:
                return record
        if launched.process.poll() is not None:
            raise AssertionError(f"the run process exited ({launched.process.returncode}) before a {kind} record")
        time.sleep(0.05)
    raise AssertionError(f"no {kind} record in {timeout} s")


def users_files(run: Path) -> dict:
    """Hidden files of the user's that look like temp names, inside the run."""
    files = {
        run / ".notes.tmp.txt": "n",
        run / ".bashrc.old-2023": "b",
        run / ".session.tmp" / "s": "s",
        run / "adapters" / ".cache.tmp": "c",
        run / "checkpoints" / ".0000001.keep.tmp": "k",
        run / "notes.md": "mine",
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return files


def lost_files(files: dict) -> list[str]:
    return [str(p) for p, text in files.items() if not p.is_file() or p.read_text() != text]


KW = dict(
    save_every=1, steps_per_report=1, steps_per_eval=1000, lora_parameters={"rank": 8, "scale": 20.0, "dropout": 0.1}
)


@pytest.mark.slow
def test_sigkill_and_signals_at_random_moments_lose_nothing(engine, demo_model, sample_data, tmp_path):
    rng = random.Random(SEED)
    run = tmp_path / "run"
    started = time.monotonic()
    engine.train(demo_settings(demo_model, sample_data, "", iters=2, **KW), run).result(timeout=300)
    mine = users_files(run)
    trials = []
    for trial in range(TRIALS):
        before = check_run(run)["latest"]
        starts = sum(e["type"] == "start" for e in read_events(run))
        launched = launch_resume(run, iters=100000)  # the run process, as the TUI and the CLI start it
        proc = launched.process
        try:
            if rng.random() < 0.3:  # anywhere: imports, the lock, the sweep, loading, the first steps
                phase, delay = "start-up", rng.uniform(0.0, 3.0)
            else:  # while training: mid-step, mid-checkpoint, mid-log-line
                wait_for_record(run, launched, "checkpoint")
                phase, delay = "training", rng.uniform(0.0, 0.6)
            time.sleep(delay)
            proc.kill()
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
        made = trial % 5 == 4 and not check_run(run)["torn"]  # a kill mid-line is rare: make one every 5th trial
        if made:
            with open(run / "events.jsonl", "a") as fh:
                fh.write('{"type": "train", "iteration": 99')
        state = check_run(run)
        where = f"trial {trial} (seed {SEED}, {phase}, +{delay:.2f} s)"
        assert state["latest"] >= before, f"{where}: checkpoint {before} lost"
        new_starts = [e for e in read_events(run) if e["type"] == "start"][starts:]
        assert all(e["start_iteration"] == before for e in new_starts), where  # continues the count
        assert run_info(run).status in ("crashed", "finished"), where  # at once, never "still training"
        assert not lost_files(mine), where
        trials.append(
            {
                "phase": phase,
                "delay": round(delay, 3),
                "from": before,
                "to": state["latest"],
                "torn_line": state["torn"],
                "torn_by_test": made,
            }
        )

    # The clean stops, on the same run: each leaves a checkpoint of exactly
    # its last step and a stop record, and the next resume goes on from it.
    stops = []
    for name, signals, code in (
        ("SIGINT", [signal.SIGINT], 130),
        ("SIGTERM", [signal.SIGTERM], 143),
        ("double SIGINT", [signal.SIGINT, signal.SIGINT], 130),
        ("SIGHUP", [signal.SIGHUP], 129),
    ):
        before = check_run(run)["latest"]
        if name == "SIGHUP":  # a terminal that goes away: output to it fails from then on
            master, slave = pty.openpty()
            proc = Proc("train", "--resume", str(run), "--iters", "100000", stdout=slave)
            os.close(slave)
            buf = b""
            while b"checkpoints/" not in buf:
                try:
                    data = os.read(master, 4096)
                except OSError:  # Linux: EIO once the child has exited
                    data = b""
                if not data:
                    raise AssertionError(f"exited ({proc.p.wait()}): " + buf.decode(errors="replace"))
                buf += data
            os.close(master)
            proc.p.send_signal(signal.SIGHUP)
            rc, out = proc.p.wait(120), ""
            assert rc == code and run_info(run).status == "running"  # the terminal went; the run trains on
            time.sleep(1.0)
            assert read_events(run)[-1]["type"] != "stopped"
            stopper = Proc("runs", "stop", str(run))
            assert stopper.finish()[0] == 0
        else:
            proc = Proc("train", "--resume", str(run), "--iters", "100000")
            proc.wait_for("checkpoints/")
            for i, sig in enumerate(signals):
                if i:  # at once once the first is taken (sent sooner, the kernel merges two pending SIGINTs)
                    proc.wait_for("stopping (")
                proc.p.send_signal(sig)
                sent = time.time()
            rc, out = proc.finish()
        assert rc == code, f"{name}: exit {rc}\n{out[-3000:]}"
        assert "Traceback" not in out and "terminate called" not in out, out[-3000:]
        end = read_events(run)[-1]
        reason = "tunedeck runs stop" if name == "SIGHUP" else signals[0].name
        assert end["type"] == "stopped" and end["reason"] == reason, end
        if len(signals) > 1 and end["time"] > sent + 0.01:  # the second came while it was stopping
            assert "already stopping" in out, out[-3000:]
        state = check_run(run)
        assert state["latest"] == end["iteration"] > before, (name, state, end)
        if out:
            assert f"stopped after {end['iteration']} iterations" in out
        stops.append({"signal": name, "exit": rc, "from": before, "stopped_at": end["iteration"]})

    # One last resume, then the whole curve against an unbroken run's.
    final = check_run(run)["latest"] + 3
    result = engine.resume(run, iters=final).result(timeout=300)
    assert result.iterations == final
    whole = tmp_path / "whole"
    engine.train(demo_settings(demo_model, sample_data, "", iters=final, **KW), whole).result(timeout=600)
    got, want = dict(curve(read_events(run)).train), dict(curve(read_events(whole)).train)
    assert sorted(got) == list(range(1, final + 1))  # continuous: every iteration once
    for it in range(1, final + 1):
        assert got[it] == pytest.approx(want[it], rel=1e-4), it

    def same_adapter():
        import mlx.core as mx

        a, b = (
            mx.load(str(run / "adapters/adapters.safetensors")),
            mx.load(str(whole / "adapters/adapters.safetensors")),
        )
        return a.keys() == b.keys() and all(mx.allclose(a[k], b[k], atol=1e-5).item() for k in a)

    assert engine.worker.call(same_adapter)
    assert not lost_files(mine)
    _report(
        "sigkill",
        {
            "seed": SEED,
            "trials": len(trials),
            "survived": len(trials),
            "start_up_kills": sum(t["phase"] == "start-up" for t in trials),
            "torn_last_lines": sum(t["torn_line"] for t in trials),
            "torn_by_the_test": sum(t["torn_by_test"] for t in trials),
            "checkpoints_lost": 0,
            "user_files_lost": len(lost_files(mine)),
            "final_iteration": final,
            "stops": stops,
            "trials_detail": trials,
            "seconds": round(time.monotonic() - started, 1),
        },
    )


@pytest.mark.slow
def test_two_resumes_at_once_and_the_tui_one_trains_the_others_refuse(engine, demo_model, sample_data, tmp_path):
    from textual.widgets import Static
    from ui_helpers import at_step, wait_for

    run = tmp_path / "run"
    engine.train(demo_settings(demo_model, sample_data, "", iters=2, **KW), run).result(timeout=300)
    starts = sum(e["type"] == "start" for e in read_events(run))
    a = Proc("train", "--resume", str(run), "--iters", "100000")
    b = Proc("train", "--resume", str(run), "--iters", "100000")
    try:
        deadline = time.monotonic() + 180
        while a.p.poll() is None and b.p.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        loser, winner = (a, b) if a.p.poll() is not None else (b, a)
        rc, out = loser.finish()
        assert rc == 1 and f"error: {run} is being trained by another process (pid " in out, out
        assert "fix: " in out and "Traceback" not in out
        winner.wait_for("checkpoints/")
        assert run_info(run).status == "running"

        async def tui_resume():  # a second app instance on the same run
            async with at_step("train") as (app, pilot, notes):
                screen = app.screen
                screen.run_dir = str(run)
                await pilot.press("r")
                await wait_for(
                    pilot,
                    lambda: "being trained by another process" in str(screen.query_one("#stats", Static).content),
                    60,
                )

        asyncio.run(tui_resume())
        winner.p.send_signal(signal.SIGTERM)
        rc, out = winner.finish()
        assert rc == 143, out[-2000:]
    finally:
        a.kill()
        b.kill()
    check_run(run)
    assert sum(e["type"] == "start" for e in read_events(run)) == starts + 1  # only the winner started
    assert read_events(run)[-1]["reason"] == "SIGTERM"


# -- a full disk -----------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """``make(size)``: a tmpfs of that size, mounted for the test (root only)."""
    mounts = []

    def make(size: str) -> Path:
        if sys.platform != "linux" or os.geteuid() != 0:
            pytest.skip("a full disk is simulated with a small tmpfs, which needs root on Linux")
        mnt = tmp_path / f"disk{len(mounts)}"
        mnt.mkdir()
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True, text=True
        )
        if proc.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip() or proc.returncode}")
        mounts.append(mnt)
        (mnt / "notes.txt").write_text("the user's file on that disk\n")
        return mnt

    yield make
    for mnt in mounts:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` until only ``leave`` bytes are free."""
    st = os.statvfs(disk)
    ballast = disk / "ballast"
    with open(ballast, "wb") as fh:
        fh.truncate(0)
        free = st.f_bavail * st.f_frsize
        chunk = b"\0" * (1 << 16)
        left = max(free - leave, 0)
        while left > 0:
            try:
                left -= fh.write(chunk[:left])
                fh.flush()
            except OSError:
                break
    return ballast


def assert_full_disk_error(err, path) -> None:
    assert "disk full while writing" in err.message and str(path) in err.message, err.message
    assert "free space" in err.hint


def hidden(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*")]


def test_full_disk_while_checkpointing_keeps_the_previous_checkpoint(engine, demo_model, sample_data, small_disk):
    disk = small_disk("8m")
    run = disk / "run"

    def fill_after_first_checkpoint(event):
        if isinstance(event, ev.CheckpointSaved) and event.iteration == 2:
            fill(disk, leave=64 * 1024)  # room for log lines, not for a checkpoint

    engine.add_listener(fill_after_first_checkpoint)
    try:
        job = engine.train(
            demo_settings(demo_model, sample_data, "", iters=8, save_every=2, steps_per_report=1, steps_per_eval=1000),
            run,
        )
        with pytest.raises(TuneDeckError) as err:
            job.result(timeout=300)
    finally:
        engine.remove_listener(fill_after_first_checkpoint)
    assert_full_disk_error(err.value, run / "checkpoints" / "0000004")
    assert check_run(run)["latest"] == 2 and hidden(run) == []  # nothing half-written left
    assert read_events(run)[-1]["type"] == "failed"
    assert (disk / "notes.txt").read_text() == "the user's file on that disk\n"
    (disk / "ballast").unlink()  # space freed: the run goes on from its checkpoint
    result = engine.resume(run).result(timeout=300)
    assert result.start_iteration == 2 and result.iterations == 8


def test_full_disk_while_building_fusing_and_exporting(engine, demo_model, sample_data, small_disk, tmp_path):
    from test_write_rule import snapshot

    from core.data.build import BuildSpec, build

    disk = small_disk("256k")
    earlier = disk / "data"
    build(BuildSpec(source=sample_data, out=str(earlier), split="20,5,5"))
    before = snapshot(disk)
    for out in (earlier, disk / "new"):  # replacing an earlier build, and a new one
        with pytest.raises(TuneDeckError) as err:
            build(BuildSpec(source=sample_data, out=str(out), overwrite=True))
        assert_full_disk_error(err.value, out)
        assert snapshot(disk) == before  # the earlier build whole, no half-written folder

    run = tmp_path / "run"
    engine.train(demo_settings(demo_model, sample_data, "", iters=2, steps_per_eval=1000), run).result(timeout=300)
    with pytest.raises(TuneDeckError) as err:
        engine.fuse(demo_model, str(run / "adapters"), str(disk / "fused"), verify=False).result(timeout=300)
    assert_full_disk_error(err.value, disk / "fused")
    assert snapshot(disk) == before

    fused = tmp_path / "fused"
    engine.fuse(demo_model, str(run / "adapters"), str(fused), verify=False).result(timeout=300)
    with pytest.raises(TuneDeckError) as err:
        engine.export_lmstudio(str(fused), root=str(disk / "lms"), name="m").result(timeout=300)
    assert_full_disk_error(err.value, disk / "lms" / "tunedeck" / "m")
    assert {k for k in snapshot(disk)} - set(before) <= {"lms/", "lms/tunedeck/"}  # only the empty parents
    assert not list((disk / "lms" / "tunedeck").iterdir())
