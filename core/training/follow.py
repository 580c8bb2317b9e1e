"""Follow a run from its folder: the one way a TUI or CLI hears a run.

The run process appends every record to RUN_DIR/events.jsonl as it
happens; a follower tails that file and turns each record back into the
event the trainer emitted (``core.runtime.events``), so a screen or the
CLI handles a run the same way whether this process started it, an earlier
one did, or a shell did. The run has ended when its terminal record
arrives; it has crashed when no process holds its lock any more (the
kernel drops the lock of a killed process at once) and none was written.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import fields
from pathlib import Path

from core.runtime import events as ev
from core.runtime.errors import Cancelled, TuneDeckError
from core.training.launcher import request_stop
from core.training.result import TrainResult
from core.training.run_folders import (
    BEST,
    EVENTS,
    PROCESS_LOG,
    TERMINAL_STATUS,
    is_locked,
    latest_checkpoint,
    parse_record,
    read_events,
)
from core.training.run_process import error_said

POLL_SECONDS = 0.1  # how often the log is looked at: a report reaches the screen this much later at most
UNLOCK_WAIT = 10.0  # after its end record, the process closes and lets go of the run within this

EVENT_OF = {
    "start": ev.TrainStarted,
    "train": ev.TrainReport,
    "val": ev.ValReport,
    "checkpoint": ev.CheckpointSaved,
    "best": ev.BestAdapterSaved,
    "progress": ev.Progress,
}


def event_of(record: dict) -> ev.Event | None:
    """The event a log record was written from (None: not one a viewer shows)."""
    cls = EVENT_OF.get(record.get("type"))
    if cls is None:
        return None
    try:
        return cls(**{f.name: record[f.name] for f in fields(cls) if f.name in record and f.name != "job_id"})
    except TypeError:  # a record of an older or newer TuneDeck without a field the event needs
        return None


def session_offset(run_dir: str | Path) -> int:
    """Where the run's current session begins in events.jsonl (its last
    "start", or what follows the last end), for a viewer attaching late."""
    path = Path(run_dir) / EVENTS
    offset, at = 0, 0
    try:
        with open(path, "rb") as fh:
            for line in fh:
                if not line.endswith(b"\n"):
                    break
                kind = (parse_record(line) or {}).get("type")
                if kind == "start":
                    offset = at
                at += len(line)
                if kind in TERMINAL_STATUS:
                    offset = at
    except OSError:
        return 0
    return offset


class Tail:
    """Complete records appended to events.jsonl from ``offset`` on."""

    def __init__(self, path: Path, offset: int = 0):
        self.path, self.offset, self.size = path, offset, -1

    def read(self) -> list[dict]:
        try:
            size = os.stat(self.path).st_size
        except OSError:
            return []
        if size == self.size:
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # an unfinished last line waits for its newline
        self.offset += end
        self.size = size if end == len(data) else -1
        return [r for r in map(parse_record, data[:end].splitlines()) if r is not None]


def _early_error(run_dir: Path, process: subprocess.Popen) -> TuneDeckError:
    """Why a run process ended before its run began: its last error line."""
    code = process.returncode
    try:
        lines = (run_dir / PROCESS_LOG).read_text(encoding="utf-8", errors="replace").splitlines()[-200:]
    except OSError:
        lines = []
    for line in reversed(lines):
        said = error_said(line)
        if said is not None:
            return TuneDeckError(said["message"], said.get("hint", ""), where=said.get("where", ""))
    return TuneDeckError(
        f"the run process ended (exit status {code}) before training began",
        f"its output is in {run_dir / PROCESS_LOG}",
    )


def _crashed(run_dir: Path, iteration: int) -> TuneDeckError:
    ckpt = latest_checkpoint(run_dir)
    kept = (
        f"resume it: it continues from its checkpoint at iteration {int(ckpt.name)}"
        if ckpt
        else "start it again: it ended before its first checkpoint"
    )
    return TuneDeckError(
        f"the run process ended without finishing at iteration {iteration} "
        f"(killed, out of memory, or MLX aborted; its output: {run_dir / PROCESS_LOG})",
        kept,
    )


def result_of(run_dir: Path, start: dict | None, end: dict) -> TrainResult:
    """The job's result, as the in-process trainer returns it, from the records."""
    start = start or {}
    best = [e["val_loss"] for e in read_events(run_dir) if e["type"] == "best"]
    return TrainResult(
        adapter_path=end.get("adapter_path", start.get("adapter_path", "")),
        iterations=end.get("iterations", end.get("iteration", 0)),
        stopped_early=end["type"] == "stopped",
        model=end.get("model", start.get("model", "")),
        data=end.get("data", start.get("data", "")),
        seconds=end["time"] - start["time"] if "time" in start else 0.0,
        run_dir=str(run_dir),
        best_path=str(run_dir / BEST) if (run_dir / BEST).is_dir() else None,
        best_val_loss=min(best, default=None),
        start_iteration=start.get("start_iteration", 0),
        reason=end.get("reason", ""),
    )


