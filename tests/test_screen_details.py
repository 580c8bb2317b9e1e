"""Details of the screens a new user met (Pilot at 80x24): what Esc leaves,
which keys the footer offers, errors that go once fixed, lines that fit."""

import asyncio

from textual.widgets import Input, ProgressBar
from ui_helpers import at_step, screen_text, text_of, wait_for

from core.runtime import events as ev
from core.runtime.doctor import Check
from tui.app import make_app
from tui.widgets.answer import AnswerView
from tui.widgets.path_log import wrap_at_names


def footer_actions(app) -> set[str]:
    return {b.binding.action for b in app.screen.active_bindings.values() if b.binding.show}


def test_data_screen_esc_errors_by_the_box_and_the_users_own_templates(tmp_path):
    from core.data.sources import open_source

    async def run():
        async with at_step("data") as (app, pilot, notes):
            data = app.screen
            data.query_one("#sources").highlighted = 1  # a file or folder
            await pilot.press("enter")
            assert app.focused is data.query_one("#folder", Input)
            await pilot.press("escape")  # nothing to cancel: Esc leaves the path box
            assert app.focused is data.query_one("#sources")

            csv = tmp_path / "qa.csv"
            csv.write_text("question,answer\nq1,a1\nq2,a2\n")
            data.show_source(open_source(str(csv)))
            await pilot.pause()
            data.query_one("#tpl-user", Input).value = "{question} {nope}"  # the user's edit
            await pilot.pause()
            rendered = text_of(data, "#rendered")
            assert "the templates use column(s) nope" in rendered and "preset" not in rendered
            assert "--" not in rendered  # the TUI's words, not the CLI's flags
            data.query_one("#tpl-user", Input).value = "{question}"

            sample = data.query_one("#sample", Input)
            sample.value = "-3"
            await pilot.pause()
            assert "sample rows: '-3' is not a count" in text_of(data, "#split-info")
            sample.value = "all"  # what the box's placeholder says: every row, and the error goes
            await pilot.pause()
            assert "✗" not in text_of(data, "#split-info")

            sample.value = "5"  # more rows than the file has: said in the TUI's words
            data.query_one("#out", Input).value = str(tmp_path / "out")
            data.action_write()
            await wait_for(pilot, lambda: "✗" in text_of(data, "#status"), 60)
            status = text_of(data, "#status")
            assert "asked for 5 rows but the source has 2" in status and "--sample" not in status

    asyncio.run(run())


def test_keys_that_type_leave_the_footer_while_an_input_has_focus():
    async def run():
        async with at_step("model") as (app, pilot, notes):
            assert "search" in footer_actions(app)
            await pilot.press("f")  # the folder path box
            assert isinstance(app.focused, Input)
            await pilot.pause()
            shown = footer_actions(app)
            assert "search" not in shown and "folder" not in shown and "next_step" not in shown
            assert "close_input" in {b.binding.action for b in app.screen.active_bindings.values()}
            await pilot.press("escape")
            await pilot.pause()
            assert "search" in footer_actions(app)

    asyncio.run(run())


def test_endpoint_error_goes_with_esc_and_each_interface_says_how_to_switch(capsys, monkeypatch):
    async def run():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            env = app.screen
            env.checks = [
                Check(
                    "hub",
                    "Hugging Face hub",
                    "warn",
                    "x unreachable",
                    "use the offline demo model, or switch to another endpoint",
                )
            ]
            env._show_fix(0)
            assert "(e switches it here)" in text_of(env, "#fix")
            await pilot.press("e")
            box = env.query_one("#endpoint", Input)
            box.value = "not a url"
            await pilot.press("enter")
            assert "✗" in text_of(env, "#fix")
            await pilot.press("escape")
            assert not box.display and "✗" not in text_of(env, "#fix")
            assert "Hugging Face endpoint now" not in text_of(env, "#fix")

    asyncio.run(run())

    import core.runtime.doctor
    from tui.commands import doctor

    monkeypatch.setattr(
        core.runtime.doctor,
        "run_checks",
        lambda **_: [
            Check(
                "hub",
                "Hugging Face hub",
                "warn",
                "x unreachable",
                core.runtime.doctor.check_hub("http://127.0.0.1:9").fix,
            )
        ],
    )
    monkeypatch.setattr(core.runtime.doctor, "ready", lambda checks: True)
    doctor.run(type("Args", (), {"offline": False, "model": None, "json": False})())
    out = capsys.readouterr().out
    assert "HF_ENDPOINT" in out and "e here" not in out and "e switches" not in out


