"""Each screen at 80x24 as a picture (pytest-textual-snapshot), so a change
in layout shows as a diff. After a deliberate change, look at the report and
run ``pytest tests/test_snapshots.py --snapshot-update``.

Deterministic: HOME is a fresh folder (the paths shown start with ~), the
demo model and sample data are copied into it, the environment checks are
fixed, and nothing shown carries a time."""

from __future__ import annotations

import shutil

import pytest
from ui_helpers import wait_for

from core.runtime import paths
from core.runtime.doctor import Check
from tui.app import make_app

CHECKS = [
    Check("platform", "Platform", "pass", "macOS 15.1 on arm64"),
    Check("python", "Python", "pass", "3.11.7"),
    Check("packages", "Packages", "pass", "mlx 0.29, mlx-lm 0.28, textual 8.2"),
    Check("device", "MLX device", "pass", "gpu (Apple M2, 16 GB unified memory)"),
    Check("memory", "Memory", "pass", "11.2 GB free of 16 GB"),
    Check("disk", "Disk", "pass", "120 GB free in ~/.tunedeck"),
    Check(
        "hub",
        "Hugging Face hub",
        "warn",
        "https://huggingface.co unreachable (timed out)",
        "use the offline demo model, or switch to another endpoint, e.g. https://hf-mirror.com",
    ),
    Check("token", "Hugging Face token", "pass", "none needed for public models"),
]


@pytest.fixture(scope="module")
def snap_home(tmp_path_factory, demo_model, sample_data):
    home = tmp_path_factory.mktemp("snap-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("TUNEDECK_HOME", str(home / ".tunedeck"))
        mp.delenv("LMSTUDIO_MODELS_DIR", raising=False)
        mp.delenv("HF_ENDPOINT", raising=False)
        shutil.copytree(demo_model, paths.demo_model_dir())
        shutil.copytree(sample_data, paths.sample_data_dir())
        yield home


@pytest.fixture
def app(snap_home, monkeypatch):
    import core.runtime.doctor as doctor
    import tui.screens.environment as environment

    monkeypatch.setenv("TUNEDECK_HOME", str(snap_home / ".tunedeck"))  # this module's home, not the test's own
    (paths.home() / "config.json").unlink(missing_ok=True)  # a first run: the guide lines show
    monkeypatch.setattr(environment, "run_checks", lambda **_: CHECKS)
    monkeypatch.setattr(doctor, "check_mlx_device", lambda: CHECKS[3])  # the engine's device check
    return make_app()


def chosen(app) -> None:
    app.session.model_path = str(paths.demo_model_dir())
    app.session.model_label = "tunedeck-demo"
    app.session.data_dir = str(paths.sample_data_dir())


def test_environment(app, snap_compare):
    async def ready(pilot):
        await wait_for(pilot, lambda: "Ready to train" in str(pilot.app.screen.query_one("#verdict").content), 30)

    assert snap_compare(app, run_before=ready)


def test_model(app, snap_compare, monkeypatch):
    import tui.screens.model as model

    monkeypatch.setattr(model, "total_memory", lambda: 16 * 2**30)  # what fits depends on it
    # The cache scan answers from a thread at a time of its own and the table
    # re-sizes after it: the picture is of the rows the screen shows at once.
    monkeypatch.setattr(model.ModelScreen, "scan_local", lambda self: None)

    async def local(pilot):
        pilot.app.go("model")
        await pilot.pause()
        await wait_for(pilot, lambda: pilot.app.screen.query_one("#local-table").row_count, 30)
        await pilot.pause()

    assert snap_compare(app, run_before=local)


def test_data_source(app, snap_compare):
    async def source(pilot):
        chosen(pilot.app)
        pilot.app.go("data")
        await pilot.pause()

    assert snap_compare(app, run_before=source)


@pytest.mark.parametrize("tab", ["tab-run", "tab-config", "tab-runs"])
def test_train(app, snap_compare, tab):
    async def train(pilot):
        chosen(pilot.app)
        pilot.app.go("train")
        await pilot.pause()
        pilot.app.screen.query_one("#tabs").active = tab
        await pilot.pause()

    assert snap_compare(app, run_before=train)


def test_chat(app, snap_compare):
    async def chat(pilot):
        chosen(pilot.app)
        pilot.app.go("chat")
        await wait_for(pilot, lambda: "ready" in pilot.app.screen.model_state, 60)
        await pilot.pause()

    assert snap_compare(app, run_before=chat)


def test_judge(app, snap_compare, monkeypatch):
    import time

    from tui.screens.results import ResultsScreen

    monkeypatch.setattr(time, "strftime", lambda fmt, *when: "12:00:00")  # the log's clock

    async def judge(pilot):
        chosen(pilot.app)
        pilot.app.go("train")
        await pilot.pause()
        await pilot.app.push_screen(ResultsScreen())
        await pilot.pause()

    assert snap_compare(app, run_before=judge)
