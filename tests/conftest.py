"""Shared fixtures: a TuneDeck home of its own for every test, and the demo
model and sample data built once per session (offline, in a few seconds)
into a session folder outside any test's home."""

from __future__ import annotations

import io
import os
import signal
import sys
from dataclasses import dataclass

# Tests never touch the Hugging Face hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Run processes outlive whoever started them, by design: this mark in their
# environment lets each test end the ones it left (a failed test's run of
# 100,000 iterations must not train on through the rest of the suite).
os.environ["TUNEDECK_TEST_OWNER"] = str(os.getpid())

import pytest

from core.runtime import paths


def _left_run_processes() -> list[int]:
    mark = f"TUNEDECK_TEST_OWNER={os.environ['TUNEDECK_TEST_OWNER']}".encode()
    found = []
    for entry in os.listdir("/proc") if sys.platform == "linux" else ():
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if b"core.training.run_process" not in fh.read():
                    continue
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if mark in fh.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


@pytest.fixture(autouse=True)
def no_run_process_left():
    yield
    for pid in _left_run_processes():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.fixture(scope="session")
def built_once(tmp_path_factory):
    """The folder the session-wide demo model and sample data are built in."""
    return tmp_path_factory.mktemp("built-once")


@pytest.fixture(autouse=True)
def tunedeck_home(request, tmp_path_factory, monkeypatch):
    """Each test starts from an empty home (no config, no runs, no models), so
    none passes only because an earlier one wrote something there. A test that
    asks for the demo model or sample data also finds them at the home's
    default place, as a user who made them with the app would."""
    home = tmp_path_factory.mktemp("tunedeck-home")  # beside tmp_path: tests list theirs
    monkeypatch.setenv("TUNEDECK_HOME", str(home))
    for name, place in (("demo_model", paths.demo_model_dir), ("sample_data", paths.sample_data_dir)):
        if name in request.fixturenames:
            place().parent.mkdir(parents=True, exist_ok=True)
            place().symlink_to(request.getfixturevalue(name), target_is_directory=True)
    return home


@pytest.fixture(scope="session")
def engine():
    from core.runtime.engine import Engine

    eng = Engine()
    yield eng
    eng.shutdown()


@pytest.fixture(scope="session")
def demo_model(engine, built_once):
    return engine.build_demo_model(built_once / "models" / "tunedeck-demo").result(timeout=120)


@pytest.fixture(scope="session")
def sample_data(engine, built_once):
    out = built_once / "data" / "sample-sql"
    engine.write_sample_data(out).result(timeout=60)
    return str(out)


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys, monkeypatch):
    """``cli("data", "check", folder)`` runs ``tunedeck data check folder`` in
    this process (as the console entry would, less the BLAS preload, which
    tests/test_blas.py covers in a real process) and returns its exit code and
    what it printed. ``stdin=`` gives it piped input. An exception main() does
    not turn into a message fails the test, as a traceback would."""
    from tui.cli import main

    def run(*args, stdin=None) -> CliRun:
        capsys.readouterr()  # only this command's output
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse's refusals exit 2 with the usage
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return CliRun(code, out, err)

    return run


class Recorder:
    """Collects engine events (called on the worker thread)."""

    def __init__(self):
        import threading

        self.events = []
        self.threads = set()
        self._threading = threading

    def __call__(self, event):
        self.threads.add(self._threading.current_thread().name)
        self.events.append(event)

    def of(self, kind, job=None):
        return [e for e in self.events if isinstance(e, kind) and (job is None or e.job_id == job.id)]


@pytest.fixture
def recorder(engine):
    rec = Recorder()
    engine.add_listener(rec)
    yield rec
    engine.remove_listener(rec)