def follow(
    ctx, run_dir: str | Path, offset: int = 0, process: subprocess.Popen | None = None, session: str = ""
) -> TrainResult:
    """Emit the run's records from ``offset`` on as events until it ends.

    ``ctx`` is the following job's: cancelling it asks the run to stop
    cleanly (and goes on following until it has); ``ctx.state["detach"]``
    set before the cancel only stops following, leaving the run to train.
    ``process``, ``session``: the run process this caller started, and the
    session its records carry (a process that raced it to the run's lock
    writes others); its exit tells an early failure from a crash. Returns the trainer's ``TrainResult``; a
    failed or crashed run raises ``TuneDeckError``, a run stopped before
    its first step ``Cancelled``."""
    run_dir = Path(run_dir)
    tail = Tail(run_dir / EVENTS, offset)
    start: dict | None = None
    end: dict | None = None
    iteration = 0
    asked_stop = drained = False
    ended_at = None
    while True:
        for record in tail.read():
            if session and record.get("session") != session:
                continue
            kind = record["type"]
            if kind in TERMINAL_STATUS:
                end = record
                continue
            if kind == "start":
                start, end = record, None
            elif kind in ("train", "checkpoint"):
                iteration = max(iteration, int(record.get("iteration", 0)))
            event = event_of(record)
            if event is not None:
                ctx.emit(event)
        if ctx.state.get("detach"):
            raise Cancelled()
        alive = process.poll() is None if process is not None else is_locked(run_dir)
        if ctx.cancelled and not asked_stop and end is None and alive:
            reason = ctx.state.get("cancel_reason", "")
            # Ctrl-C forwarded as itself: the run's process ends as an interrupted command does (130).
            sig = signal.SIGINT if reason == "SIGINT" else signal.SIGTERM
            asked_stop = request_stop(run_dir, reason, sig, session)
        if end is not None:
            ended_at = ended_at or time.monotonic()
            # Its end is written: the process lets go of the run a moment later (the Runs list reads the lock);
            # a group run's own process may then add why one of its ranks failed.
            gone = not is_locked(run_dir) and (process is None or process.poll() is not None)
            if gone or time.monotonic() - ended_at > UNLOCK_WAIT:
                last = [r for r in tail.read() if not session or r.get("session") == session]
                end = next((r for r in reversed(last) if r["type"] in TERMINAL_STATUS), end)
                return _ended(run_dir, start, end)
        elif not alive:
            if not drained:  # once more round: the lines it wrote just before it went
                drained = True
                continue
            if process is not None and start is None:  # it never began (the lock may be another's)
                raise _early_error(run_dir, process)
            raise _crashed(run_dir, iteration)
        time.sleep(POLL_SECONDS)


def _ended(run_dir: Path, start: dict | None, end: dict) -> TrainResult:
    if end["type"] == "failed":
        raise TuneDeckError(end.get("message", "the run failed"), end.get("hint", ""))
    if "adapter_path" not in end:  # stopped before the first step: nothing new was saved
        raise Cancelled()
    return result_of(run_dir, start, end)
