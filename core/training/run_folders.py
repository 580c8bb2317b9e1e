"""Run folders: one per training run, so its history outlives the app.

Layout of ``RUN_DIR`` (default ``$TUNEDECK_HOME/runs/<timestamp>-<model>/``)::

    tunedeck_run.json    marks the folder as a TuneDeck run (core.runtime.targets)
    config.yaml          the settings, as ``mlx_lm.lora -c`` accepts them
                         (adapter_path relative to the run folder: run it from there)
    data_manifest.json   a copy of the dataset's tunedeck.json (may be {})
    run.lock             the OS lock (flock) the training process holds for
                         the whole run; the kernel releases it when it dies
    run.json             who holds it: {"pid", "host", "started", "iteration",
                         "heartbeat"}, for display (only the lock decides)
    run.log              the run process's own output (core.training.run_process)
    stop.json            why a stop was asked ({"reason", "pid"}), read by the
                         run process when the signal that asks it arrives
    events.jsonl         append-only log of every reported metric
    adapters/            adapter_config.json + adapters.safetensors (last
                         completed step; ``mlx_lm.generate --adapter-path``)
    best/                the same layout, lowest validation loss so far
    checkpoints/NNNNNNN/ adapters.safetensors + adapter_config.json +
                         optimizer.safetensors + state.json (for resume)

Every file is written atomically (``core.runtime.atomic``); a checkpoint folder is
renamed into place whole, so a kill at any moment leaves the previous one.
Nothing inside names the folder itself, so a copied or moved run resumes
into itself.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.runtime import paths
from core.runtime.atomic import temp_target, write_json
from core.runtime.errors import TuneDeckError, writing
from core.runtime.targets import RUN

CONFIG = "config.yaml"
EVENTS = "events.jsonl"
LOCK = "run.lock"
STATUS = "run.json"
PROCESS_LOG = "run.log"
STOP_REQUEST = "stop.json"
SESSION_ENV = "TUNEDECK_RUN_SESSION"  # set by the launcher for the run process it starts
MANIFEST_COPY = "data_manifest.json"
ADAPTERS = "adapters"
BEST = "best"
CHECKPOINTS = "checkpoints"
FUSED = "fused"
EVAL = "eval.json"
KEEP_CHECKPOINTS = 2  # the newest two: one may be mid-write when killed
NAME_STEM = 80  # characters of the model name kept in a new run's folder name

# Terminal event types in events.jsonl and the run status each one means.
TERMINAL_STATUS = {"finished": "finished", "stopped": "stopped", "failed": "failed"}


def is_run_dir(folder: str | Path) -> bool:
    """A TuneDeck run folder: its marker, or (older runs) its event log."""
    folder = Path(folder)
    return (folder / RUN.marker).is_file() or (folder / EVENTS).is_file()


def new_run_dir(model: str, root: str | Path | None = None) -> Path:
    """A fresh, not yet existing ``<timestamp>-<model name>`` folder (the
    name shortened and made safe: it comes from a folder name, not a person)."""
    root = Path(root) if root else paths.runs_dir()
    name = "".join(c if c.isalnum() or c in "._-" else "-" for c in Path(model).name).strip(".-")
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{name[:NAME_STEM] or 'model'}"
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
        _cut_torn_line(self.path)  # a killed writer's half record would glue onto ours
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (open for the run; close() closes it)
        # The launch this process serves (core.training.launcher): its viewer
        # tells its own records from those of a process that raced it.
        self._session = {"session": os.environ[SESSION_ENV]} if os.environ.get(SESSION_ENV) else {}

    def write(self, kind: str, **data) -> None:
        record = {"type": kind, "time": round(time.time(), 3), **self._session, **data}
        with writing(self.path):
            self._fh.write(json.dumps(record) + "\n")
            self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def _cut_torn_line(path: Path) -> None:
    """Drop the unfinished last record a SIGKILL can leave (only the bytes
    after the last newline: the log stays whole lines)."""
    try:
        with open(path, "rb+") as fh:
            size = fh.seek(0, os.SEEK_END)
            if not size:
                return
            fh.seek(max(0, size - 65536))
            tail = fh.read()
            if tail.endswith(b"\n"):
                return
            cut = tail.rfind(b"\n")
            if cut < 0 and size > len(tail):
                fh.write(b"\n")  # one huge unfinished line: end it (read_events skips it)
                return
            fh.truncate(size - len(tail) + cut + 1)
    except FileNotFoundError:
        pass


def parse_record(line: str | bytes) -> dict | None:
    """One line of events.jsonl as its record; None for a torn or garbled one."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and "type" in record else None


def read_events(run_dir: str | Path) -> list[dict]:
    """Every complete record; torn or garbled lines are skipped."""
    try:
        with open(Path(run_dir) / EVENTS, encoding="utf-8", errors="replace") as fh:
            return [r for r in map(parse_record, fh) if r is not None]
    except OSError:
        return []


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


