"""Drive the TUI with Pilot through the whole first-run walkthrough."""

import asyncio
import time

from textual.widgets import Static

from tui.app import make_app


async def wait_for(pilot, predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the UI")
        await pilot.pause(0.1)


def text_of(screen, selector):
    return str(screen.query_one(selector, Static).content)


def test_walkthrough_from_environment_to_chat(demo_model, sample_data):
    async def run():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            assert app.current_mode == "env"
            await wait_for(pilot, lambda: getattr(app.screen, "checks", None))
            assert "Ready to train" in text_of(app.screen, "#verdict")

            await pilot.press("n")
            assert app.current_mode == "model"
            await pilot.press("enter")  # the offline demo is the first choice
            await wait_for(pilot, lambda: app.session.model_path)
            assert app.session.model_path == demo_model
            assert "qwen2, 2 layers" in text_of(app.screen, "#status")

            await pilot.press("n")
            assert app.current_mode == "data"
            await pilot.press("enter")  # the sample dataset
            await wait_for(pilot, lambda: app.session.data_dir)
            assert "train 1000, valid 100, test 100" in text_of(app.screen, "#status")
            assert "assistant: SELECT" in text_of(app.screen, "#preview")

            await pilot.press("n")
            assert app.current_mode == "train"
            screen = app.screen
            await pilot.press("n")  # not trained yet: stays, with a notice
            assert app.current_mode == "train"
            screen.query_one("#iters").value = "12"
            await pilot.press("s")
            await wait_for(pilot, lambda: app.session.adapter_path, timeout=180)
            assert "Training finished after 12 iterations" in text_of(screen, "#stats")
            assert len(screen.train_pts) >= 2 and screen.val_pts
            assert screen.train_pts[-1][1] < screen.train_pts[0][1]

            await pilot.press("n")
            assert app.current_mode == "chat"
            chat = app.screen
            assert "tuned (base + adapter)" in text_of(chat, "#model-line")
            await pilot.press(*"Which team has the most goals?", "enter")
            await wait_for(pilot, lambda: chat.messages and chat.messages[-1]["role"] == "assistant", 60)
            turns = [str(t.content) for t in chat.query(".turn")]
            assert turns[0].startswith("you: Which team")
            assert "tokens" in turns[1] and "tok/s" in turns[1]
            assert app.config["first_run_done"]

    asyncio.run(run())


def test_broken_theme_file_gives_a_notice_and_falls_back(tmp_path, monkeypatch):
    (tmp_path / "broken.yaml").write_text("name: broken\n\tprimary: \"#ffffff\"\n")  # a tab on line 2
    monkeypatch.setenv("TUNEDECK_THEMES_DIR", str(tmp_path))

    async def run():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            notes = [n.message for n in app._notifications]
            assert any("broken.yaml:2" in n and "not valid YAML" in n for n in notes), notes
            assert app.theme == "textual-dark"

    asyncio.run(run())


def test_themes_from_files_and_toggle():
    async def run():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            assert app.theme == "tunedeck-dark"
            await pilot.press("ctrl+t")
            assert app.theme == "tunedeck-light"
            assert app.config["theme"] == "tunedeck-light"
            await pilot.press("ctrl+t")

    asyncio.run(run())
