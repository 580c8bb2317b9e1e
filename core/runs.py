"""Run folders: one per training run, so its history outlives the app.

Layout of ``RUN_DIR`` (default ``$TUNEDECK_HOME/runs/<timestamp>-<model>/``)::

    config.yaml          the settings, as ``mlx_lm.lora -c`` accepts them
    data_manifest.json   a copy of the dataset's tunedeck.json (may be {})
    run.json             who is training it now: {"pid", "host", "started"}
    events.jsonl         append-only log of every reported metric
    adapters/            adapter_config.json + adapters.safetensors (last
                         completed step; ``mlx_lm.generate --adapter-path``)
    best/                the same layout, lowest validation loss so far
    checkpoints/NNNNNNN/ adapters.safetensors + adapter_config.json +
                         optimizer.safetensors + state.json (for resume)

Every file is written atomically (``core.atomic``); a checkpoint folder is
renamed into place whole, so a kill at any moment leaves the previous one.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from core import paths
from core.atomic import write_json
from core.errors import writing

CONFIG = "config.yaml"
EVENTS = "events.jsonl"
LOCK = "run.json"
MANIFEST_COPY = "data_manifest.json"
ADAPTERS = "adapters"
BEST = "best"
CHECKPOINTS = "checkpoints"
KEEP_CHECKPOINTS = 2  # the newest two: one may be mid-write when killed

# Terminal event types in events.jsonl and the run status each one means.
TERMINAL_STATUS = {"finished": "finished", "stopped": "stopped", "failed": "failed"}


def is_run_dir(folder: str | Path) -> bool:
    """A TuneDeck run folder (it has the run's log or config)."""
    folder = Path(folder)
    return (folder / EVENTS).is_file() or (folder / CONFIG).is_file()


def new_run_dir(model: str, root: str | Path | None = None) -> Path:
    """A fresh, not yet existing ``<timestamp>-<model name>`` folder."""
    root = Path(root) if root else paths.runs_dir()
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{Path(model).name or 'model'}"
    candidate, n = root / stem, 1
    while candidate.exists():
        n += 1
        candidate = root / f"{stem}-{n}"
    return candidate


# -- the event log --------------------------------------------------------
class EventLog:
    """Appends one JSON object per line, flushed per line: after a SIGKILL at
    most the last line is torn, and ``read_events`` skips it."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / EVENTS
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")
        # A torn line from a killed run would glue onto ours: start fresh.
        if self._fh.tell() and not self.path.read_bytes().endswith(b"\n"):
            self._fh.write("\n")

    def write(self, kind: str, **data) -> None:
        record = {"type": kind, "time": round(time.time(), 3), **data}
        with writing(self.path):
            self._fh.write(json.dumps(record) + "\n")
            self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def read_events(run_dir: str | Path) -> list[dict]:
    """Every complete record; torn or garbled lines are skipped."""
    out = []
    try:
        with open(Path(run_dir) / EVENTS, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and "type" in record:
                    out.append(record)
    except OSError:
        pass
    return out


@dataclass
class Curve:
    """Loss points of a run, with later sessions (resumes) replacing what a
    killed session reported past its last checkpoint."""

    train: list[tuple[int, float]] = field(default_factory=list)
    val: list[tuple[int, float]] = field(default_factory=list)


def curve(events: list[dict]) -> Curve:
    c = Curve()
    for e in events:
        kind = e["type"]
        if kind == "start":
            k = e.get("start_iteration", 0)
            c.train = [p for p in c.train if p[0] <= k]
            c.val = [p for p in c.val if p[0] < k]  # the resumed session re-evaluates at k
        elif kind == "train":
            c.train.append((e["iteration"], e["train_loss"]))
        elif kind == "val":
            c.val.append((e["iteration"], e["val_loss"]))
    return c


# -- the "who is running it" lock -----------------------------------------
def write_lock(run_dir: Path) -> None:
    write_json(run_dir / LOCK, {"pid": os.getpid(), "host": socket.gethostname(),
                                "started": time.strftime("%Y-%m-%dT%H:%M:%S")})


def clear_lock(run_dir: Path) -> None:
    (run_dir / LOCK).unlink(missing_ok=True)


def _lock_alive(run_dir: Path) -> bool:
    try:
        lock = json.loads((run_dir / LOCK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if lock.get("host") != socket.gethostname():
        return True  # another machine's run (a shared folder): assume it lives
    try:
        os.kill(int(lock["pid"]), 0)
    except (ProcessLookupError, ValueError, KeyError, TypeError):
        return False
    except PermissionError:
        return True
    return True


# -- checkpoints -----------------------------------------------------------
def checkpoint_dirs(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first (temp folders start with a dot)."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.isdigit() and (p / "state.json").is_file()]
    return sorted(found, key=lambda p: int(p.name))


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = checkpoint_dirs(run_dir)
    return found[-1] if found else None


def sweep_leftovers(run_dir: str | Path, adapter_dir: str | Path) -> list[Path]:
    """Undo what a killed process left mid-write (call only while no process
    trains the run): temp files and folders (``.NAME.*.tmp*``) are deleted,
    and a folder caught between "old moved aside" and "new renamed in" by
    ``atomic_dir`` (``.best.old-PID`` with no ``best/``) is put back."""
    import shutil

    run_dir, removed = Path(run_dir), []
    for folder in (run_dir, run_dir / CHECKPOINTS, Path(adapter_dir)):
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            if not p.name.startswith("."):
                continue
            if ".old-" in p.name:
                original = folder / p.name[1:].split(".old-")[0]
                if not original.exists():
                    p.rename(original)
                    continue
            elif ".tmp" not in p.name:
                continue
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            removed.append(p)
    return removed


# -- the runs list ----------------------------------------------------------
@dataclass
class RunInfo:
    path: str
    name: str
    status: str  # running | finished | stopped | failed | crashed | new
    iteration: int  # the last reported or checkpointed iteration
    iters: int  # the planned total
    last_val_loss: float | None
    best_val_loss: float | None
    last_train_loss: float | None
    model: str
    started: str
    message: str = ""
    data: str = ""  # the data folder it trains on

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def run_info(run_dir: str | Path) -> RunInfo:
    run_dir = Path(run_dir)
    events = read_events(run_dir)
    status, message, iters, model, started, data = "new", "", 0, "", "", ""
    iteration = 0
    for e in events:
        kind = e["type"]
        if kind == "start":
            status, message = "running", ""
            iters, model, data = e.get("iters", iters), e.get("model", model), e.get("data", data)
            started = started or time.strftime("%Y-%m-%d %H:%M", time.localtime(e["time"]))
            iteration = e.get("start_iteration", iteration)
        elif kind in ("train", "checkpoint"):
            iteration = max(iteration, e["iteration"])
        elif kind in TERMINAL_STATUS:
            status = TERMINAL_STATUS[kind]
            message = e.get("message", "")
            iteration = e.get("iteration", iteration)
    if status == "running" and not _lock_alive(run_dir):
        status = "crashed"
    c = curve(events)
    vals = [v for _, v in c.val]
    trained = [v for it, v in c.val if it > 0]  # iteration 0 is the untouched base, as for best/
    return RunInfo(path=str(run_dir), name=run_dir.name, status=status, iteration=iteration, iters=iters,
                   last_val_loss=vals[-1] if vals else None, best_val_loss=min(trained) if trained else None,
                   last_train_loss=c.train[-1][1] if c.train else None, model=model, started=started,
                   message=message, data=data)


def list_runs(root: str | Path | None = None) -> list[RunInfo]:
    """Runs under ``root`` (default the runs folder), newest first."""
    root = Path(root) if root else paths.runs_dir()
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and (p / EVENTS).is_file()]
    found.sort(key=lambda p: (p / EVENTS).stat().st_mtime, reverse=True)
    return [run_info(p) for p in found]
