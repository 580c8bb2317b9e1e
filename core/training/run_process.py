"""The run process: one training run, on its own, tied to no terminal.

``python -m core.training.run_process REQUEST`` (started by
``core.training.launcher``, never by hand) trains one run on this
process's MLX worker thread exactly as an in-process run does, writing its
run folder as usual; every TUI or CLI that shows the run reads that folder
(``core.training.follow``). It runs in a session of its own with stdin from
/dev/null and its output in RUN_DIR/run.log, so a dropped SSH link, a closed
terminal or a crashed UI never reaches it.

Stopping: SIGINT or SIGTERM is a clean stop at the next completed step (a
checkpoint of it is kept); RUN_DIR/stop.json, when it names this process,
says why (the stop record's reason). A hang-up is ignored: there is no
terminal to lose. Exit status: 0 finished, 1 failed, 128 + the signal when
stopped.

REQUEST is JSON: {"mode": "new", "run_dir", "settings"} or
{"mode": "resume", "run_dir", "iters", "adapter_path"}; a group run's
(``core.training.group_process`` starts one of these per rank through
mlx.launch) adds "group" (``GroupSpec``) and, to resume, "peer_settings"
for the ranks whose machine has no run folder. Ranks other than 0 print
nothing but an error of their own.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from core.runtime import events as ev
from core.runtime.blas import maybe_preload
from core.runtime.engine import Engine
from core.runtime.errors import Cancelled, TuneDeckError, explain
from core.runtime.log import log_exception
from core.training.group_launch import launched_rank
from core.training.run_folders import SESSION_ENV, STOP_REQUEST
from core.training.settings import TrainSettings

ERROR_MARK = "tunedeck-run-error "  # the line that tells a launcher why the process ended before its run began
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def error_said(line: str) -> dict | None:
    """What an ERROR_MARK line of a run process says ({message, hint, where[, rank]}); None for any other line."""
    if not line.startswith(ERROR_MARK):
        return None
    try:
        said = json.loads(line[len(ERROR_MARK) :])
    except ValueError:
        return None
    return said if isinstance(said, dict) and "message" in said else None


def stop_reason(run_dir: Path, signum: int) -> str:
    """The reason a viewer wrote for this process, or the signal's name."""
    try:
        asked = json.loads((run_dir / STOP_REQUEST).read_text(encoding="utf-8"))
        if asked.get("pid") == os.getpid() and asked.get("reason"):
            return str(asked["reason"])
    except (OSError, ValueError, AttributeError):
        pass
    return signal.Signals(signum).name


def _say(text: str) -> None:
    print(text, flush=True)


def _print_event(event) -> None:
    """The run's own log: a few plain lines (events.jsonl has every figure)."""
    if isinstance(event, ev.Progress):
        _say(f"... {event.message}")
    elif isinstance(event, ev.TrainStarted):
        _say(f"training {event.model} on {event.data}, iterations {event.start_iteration}..{event.iters}")
    elif isinstance(event, ev.CheckpointSaved):
        _say(f"iter {event.iteration}: checkpoint {event.path}")
    elif isinstance(event, ev.JobFinished) and event.name == "train":
        result = event.result
        _say(f"{'stopped' if result.stopped_early else 'finished'} at iter {result.iterations}")


def _report_failure(exc: BaseException, rank: int = 0) -> None:
    if isinstance(exc, TuneDeckError):
        known = exc
    else:
        known = explain(exc)
        if known is None:
            path = log_exception("the run process failed")
            known = TuneDeckError(f"{type(exc).__name__}: {exc}", f"details are in {path or 'no log'}")
    _say(f"{f'rank {rank}: ' if rank else ''}error: {known}")
    said = {"message": known.message, "hint": known.hint, "where": known.where}
    _say(ERROR_MARK + json.dumps({**said, "rank": rank} if rank else said))


def main(argv: list[str] | None = None) -> int:
    request = json.loads((argv if argv is not None else sys.argv[1:])[0])
    run_dir = Path(request["run_dir"])
    if request.get("session"):  # the launch this process serves: its records and run.json carry it
        os.environ[SESSION_ENV] = request["session"]
    maybe_preload()  # before mlx loads
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    received: list[int] = []
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda signum, _frame: received.append(signum))

    rank = launched_rank()
    engine = Engine(_print_event if rank == 0 else None)
    if rank == 0:
        _say(f"run process {os.getpid()} for {run_dir}")
    hosts = (request.get("group") or {}).get("hosts")
    if request["mode"] == "new":
        job = engine.train(TrainSettings.from_dict(request["settings"]), run_dir, hosts)
    else:
        peer = request.get("peer_settings")
        peer = TrainSettings.from_dict(peer) if peer else None
        job = engine.resume(run_dir, request.get("iters"), request.get("adapter_path"), peer, hosts)
    handled = 0
    while True:
        while handled < len(received):
            signum, handled = received[handled], handled + 1
            if handled == 1:
                reason = stop_reason(run_dir, signum)
                if rank == 0:
                    _say(f"stopping ({reason}): the current step finishes and is saved first")
                job.cancel(reason)
        stopped = 128 + (received[0] if received else signal.SIGTERM)
        try:
            result = job.result(timeout=0.2)
        except FutureTimeout:
            continue
        except Cancelled:
            return stopped
        except BaseException as exc:
            _report_failure(exc, rank)
            return 1
        return stopped if result.stopped_early else 0


def _clear_stop_request(run_dir: Path) -> None:
    try:
        asked = json.loads((run_dir / STOP_REQUEST).read_text(encoding="utf-8"))
        if asked.get("pid") == os.getpid():
            (run_dir / STOP_REQUEST).unlink()
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    code = main()
    _clear_stop_request(Path(json.loads(sys.argv[1])["run_dir"]))
    sys.stdout.flush()
    # The MLX thread stays parked (core.runtime.worker): leave without joining it.
    os._exit(code)
