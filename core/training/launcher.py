"""Start, find and stop run processes (``core.training.run_process``).

A run started from the TUI or ``tunedeck train`` trains in a process of
its own, detached from the terminal, so it outlives the SSH link, the
terminal window and the app. Everything a user can get wrong is checked
here first, in the caller's process (the same checks the trainer makes), so
a mistake is said at once, in the caller's words, before anything is
written; the run process then takes the run's lock and trains.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from core.runtime import paths
from core.runtime.atomic import write_json
from core.runtime.errors import TuneDeckError
from core.training.group_launch import GroupSpec, check_batch_for_group
from core.training.run_folders import (
    CONFIG,
    EVENTS,
    PROCESS_LOG,
    SESSION_ENV,
    STOP_REQUEST,
    RunInfo,
    is_locked,
    list_runs,
    status,
)
from core.training.settings import TrainSettings, load_yaml
from core.training.trainer import check_new_run, check_resumable

MODULE = "core.training.run_process"
GROUP_MODULE = "core.training.group_process"  # a group run's: mlx.launch starting MODULE once per rank


@dataclass
class Launched:
    """A run process just started: where its run lives, the process, and
    where this session's records begin in events.jsonl."""

    run_dir: Path
    process: subprocess.Popen
    offset: int
    session: str  # in every record its process writes (run_folders.SESSION_ENV)


def complete_size(path: Path) -> int:
    """The bytes of ``path`` up to its last newline: a torn last line (a
    killed writer's) is cut by the next writer, so records start there."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - 65536))
            tail = fh.read()
    except OSError:
        return 0
    cut = tail.rfind(b"\n")
    return size - len(tail) + cut + 1 if cut >= 0 else max(0, size - len(tail))


def _import_path() -> str:
    """PYTHONPATH for the run process: this TuneDeck first (it starts in the
    run folder, so a checkout run without installing must still be found)."""
    here = str(Path(__file__).resolve().parents[2])
    rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != here]
    return os.pathsep.join([here, *rest])


def _spawn(run_dir: Path, request: dict, group: GroupSpec | None = None) -> Launched:
    offset = complete_size(run_dir / EVENTS)
    session = uuid.uuid4().hex[:12]
    try:
        (run_dir / STOP_REQUEST).unlink(missing_ok=True)  # an old stop's reason must not name this one
    except OSError:
        pass
    # In the request too: under mlx.launch (over ssh) rank 0 may not inherit this environment.
    request = {**request, "session": session}
    if group is not None:
        request = {**request, "group": group.as_dict()}
    with open(run_dir / PROCESS_LOG, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", GROUP_MODULE if group is not None else MODULE, json.dumps(request)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no controlling terminal: a hang-up never reaches it
            close_fds=True,
            cwd=str(run_dir),
            env={**_run_env(), SESSION_ENV: session, "PYTHONPATH": _import_path()},
        )
    return Launched(run_dir, process, offset, session)


def _run_env() -> dict:
    # A group's place comes from mlx.launch alone: one left in this environment would pull the run into it.
    env = {k: v for k, v in os.environ.items() if k not in ("MLX_RANK", "MLX_HOSTFILE")}
    return {**env, "PYTHONUNBUFFERED": "1"}


def launch_new(settings: TrainSettings, run_dir: str | Path | None = None, group: GroupSpec | None = None) -> Launched:
    """Check a new run (``check_new_run``: folder and settings), make its
    folder and start its process; ``group``: its processes, through mlx.launch."""
    run = check_new_run(settings, run_dir, group.processes if group else 1)
    run.mkdir(parents=True, exist_ok=True)
    return _spawn(run, {"mode": "new", "run_dir": str(run), "settings": asdict(settings)}, group)


def launch_resume(
    run_dir: str | Path, iters: int | None = None, adapter_path: str | None = None, group: GroupSpec | None = None
) -> Launched:
    run = check_resumable(run_dir)
    if adapter_path:  # the run process starts in the run folder: a relative path means this one's
        adapter_path = os.path.abspath(os.path.expanduser(adapter_path))
    request = {"mode": "resume", "run_dir": str(run), "iters": iters, "adapter_path": adapter_path}
    if group is not None:
        # The other ranks' machines have no run folder: they get its settings (rank 0 checks them again).
        peer = TrainSettings.from_dict(load_yaml(run / CONFIG))
        if iters is not None:
            peer.iters = iters
        check_batch_for_group(peer.batch_size, group.processes)
        request["peer_settings"] = asdict(peer)
    return _spawn(run, request, group)


def running_runs(root: str | Path | None = None) -> list[RunInfo]:
    """Runs a live process trains now (their lock is held), newest first."""
    return [r for r in list_runs(root) if r.status == "running"]


def find_run(name: str, root: str | Path | None = None) -> Path:
    """A run by its folder path, or by its name under the runs folder."""
    path = Path(name).expanduser()
    if not path.is_dir():
        under = Path(root) if root else paths.runs_dir()
        if (under / name).is_dir():
            path = under / name
    if not (path / EVENTS).is_file():
        raise TuneDeckError(f"{name} is not a TuneDeck run folder", "pass a run folder or a name from `tunedeck runs`")
    return path.absolute()


def request_stop(run_dir: str | Path, reason: str = "", sig: int = signal.SIGTERM, session: str = "") -> bool:
    """Ask the process training ``run_dir`` to stop cleanly at its next
    completed step (``reason`` goes into the run's stop record). False when
    no process trains it now, or (given ``session``) not the one launched
    with it."""
    run_dir = Path(run_dir)
    if not is_locked(run_dir):
        return False
    info = status(run_dir)
    pid, host = info.get("pid"), info.get("host")
    if not isinstance(pid, int) or pid <= 0:
        return False  # the lock is taken and run.json not written yet: asked again shortly
    if session and info.get("session") != session:
        return False  # another launch trains it: this one's process has lost the race, or not begun
    if host and host != socket.gethostname():
        raise TuneDeckError(
            f"{run_dir.name} trains on {host}, not on this machine",
            f"stop it there (`tunedeck runs stop {run_dir}` on {host})",
        )
    write_json(run_dir / STOP_REQUEST, {"reason": reason or signal.Signals(sig).name, "pid": pid})
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    except PermissionError as exc:
        raise TuneDeckError(
            f"{run_dir.name} is trained by another user's process (pid {pid})", "stop it as that user"
        ) from exc
    return True
