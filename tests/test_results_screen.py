"""The Judge & ship screen at 80x24, driven with Pilot on the demo model."""

import asyncio
from pathlib import Path

import pytest
from textual.widgets import DataTable, RichLog
from ui_helpers import screen_text, wait_for

from tui.app import make_app


def log_text(screen) -> str:
    return "\n".join(line.text for line in screen.query_one("#judge-log", RichLog).lines)


@pytest.mark.slow
def test_judge_and_ship_from_the_keyboard(engine, demo_model, sample_data, tmp_path, monkeypatch):
    from core.training.settings import demo_settings
    from tui.screens.results import ResultsScreen, fused_dir

    run = tmp_path / "run"
    adapters = run / "adapters"
    engine.train(
        demo_settings(demo_model, sample_data, str(adapters), iters=10, steps_per_eval=100, save_every=100)
    ).result(timeout=300)
    (run / "tunedeck_run.json").write_text('{"kind": "run"}\n')  # marks a run folder
    monkeypatch.setenv("LMSTUDIO_MODELS_DIR", str(tmp_path / "lms"))

    async def run_app():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            app.session.model_path = demo_model
            app.session.data_dir = sample_data
            app.session.adapter_path = str(adapters)
            app.go("train")
            await pilot.pause()
            await pilot.press("j")
            screen = app.screen
            assert isinstance(screen, ResultsScreen)
            await pilot.press("g")  # nothing fused yet: a notice, no job
            assert screen.job is None

            screen.query_one("#task-n").value = "2"
            await pilot.press("e")
            await wait_for(pilot, lambda: screen.job and screen.job.done and "saved" in log_text(screen))
            # The footer recomposes when the job ends (x Cancel gives way to a Adapter).
            await wait_for(pilot, lambda: "a Adapter" in screen_text(app))
            table = screen.query_one("#table", DataTable)
            assert table.row_count == 2
            assert [str(c) for c in table.get_row("tuned")][-1] == "2"  # N
            text = screen_text(app)
            assert "test loss" in text and "valid SQL" in text and "✓ tuned is better" in text
            assert "tuned (last)  " in text and "base   " in text  # both rows, and which adapter judged
            assert "Evaluate" in text and "Fuse" in text  # footer keys visible at 80 columns
            assert (run / "eval.json").is_file()

            await pilot.press("f")
            await wait_for(pilot, lambda: screen.job.done and "fused model in" in log_text(screen))
            assert "verified: all 3 answers match" in log_text(screen)
            assert fused_dir(str(adapters)) == run / "fused" and (run / "fused" / "config.json").is_file()

            await pilot.press("g")  # the GGUF dialog: q8_0 (two to the right), beside the fused model
            await pilot.press("right", "right", "space")
            text = screen_text(app)
            assert "ctrl+s writes" in text and "q8_0" in text and "near-lossless" in text
            await pilot.press("ctrl+s")
            await wait_for(
                pilot,
                lambda: screen.job.name == "export" and screen.job.done and "checked: tokenization" in log_text(screen),
            )
            assert (run / "run-q8_0.gguf").is_file() and "pre-tokenizer 'qwen2'" in log_text(screen)
            await pilot.press("g", "right", "right", "space")  # q8_0 again: the file exists
            await pilot.press("ctrl+s")
            assert "tick 'replace'" in screen_text(app)  # refused in the dialog until 'replace' is ticked
            await pilot.press("escape")
            assert screen.job.name == "export" and app.screen is screen
            log = screen.query_one("#judge-log", RichLog)
            assert max(len(line.text) for line in log.lines) <= log.scrollable_content_region.width  # none cropped

            await pilot.press("l")
            await wait_for(pilot, lambda: screen.job.done and "exported to" in log_text(screen))
            assert (tmp_path / "lms" / "tunedeck" / "run" / "config.json").is_file()

            await pilot.press("escape")
            assert app.screen is not screen and app.current_mode == "train"

            # Reopened later: the saved evaluation is shown at once.
            await pilot.press("j")
            again = app.screen
            assert again.query_one("#table", DataTable).row_count == 2
            assert "last evaluation" in log_text(again)

            # A cancelled evaluation leaves the saved one on screen (and in eval.json).
            again.query_one("#task-n").value = "0"
            await pilot.press("e", "x")
            await wait_for(pilot, lambda: again.job.done and "evaluate cancelled" in log_text(again))
            assert again.query_one("#table", DataTable).row_count == 2

    asyncio.run(run_app())
    assert Path(tmp_path / "lms").is_dir()