# -- the run lock ------------------------------------------------------------
class RunLock:
    """An OS file lock (``flock``) on ``RUN_DIR/run.lock``, held by the one
    process that trains the run, for the whole run. The kernel drops it when
    that process ends, however it ends, so a crashed run never reads as
    "still training", and a pid or host name in ``run.json`` (display only)
    never decides anything. ``run.lock`` itself is never deleted: removing a
    lock file while others may open it would let two processes lock two files."""

    WAIT = 1.0  # seconds to retry: ``is_locked`` probes it for an instant

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise TuneDeckError(
                f"cannot lock the run folder {self.run_dir}: {exc.strerror or exc}",
                "check that the folder exists and you can write to it",
            ) from exc
        deadline = time.monotonic() + self.WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise TuneDeckError(
                        f"{self.run_dir} is being trained by another process{holder(self.run_dir)}",
                        "wait for that run to finish, or stop it where it runs; then resume it",
                    ) from None
                time.sleep(0.05)
        self._fd = fd
        write_json(
            self.run_dir / STATUS,
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "session": os.environ.get(SESSION_ENV, ""),
            },
        )
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            (self.run_dir / STATUS).unlink(missing_ok=True)
        except OSError:
            pass
        os.close(self._fd)  # closing the last descriptor releases the flock
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def beat(run_dir: str | Path, **fields) -> None:
    """Add ``fields`` (iteration, heartbeat…) to run.json, for display: only
    the holder of the run's lock calls it."""
    path = Path(run_dir) / STATUS
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {"pid": os.getpid(), "host": socket.gethostname()}
    write_json(path, {**info, **fields})


def status(run_dir: str | Path) -> dict:
    """run.json as the run's process last wrote it ({} when none)."""
    try:
        info = json.loads((Path(run_dir) / STATUS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def is_locked(run_dir: str | Path) -> bool:
    """Whether a live process holds the run's lock (a shared probe: it never
    blocks the holder, and ``RunLock.acquire`` retries past a probe)."""
    try:
        fd = os.open(Path(run_dir) / LOCK, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def holder(run_dir: str | Path) -> str:
    """ " (pid 123 on host, since ...)" from run.json, for messages."""
    info = status(run_dir)
    try:
        return f" (pid {info['pid']} on {info['host']}, since {info['started']})"
    except KeyError:
        return ""


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


# The names TuneDeck writes in each folder of a run: only their temporary
# names (core.runtime.atomic.temp_target) are ever cleaned up.
RUN_FILES = (CONFIG, MANIFEST_COPY, STATUS, STOP_REQUEST, EVAL, RUN.marker, BEST, FUSED)
ADAPTER_FILES = ("adapters.safetensors", "adapter_config.json", "tunedeck_adapter.json")
FINAL_TMP = ".final.tmp.safetensors"  # the trainer's own save, renamed in at a clean finish


def sweep_leftovers(run_dir: str | Path, adapter_dir: str | Path) -> list[Path]:
    """Undo what a killed process left mid-write (call only while holding
    the run's lock): the temporary names ``core.runtime.atomic`` makes for the files
    a run writes are deleted, and a folder caught between "old moved aside"
    and "new renamed in" (``.best.old-PID`` with no ``best/``) is put back.
    Nothing else is touched, in the run folder or in its adapter folder."""
    run_dir, removed = Path(run_dir), []
    ckpts = run_dir / CHECKPOINTS
    names = {run_dir: RUN_FILES, Path(adapter_dir): ADAPTER_FILES}
    if ckpts.is_dir():  # checkpoint NNNNNNN: its temp folder is .NNNNNNN.XXXXXXXX.tmp
        names[ckpts] = {p.name[1:8] for p in ckpts.iterdir() if p.name[1:8].isdigit() and p.name[8:9] == "."}
    for folder, known in names.items():
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            hit = temp_target(p.name, known)
            if folder == Path(adapter_dir) and p.name == FINAL_TMP:
                hit = ("adapters.safetensors", "temp")
            if hit is None:
                continue
            original = folder / hit[0]
            if hit[1] == "aside" and not os.path.lexists(original):
                p.rename(original)
                continue
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
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
    if is_locked(run_dir):
        status = "running"
    elif status == "running":
        status = "crashed"  # it never wrote how it ended, and no process holds it
    c = curve(events)
    vals = [v for _, v in c.val]
    trained = [v for it, v in c.val if it > 0]  # iteration 0 is the untouched base, as for best/
    return RunInfo(
        path=str(run_dir),
        name=run_dir.name,
        status=status,
        iteration=iteration,
        iters=iters,
        last_val_loss=vals[-1] if vals else None,
        best_val_loss=min(trained) if trained else None,
        last_train_loss=c.train[-1][1] if c.train else None,
        model=model,
        started=started,
        message=message,
        data=data,
    )


def list_runs(root: str | Path | None = None) -> list[RunInfo]:
    """Runs under ``root`` (default the runs folder), newest first."""
    root = Path(root) if root else paths.runs_dir()
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and (p / EVENTS).is_file()]
    found.sort(key=lambda p: (p / EVENTS).stat().st_mtime, reverse=True)
    return [run_info(p) for p in found]
