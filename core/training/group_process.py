"""A group run's own process: ``mlx.launch`` and the verdict on its ranks.

``python -m core.training.group_process REQUEST`` (started by
``core.training.launcher`` in place of the plain run process, detached the
same way, its output in RUN_DIR/run.log) starts the run's ranks with MLX's
own launcher, each one ``core.training.run_process`` with the same request.
Rank 0 trains and writes the run folder as a one-process run does.

It exists because ``mlx.launch`` exits 0 whatever its ranks did: when one
rank fails, mlx.launch stops the others and says which in its log. This
process reads those lines, and once every rank has ended (and rank 0 has
let go of the run's lock) it records the failure in events.jsonl, naming
the rank and its host, unless rank 0 already recorded its own, and exits
as the run ended: 0 finished, 1 failed, 128 + the signal when stopped.
A stop is asked of rank 0 (``launcher.request_stop``); SIGINT/SIGTERM here
are passed on to it the same way.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

from core.runtime.errors import TuneDeckError
from core.training.follow import Tail
from core.training.group_launch import ANSI, SAME_HOSTS, GroupSpec, launch_command
from core.training.launcher import MODULE, complete_size, request_stop
from core.training.run_folders import EVENTS, TERMINAL_STATUS, EventLog, RunLock, latest_checkpoint
from core.training.run_process import ERROR_MARK, error_said

# mlx.launch's own lines (mlx 0.32): "[WARN] Node with rank 1 exited with code -9", "... was killed".
RANK_EXIT = re.compile(r"Node with rank (\d+) (?:exited with code (-?\d+)|(was killed))")
# A rank that ended because the run stopped, or because mlx.launch stopped it after another failed.
STOP_CODES = {0, 128 + signal.SIGINT, 128 + signal.SIGTERM, -signal.SIGINT, -signal.SIGTERM}


def _say(text: str) -> None:
    print(text, flush=True)


def how_it_ended(code: int | None) -> str:
    if code is None:
        return "was stopped by mlx.launch"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        return f"was killed ({name})"
    return f"exited with status {code}"


def culprit(exits: list[tuple[int, int | None]]) -> tuple[int, int | None] | None:
    """The first rank to end in a way no stop explains (mlx.launch then stops the rest)."""
    for rank, code in exits:
        if code is not None and code not in STOP_CODES:
            return rank, code
    return None


def verdict(spec: GroupSpec, run_dir: Path, exits, errors: dict, records: list[dict]) -> dict | None:
    """The failed record this session still needs (None: rank 0's own end says it)."""
    end = next((r for r in reversed(records) if r["type"] in TERMINAL_STATUS), None)
    bad = culprit(exits)
    if bad is None:
        if end is not None:
            return None
        message = "the run's processes ended before the run did"
    else:
        rank, code = bad
        if rank == 0 and end is not None:
            return None  # rank 0 recorded why itself
        host = spec.hosts[rank] if rank < len(spec.hosts) else "?"
        said = errors.get(rank)
        message = f"rank {rank} of {spec.processes} (on {host}) {how_it_ended(code)}" + (f": {said}" if said else "")
    iteration = max((int(r.get("iteration", 0)) for r in records if r["type"] in ("train", "checkpoint")), default=0)
    ckpt = latest_checkpoint(run_dir)
    hint = (
        f"resume it from its checkpoint at iteration {int(ckpt.name)}, {SAME_HOSTS}"
        if ckpt
        else "start it again: it ended before its first checkpoint"
    )
    return {"message": message, "hint": hint, "iteration": iteration}


def _exit_code(records: list[dict]) -> int:
    end = next((r for r in reversed(records) if r["type"] in TERMINAL_STATUS), None)
    if end is None or end["type"] == "failed":
        return 1
    if end["type"] == "finished":
        return 0
    sig = getattr(signal, str(end.get("reason", "")), None)
    return 128 + int(sig if isinstance(sig, int) else signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    request = json.loads((argv if argv is not None else sys.argv[1:])[0])
    run_dir = Path(request["run_dir"])
    spec = GroupSpec.from_dict(request["group"])
    offset = complete_size(run_dir / EVENTS)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: request_stop(run_dir, signal.Signals(signum).name, signum))

    command = launch_command(spec, [sys.executable, "-m", MODULE, json.dumps(request)])
    _say(f"group run {spec.describe()}: {' '.join(command[: command.index('--')])}")
    # stdin: a pipe never written to (mlx.launch polls its stdin: /dev/null would keep it spinning).
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    exits: list[tuple[int, int | None]] = []
    errors: dict[int, str] = {}
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        plain = ANSI.sub("", line)
        found = RANK_EXIT.search(plain)
        if found:
            exits.append((int(found[1]), None if found[3] else int(found[2])))
        elif (said := error_said(plain)) is not None:
            errors[int(said.get("rank", 0))] = str(said["message"])
    proc.wait()

    records = Tail(run_dir / EVENTS, offset).read()
    if not records:  # it never began (rank 0 refused, or a host was not reached): run.log says why
        bad = culprit(exits)
        if bad and bad[0] not in errors:
            rank, code = bad
            host = spec.hosts[rank] if rank < len(spec.hosts) else "?"
            known = TuneDeckError(
                f"rank {rank} (on {host}) {how_it_ended(code)} before training began",
                f"check that host with the pre-flight; what it said is in {run_dir / 'run.log'}",
            )
            _say(ERROR_MARK + json.dumps({"message": known.message, "hint": known.hint, "where": ""}))
        return 1
    failed = verdict(spec, run_dir, exits, errors, records)
    if failed is not None:
        try:
            with RunLock(run_dir):  # every rank has ended: nobody else writes it now
                log = EventLog(run_dir)
                try:
                    log.write("failed", **failed)
                finally:
                    log.close()
            records.append({"type": "failed", **failed})
            _say(f"error: {failed['message']}")
        except TuneDeckError as exc:
            _say(f"could not record the failure: {exc}")
    return _exit_code(records)


if __name__ == "__main__":
    sys.exit(main())