def test_judge_bar_empties_after_a_cancel(demo_model, sample_data):
    from tui.screens.results import ResultsScreen

    async def run():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            app.session.model_path, app.session.data_dir = demo_model, sample_data
            screen = ResultsScreen()
            await app.push_screen(screen)
            await pilot.pause()
            bar = screen.query_one("#judge-progress", ProgressBar)
            screen.handle_event(ev.Progress(message="task score", done=3, total=10, job_id=7))
            assert bar.percentage == 0.3
            screen.handle_event(ev.JobCancelled(name="evaluate", job_id=7))
            assert bar.percentage == 0

    asyncio.run(run())


def test_chat_schema_line_fits_and_compare_columns_stand_apart():
    async def run():
        async with at_step("chat") as (app, pilot, notes):  # no model: nothing loads
            chat = app.screen
            chat.system = "SCHEMA: CREATE TABLE " + ", ".join(f"column_{i} VARCHAR" for i in range(20))
            chat.update_model_line()
            await pilot.pause()
            schema = text_of(chat, "#model-line").splitlines()[-1]
            assert schema.endswith("…") and len(schema) <= chat.query_one("#model-line").content_size.width

            views = [AnswerView("base", "magenta"), AnswerView("tuned")]
            chat.transcript_view.add_compare_turn("q?", views, None)
            await pilot.pause()
            assert views[1].region.x - views[0].region.right >= 2  # a gap, not one run-on line
            assert views[1].region.right <= 80

    asyncio.run(run())


def test_toasts_reach_the_last_column_and_logs_keep_file_names_whole():
    async def run():
        app = make_app()
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            app.notify("hello")
            await wait_for(pilot, lambda: app.screen.query("Toast"), 10)
            await pilot.pause()
            toast = app.screen.query_one("Toast")
            assert toast.region.right == 80  # nothing left beside it (it was the rack's scrollbar)

            app.go("train")
            await pilot.pause()
            name = "run-20261201-144324-qwen2.5-coder-0.5b-instruct-q8_0.gguf"
            app.screen.log_line(f"wrote /Users/someone/.tunedeck/runs/20261201-144324/{name} (123 bytes)")
            lines = [line.text.rstrip() for line in app.screen.query_one("#log").lines]
            assert any(name in line for line in lines), lines

    asyncio.run(run())


def test_wrap_at_names_breaks_paths_between_names():
    assert wrap_at_names("wrote /a/bb/ccc.gguf now", 12) == ["wrote /a/bb/", "ccc.gguf now"]
    assert wrap_at_names("short words only", 10) == ["short", "words only"]
    assert wrap_at_names("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]  # one name wider than a line
    assert all(len(line) <= 30 for line in wrap_at_names("see /" + "d/" * 40 + "f.txt", 30))


def test_a_step_visited_before_a_choice_shows_it_done_when_visited_again(demo_model):
    async def run():
        async with at_step("train") as (app, pilot, _notes):
            assert "✓ Model" not in screen_text(app).splitlines()[0]
            app.session.model_path = demo_model  # chosen on the Model step meanwhile
            app.go("model")
            await pilot.pause()
            app.go("train")
            await pilot.pause()
            return screen_text(app).splitlines()[0]

    assert "✓ Model" in asyncio.run(run())
