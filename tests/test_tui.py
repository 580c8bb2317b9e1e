"""Drive the TUI with Pilot through the whole first-run walkthrough."""

import asyncio

import pytest
from ui_helpers import at_step, record_notifications, text_of, wait_for

from core.runtime import paths
from tui.app import make_app


@pytest.mark.slow
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
            assert app.session.model_path == str(paths.demo_model_dir())  # the home's, linked to demo_model
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
            assert len(screen.plot.train_pts) >= 2 and screen.plot.val_pts
            assert screen.plot.train_pts[-1][1] < screen.plot.train_pts[0][1]

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
    (tmp_path / "broken.yaml").write_text('name: broken\n\tprimary: "#ffffff"\n')  # a tab on line 2
    monkeypatch.setenv("TUNEDECK_THEMES_DIR", str(tmp_path))

    async def run():
        app = make_app()
        notes = record_notifications(app)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            notes = [n.message for n in notes]
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


@pytest.mark.slow
def test_training_screen_config_runs_and_memory_check_at_80x24(demo_model, sample_data, tmp_path):
    from textual.widgets import DataTable

    async def run():
        async with at_step("train", model_path=demo_model, data_dir=sample_data) as (app, pilot, notes):
            screen = app.screen
            tabs = screen.query_one("#tabs")
            tabs.active = "tab-config"
            await pilot.pause()
            for wid in (
                "#preset",
                "#type",
                "#rank",
                "#layers",
                "#lr",
                "#batch",
                "#iters",
                "#maxlen",
                "#mask",
                "#gradckpt",
                "#schedule",
                "#yaml",
            ):
                w = screen.query_one(wid)
                assert w.region.bottom <= 23 and w.region.right <= 80, wid  # on screen, above the footer
            screen.query_one("#preset").value = "thorough"
            await wait_for(pilot, lambda: screen.query_one("#iters").value == "400")
            assert screen.query_one("#schedule").value == "cosine"
            screen.query_one("#iters").value = "4"
            screen.query_one("#evalsteps").value = "2"
            await pilot.pause()
            assert "4 iters x batch 4 = 0.02 epochs of 1000 examples" in text_of(screen, "#config-info")
            screen.query_one("#yaml").value = str(tmp_path / "c.yaml")
            await pilot.press("ctrl+s")
            assert "iters: 4" in (tmp_path / "c.yaml").read_text()

            await pilot.press("m")  # memory check, on the worker thread
            await wait_for(pilot, lambda: "memory check: peak" in text_of(screen, "#stats"), 120)
            assert "fits" in text_of(screen, "#stats")

            await pilot.press("s")
            assert tabs.active == "tab-run"
            await wait_for(pilot, lambda: app.session.adapter_path, 120)
            assert app.session.run_dir and app.session.adapter_path == f"{app.session.run_dir}/adapters"
            assert screen.plot.train_pts[-1][0] == 4 and screen.plot.val_pts

            tabs.active = "tab-runs"
            await pilot.pause()
            table = screen.query_one("#runs-table", DataTable)
            assert table.row_count >= 1
            table.focus()
            await pilot.press("o")  # pin the newest run for overlay
            assert screen.runs.overlay_path == app.session.run_dir and screen.runs.shown_path
            await pilot.pause()
            assert screen.query_one("#runs-table").region.bottom <= 23

    asyncio.run(run())


def test_training_form_checks_values_as_typed_and_keys_reach_the_screen(demo_model, sample_data):
    async def run():
        async with at_step("train", model_path=demo_model, data_dir=sample_data) as (app, pilot, notes):
            screen = app.screen
            tabs = screen.query_one("#tabs")
            await pilot.press("ctrl+n")  # the Config tab, from the keyboard
            assert tabs.active == "tab-config"
            screen.query_one("#reportsteps").value = "3"
            assert screen.read_form().steps_per_report == 3
            for fid, value, says in (
                ("#rank", "0", "lora rank must be a whole number >= 1"),
                ("#iters", "", "iters is empty"),
                ("#lr", "-1", "learning rate must be a positive number"),
            ):
                good = screen.query_one(fid).value
                screen.query_one(fid).focus()
                screen.query_one(fid).value = value
                await pilot.pause()
                assert says in text_of(screen, "#config-error"), fid
                assert "epochs" not in text_of(screen, "#config-info")
                await pilot.press("escape")  # leaves the knob: s reaches the screen
                assert app.focused is None
                await pilot.press("s")
                assert screen.job is None and tabs.active == "tab-config", fid  # nothing started
                screen.query_one(fid).value = good
                await pilot.pause()
                assert not screen.query_one("#config-error").display
            preset = screen.query_one("#preset")
            preset.value = "quick"
            await wait_for(pilot, lambda: screen.query_one("#iters").value == "60")
            await pilot.pause(0.2)
            assert preset.value == "quick"  # the preset's own fill keeps it
            screen.query_one("#rank").value = "4"
            await pilot.pause()
            assert preset.value == "custom"  # an edited knob: no longer the preset
            await pilot.press("ctrl+n", "ctrl+n")
            assert tabs.active == "tab-run"

    asyncio.run(run())


@pytest.mark.slow
def test_runs_tab_resumes_a_finished_run_after_a_restart(demo_model, sample_data):
    from textual.widgets import DataTable

    from core.runtime import events as ev
    from core.runtime.engine import Engine
    from core.training.run_folders import new_run_dir
    from core.training.settings import demo_settings

    engine = Engine()  # its own: the app shuts its engine down on exit (not the session's)
    run_dir = new_run_dir(demo_model)
    settings = demo_settings(
        demo_model, sample_data, str(run_dir / "adapters"), iters=4, steps_per_report=1, steps_per_eval=2, save_every=2
    )
    engine.train(settings, run_dir).result(timeout=120)  # an earlier session's finished run

    async def run():
        app = make_app(engine)
        notes = record_notifications(app)
        async with app.run_test(size=(80, 24)) as pilot:
            app.go("train")  # a fresh app: no model chosen yet
            await pilot.pause()
            screen = app.screen
            await pilot.press("ctrl+p")
            assert screen.query_one("#tabs").active == "tab-runs"
            table = screen.query_one("#runs-table", DataTable)
            table.move_cursor(row=table.get_row_index(str(run_dir)))
            await pilot.press("r")  # finished: it needs a larger total first
            assert screen.job is None
            assert any("finished all 4 iterations" in n.message for n in notes)

            screen.query_one("#iters").value = "6"
            await pilot.press("r")
            await wait_for(pilot, lambda: screen.job is not None and screen.job.done, 120)
            await pilot.pause()
            assert "Training finished after 6 iterations" in text_of(screen, "#stats")
            assert [i for i, _ in screen.plot.train_pts] == [1, 2, 3, 4, 5, 6]  # the earlier curve, then more
            assert app.session.model_path == demo_model and screen.can_leave() is None  # n goes to chat

            # The curve read at a resume keeps only points from before it: this
            # session's own arrive as events (a late read must not add them twice).
            screen.on_train_started(
                ev.TrainStarted(
                    run_dir=str(run_dir),
                    iters=6,
                    start_iteration=4,
                    trainable_parameters=1,
                    total_parameters=1,
                    train_examples=1,
                )
            )
            assert max(i for i, _ in screen.plot.train_pts) == 4 and all(i < 4 for i, _ in screen.plot.val_pts)

    asyncio.run(run())
