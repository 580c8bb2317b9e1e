"""Each screen at 80x24 as a picture (pytest-textual-snapshot), so a change
in layout shows as a diff. After a deliberate change, look at the report and
run ``pytest tests/test_snapshots.py --snapshot-update``.

The README's screen captures are the text of five of these pictures
(tests/readme_captures.py): a screen change shows there as a diff too, and
``TUNEDECK_UPDATE_README=1 pytest tests/test_snapshots.py`` rewrites them.

Deterministic: HOME is a fresh folder (the paths shown start with ~), the
demo model and sample data are copied into it, the environment checks are
fixed, the log's clock is fixed, a run is one whose log the test writes and
a chat answer is a recorded one."""

from __future__ import annotations

import shutil
import time

import pytest
import readme_captures
from ui_helpers import svg_text, wait_for

from core.runtime import paths
from core.runtime.doctor import Check
from tui.app import make_app

# What core.runtime.doctor says on a Mac with the hub out of reach.
CHECKS = [
    Check("platform", "OS and chip", "pass", "macOS 15.1 on Apple silicon"),
    Check("python", "Python", "pass", "Python 3.11.7"),
    Check("packages", "Packages", "pass", "mlx 0.32.4, mlx-lm 0.32.2, textual 8.2.8, datasets 5.2.0"),
    Check("device", "MLX device", "pass", "GPU (Metal)"),
    Check("memory", "Memory", "pass", "16 GiB"),
    Check("disk", "Disk", "pass", "120.4 GiB free for /Users/ana/.tunedeck"),
    Check(
        "hub",
        "Hugging Face hub",
        "warn",
        "https://huggingface.co unreachable (timed out)",
        "use the offline demo model, or switch to another endpoint, e.g. https://hf-mirror.com",
    ),
    Check(
        "token",
        "Hugging Face token",
        "warn",
        "no token (public models still download)",
        "for gated or private models: hf auth login (or set HF_TOKEN)",
    ),
    Check("session", "Terminal session", "pass", "local terminal"),
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


@pytest.fixture
def snap_compare(snap_compare):
    """The plugin's, with every text cursor held steady: a blinking one is
    pictured lit or not by chance (the chat prompt's made flaky pictures)."""

    def compare(app, run_before=None, **options):
        async def steady(pilot):
            if run_before is not None:
                await run_before(pilot)
            for widget in pilot.app.screen.query("Input, TextArea"):
                widget.cursor_blink = False
            await pilot.pause()

        return snap_compare(app, run_before=steady, **options)

    return compare


class Shots:
    """The pictures ``snap_compare`` takes of an app, kept for their text."""

    def __init__(self, app) -> None:
        self.svgs: list[tuple[str, tuple[int, int]]] = []
        take = app.export_screenshot

        def export_screenshot(*args, **kwargs) -> str:
            svg = take(*args, **kwargs)
            self.svgs.append((svg, app.size))
            return svg

        app.export_screenshot = export_screenshot

    def readme(self, name: str) -> None:
        """The README's capture ``name`` is the text of the last picture."""
        readme_captures.check(name, svg_text(*self.svgs[-1]))


def chosen(app) -> None:
    app.session.model_path = str(paths.demo_model_dir())
    app.session.model_label = "tunedeck-demo"
    app.session.data_dir = str(paths.sample_data_dir())


def test_environment(app, snap_compare):
    async def ready(pilot):
        await wait_for(pilot, lambda: "Ready to train" in str(pilot.app.screen.query_one("#verdict").content), 30)

    shots = Shots(app)
    same = snap_compare(app, run_before=ready)
    shots.readme("environment")
    assert same


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

    shots = Shots(app)
    same = snap_compare(app, run_before=local)
    shots.readme("model")  # as on a first run: the demo model not built yet
    assert same


def test_data_source(app, snap_compare):
    async def source(pilot):
        chosen(pilot.app)
        pilot.app.go("data")
        await pilot.pause()

    assert snap_compare(app, run_before=source)


def test_data_sample(app, snap_compare):
    """Enter on the sample: its folder (already written) checked and chosen."""

    async def sample(pilot):
        pilot.app.session.model_path = str(paths.demo_model_dir())
        pilot.app.go("data")
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(pilot, lambda: pilot.app.session.data_dir, 30)
        await pilot.pause()

    shots = Shots(app)
    same = snap_compare(app, run_before=sample)
    shots.readme("data")
    assert same


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


# A 100-iteration demo run as it went here (OpenBLAS, 2 cores): (iteration,
# train loss, trained tokens) every 5 iterations, and the validation losses.
DEMO_TRAIN = [
    (5, 6.779, 2201), (10, 5.871, 4280), (15, 5.556, 6637), (20, 5.061, 8817), (25, 4.796, 11198),
    (30, 4.428, 13312), (35, 4.309, 15464), (40, 4.116, 17647), (45, 4.382, 20048), (50, 4.580, 22482),
    (55, 4.810, 24739), (60, 4.577, 27024), (65, 4.501, 29572), (70, 4.260, 31938), (75, 4.176, 34191),
    (80, 4.247, 36722), (85, 3.982, 39107), (90, 3.896, 41467), (95, 3.729, 43631), (100, 3.620, 45756),
]  # fmt: skip
DEMO_VAL = [(0, 7.523), (25, 4.588), (50, 4.489), (75, 4.083), (100, 3.739)]


def write_demo_run(log, run_dir, model: str, data: str) -> None:
    """The records a run process writes for that run, up to its last checkpoint."""
    adapters = str(run_dir / "adapters")
    log.write("start", run_dir=str(run_dir), iters=100, start_iteration=0, trainable_parameters=77824,
              total_parameters=164416, train_examples=1000, model=model, data=data, adapter_path=adapters)  # fmt: skip
    vals = dict(DEMO_VAL)
    log.write("val", iteration=0, val_loss=vals.pop(0))
    for iteration, loss, tokens in DEMO_TRAIN:
        log.write("train", iteration=iteration, train_loss=loss, learning_rate=1e-3, iterations_per_second=12.0,
                  tokens_per_second=5400.0, trained_tokens=tokens, peak_memory_gb=0.03)  # fmt: skip
        if iteration in vals:
            log.write("val", iteration=iteration, val_loss=vals[iteration])
        if iteration % 50 == 0:
            log.write("checkpoint", iteration=iteration, path=str(run_dir / "checkpoints" / f"{iteration:07d}"))


def test_train_finished(app, snap_compare, monkeypatch):
    """The Run tab after a demo run: the TUI attached to a run process (the
    test holds the run's lock and writes its log), which then finished."""
    from core.training.run_folders import EventLog, RunLock

    monkeypatch.setattr(time, "strftime", lambda fmt, *when: "12:00:00")  # the log's clock, the folder's name
    run_dir = paths.runs_dir() / "20261201-120000-tunedeck-demo"
    model, data = str(paths.demo_model_dir()), str(paths.sample_data_dir())

    async def finished(pilot):
        pilot.app.go("train")
        await pilot.pause()
        screen = pilot.app.screen
        lock = RunLock(run_dir).acquire()
        log = EventLog(run_dir)
        try:
            write_demo_run(log, run_dir, model, data)
            assert screen.attach(str(run_dir))
            await wait_for(pilot, lambda: len(screen.plot.train_pts) == len(DEMO_TRAIN), 30)
            log.write("finished", adapter_path=str(run_dir / "adapters"), iterations=100, stopped_early=False,
                      model=model, data=data, iteration=100)  # fmt: skip
        finally:
            log.close()
            lock.release()
        await wait_for(pilot, lambda: screen.job.done, 30)
        await pilot.pause()

    shots = Shots(app)
    try:
        same = snap_compare(app, run_before=finished)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)  # the later pictures show no runs
    shots.readme("train")
    assert same


