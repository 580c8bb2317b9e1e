"""Shared fixtures: an isolated TuneDeck home, the demo model and sample data
built once per session (both are made here, offline, in a few seconds)."""

from __future__ import annotations

import os

# Tests never touch the Hugging Face hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest


@pytest.fixture(scope="session", autouse=True)
def tunedeck_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("tunedeck-home")
    os.environ["TUNEDECK_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def engine():
    from core.runtime.engine import Engine

    eng = Engine()
    yield eng
    eng.shutdown()


@pytest.fixture(scope="session")
def demo_model(engine, tunedeck_home):
    from core.runtime import paths

    return engine.build_demo_model(paths.demo_model_dir()).result(timeout=120)


@pytest.fixture(scope="session")
def sample_data(engine, tunedeck_home):
    from core.runtime import paths

    engine.write_sample_data(paths.sample_data_dir()).result(timeout=60)
    return str(paths.sample_data_dir())


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