# What the demo model tuned by that run answered the first test question
# (ctrl+g), greedy, here: chat-template noise, as a 0.2M-parameter model does.
DEMO_ANSWER = ["<|im_start|>assistan", "<|im_start|>an" * 5, "<|im_start|>ant\n"]


def test_chat_answer(app, snap_compare, monkeypatch):
    """A test question and the tuned demo model's answer. The base model is
    loaded for real; the answer and its speed are the recorded ones."""
    import core.chat.generation as generation
    from core.runtime import events as ev

    load = generation.load_chat_model
    monkeypatch.setattr(generation, "load_chat_model", lambda model, adapter=None: load(model, None))

    def recorded(ctx, chat, messages, sampling):
        for text in DEMO_ANSWER:
            ctx.emit(ev.Token(text=text))
        done = ev.GenerationFinished(text="".join(DEMO_ANSWER), prompt_tokens=120, generation_tokens=20,
                                     tokens_per_second=198.0, time_to_first_token=0.061, stop_reason="eos")  # fmt: skip
        ctx.emit(done)
        return done

    monkeypatch.setattr(generation, "stream_reply", recorded)

    async def answered(pilot):
        chosen(pilot.app)
        pilot.app.session.adapter_path = str(paths.runs_dir() / "20261201-120000-tunedeck-demo" / "adapters")
        pilot.app.go("chat")
        screen = pilot.app.screen
        await wait_for(pilot, lambda: "ready" in screen.model_state, 60)
        await pilot.press("ctrl+g")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.job is not None and screen.job.done, 30)
        await pilot.pause()

    shots = Shots(app)
    same = snap_compare(app, run_before=answered)
    shots.readme("chat")
    assert same
