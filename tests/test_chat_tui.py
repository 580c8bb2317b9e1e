"""The chat screen driven with Pilot at 80x24: streaming, Esc, compare mode,
settings, the prompt box, transcripts and a missing model folder."""

import asyncio

from textual.widgets import Input, Static
from ui_helpers import at_step, record_notifications, wait_for

from tui.app import make_app
from tui.screens.chat_dialogs import ModelChoice
from tui.widgets.answer import AnswerView
from tui.widgets.prompt_area import PromptArea


def line(screen):
    return str(screen.query_one("#model-line", Static).content)


async def open_chat(app, pilot, model, adapter=None, data=None):
    app.session.model_path = model
    app.session.adapter_path = adapter
    app.session.data_dir = data
    app.go("chat")
    await pilot.pause()
    return app.screen


def test_escape_stops_a_long_answer_and_keeps_it(demo_model):
    async def run():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            chat = await open_chat(app, pilot, demo_model)
            chat.sampling.max_tokens = 100000
            await pilot.press(*"hello", "enter")
            await wait_for(pilot, lambda: len(chat.answer_text) > 20)
            job = chat.job
            await pilot.press("escape")
            await wait_for(pilot, lambda: not chat.busy and chat.messages[-1]["role"] == "assistant", 30)
            done = job.result()
            assert done.stop_reason == "stopped" and done.generation_tokens < 100000
            view = chat.query(AnswerView).last()
            assert view.body == done.text and done.text  # what was produced is kept
            assert "stopped by you" in str(view.content)
            assert chat.messages[-1]["content"] == done.text

    asyncio.run(run())


def test_compare_mode_answers_side_by_side_with_the_reference(demo_model, sample_data, tmp_path):
    from core.runtime.engine import Engine

    # An "adapter" trained for 2 steps is enough to make the two answers differ.
    engine = Engine()
    from core.training.settings import TrainSettings

    engine.train(
        TrainSettings(
            model=demo_model,
            data=sample_data,
            adapter_path=str(tmp_path / "ad"),
            iters=2,
            batch_size=2,
            val_batches=1,
            num_layers=2,
        )
    ).result(timeout=120)

    async def run():
        app = make_app(engine)
        notes = record_notifications(app)
        async with app.run_test(size=(80, 24)) as pilot:
            chat = await open_chat(app, pilot, demo_model, str(tmp_path / "ad"), sample_data)
            chat.sampling.max_tokens = 10
            await pilot.press("ctrl+b")
            assert chat.compare and "Compare: base tunedeck-demo  vs  tuned tunedeck-demo + adapter" in line(chat)
            await pilot.press("ctrl+g")  # a test question, with its reference answer
            question = chat.query_one(PromptArea).text
            assert question
            await pilot.press("enter")
            await wait_for(pilot, lambda: len(chat.query(AnswerView)) == 2 and not chat.busy)
            base, tuned = chat.query(AnswerView)
            assert base.finished and tuned.finished
            assert base.region.y == tuned.region.y and base.region.x < tuned.region.x  # side by side
            assert "tok/s" in str(base.content) and "tok/s" in str(tuned.content)
            ref = chat.query_one(".reference", Static)
            assert "SELECT" in str(ref.content)
            turn = chat.transcript.turns[-1]
            assert [a.label for a in turn.answers] == ["base (tunedeck-demo)", "tuned (tunedeck-demo + adapter)"]
            assert all(a.stop_reason for a in turn.answers) and turn.reference
            assert chat.messages == []  # compare prompts are asked fresh

            await pilot.press("ctrl+s")
            await pilot.pause()
            saved = [n for n in notes if n.title == "Transcript saved"]
            assert saved
            from pathlib import Path

            text = Path(saved[-1].message).read_text()
            assert question.strip() in text and "**Reference (test split):**" in text
            assert "**base (tunedeck-demo)**" in text and "**tuned (tunedeck-demo + adapter)**" in text

    try:
        asyncio.run(run())
    finally:
        engine.shutdown()


def test_max_tokens_stop_is_explained_and_settings_apply(demo_model):
    async def run():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            chat = await open_chat(app, pilot, demo_model)
            await pilot.press("ctrl+f")
            dialog = app.screen
            dialog.query_one("#set-max-tokens", Input).value = "7"
            dialog.query_one("#set-seed", Input).value = "x"
            await pilot.press("ctrl+s")
            assert app.screen is dialog and "seed must be a whole number" in str(
                dialog.query_one("#settings-error", Static).content
            )
            dialog.query_one("#set-seed", Input).value = "5"
            dialog.query_one("#set-stop", Input).value = r"QQQ | \nZ\t"
            await pilot.press("ctrl+s")
            assert app.screen is chat
            assert chat.sampling.max_tokens == 7 and chat.sampling.seed == 5
            assert chat.sampling.stop == ("QQQ", "\nZ\t")
            await pilot.press("ctrl+r")  # greedy ↔ sampling in one key
            assert chat.sampling.temperature == 0.7
            await pilot.press("ctrl+r")
            assert chat.sampling.greedy and "greedy · max 7 tokens" in line(chat)
            await pilot.press(*"hi", "enter")
            await wait_for(pilot, lambda: not chat.busy and chat.transcript.turns[-1].answers[0].stop_reason)
            text = str(chat.query(AnswerView).last().content)
            assert "hit max tokens (7) — the model did not end its answer" in text

    asyncio.run(run())


def test_prompt_box_multiline_and_history(demo_model):
    async def run():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            chat = await open_chat(app, pilot, demo_model)
            chat.sampling.max_tokens = 3
            box = chat.query_one(PromptArea)
            await pilot.press(*"one", "ctrl+j", *"two")
            assert box.text == "one\ntwo"
            await pilot.press("enter")
            await wait_for(pilot, lambda: not chat.busy)
            assert box.text == "" and chat.messages[0]["content"] == "one\ntwo"
            await pilot.press(*"three", "enter")
            await wait_for(pilot, lambda: not chat.busy)
            await pilot.press("up")
            assert box.text == "three"
            await pilot.press("ctrl+p")
            assert box.text == "one\ntwo"
            await pilot.press("ctrl+n")
            assert box.text == "three"
            await pilot.press("down")
            assert box.text == ""
            await pilot.press("ctrl+l")
            assert chat.messages == [] and not chat.query(AnswerView)

    asyncio.run(run())


def test_missing_model_folder_is_a_clear_message_on_screen(demo_model, tmp_path):
    async def run():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            chat = await open_chat(app, pilot, demo_model)
            await pilot.press("ctrl+o")
            picker = app.screen
            options = picker.query_one("#models")
            options.highlighted = options.option_count - 1  # "Another model folder…"
            await pilot.press("enter")
            picker.query_one("#picker-model", Input).value = str(tmp_path / "nope")
            await pilot.press("enter")  # refused by the field: the dialog stays, with the message
            assert app.screen is picker and app.focused is picker.query_one("#picker-model")
            assert "model folder not found" in str(picker.query_one("#picker-error", Static).content)
            await pilot.press("x")  # editing the path clears the old complaint
            assert str(picker.query_one("#picker-error", Static).content) == ""
            await pilot.press("escape")
            assert app.screen is chat
            # A folder gone after it was chosen: said on the model line, and by the answer.
            chat.choice = ModelChoice("folder", str(tmp_path / "nope"), None)
            chat.preload()
            await wait_for(pilot, lambda: "✗" in line(chat), 30)
            assert "model folder not found" in line(chat)
            await pilot.press(*"hi", "enter")
            await wait_for(pilot, lambda: chat.query(AnswerView) and not chat.busy, 30)
            assert "model folder not found" in str(chat.query(AnswerView).last().content)
            assert chat.messages == []

    asyncio.run(run())


def test_long_answers_freeze_finished_blocks():
    from textual.app import App

    class One(App):
        def compose(self):
            yield AnswerView("model")

    async def run():
        app = One()
        async with app.run_test(size=(80, 24)) as pilot:
            view = app.query_one(AnswerView)
            pieces = [f"line {i} " + "x" * 30 + "\n" for i in range(100)]
            for piece in pieces:
                view.append(piece)
            await pilot.pause()
            blocks = view.query(".answer-block")
            assert len(blocks) >= 3  # only the tail is re-rendered per paint
            assert view.body == "".join(pieces)
            shown = "\n".join(str(w.content) for w in view.query(".answer-block, .answer-tail"))
            assert shown.startswith("model: line 0") and "line 99" in shown
            assert shown.replace("model: ", "", 1).replace("\n\n", "\n").strip() == "".join(pieces).strip()

    asyncio.run(run())


class _FakeJob:
    def __init__(self, job_id):
        self.id, self.done = job_id, False


def _finished(job_id, text, reason="max_tokens"):
    from core.runtime import events as ev

    return ev.GenerationFinished(
        job_id=job_id,
        text=text,
        prompt_tokens=1,
        generation_tokens=9,
        tokens_per_second=1.0,
        time_to_first_token=0.01,
        stop_reason=reason,
    )


def _visible(chat, widget):
    transcript = chat.query_one("#transcript")
    return transcript.region.y <= widget.region.y and widget.region.bottom <= transcript.region.bottom


def test_compare_columns_stay_visible_with_a_run_away_blank_answer():
    """The compare layout with a base answer of hundreds of blank lines (what
    the demo model does): it shows as one marker, and while the tuned answer
    streams, its end is what the transcript keeps in view."""

    from core.chat import transcript as tx
    from core.runtime import events as ev

    async def run():
        async with at_step("chat") as (app, pilot, notes):  # no model: nothing loads, the answers below are fed by hand
            chat = app.screen
            views = [AnswerView("base", "magenta"), AnswerView("tuned", note="waits for base…")]
            chat.transcript_view.add_compare_turn("q?", views, "SELECT 1")
            for i, view in enumerate(views):
                chat.views[i + 1] = (view, tx.Answer(view.label), False)
            chat.jobs = [_FakeJob(1), _FakeJob(2)]
            base = "SELECT" + "\n" * 250 + "".join(f"row {i}\n" for i in range(30))
            for piece in (base[:100], base[100:]):
                chat.handle_event(ev.Token(job_id=1, text=piece))
                await pilot.pause()
            chat.handle_event(_finished(1, base))
            chat.jobs[0].done = True
            await pilot.pause()
            assert "⋯ 249 blank lines ⋯" in str(views[0].query_one(".answer-tail").content)
            assert views[0].region.height < 40  # 30 rows and the marker, not 280 lines
            assert views[0].body == base  # the answer itself keeps every character
            for n in range(5):  # a short tuned answer beside a base answer taller than the screen
                chat.handle_event(ev.Token(job_id=2, text=f"word{n}\n"))
                # its end comes into view (after a layout, the scroll, a repaint), not the base's end
                await wait_for(pilot, lambda: _visible(chat, views[1].note_widget), 10)
            chat.handle_event(_finished(2, views[1].body, "eos"))
            await pilot.pause()
            await wait_for(pilot, lambda: "end of answer" in str(views[1].content), 10)
            await wait_for(pilot, lambda: _visible(chat, views[1].note_widget), 10)

    asyncio.run(run())


def test_transcript_scrolls_with_keys_while_typing():
    async def run():
        async with at_step("chat") as (app, pilot, notes):
            chat = app.screen
            chat.transcript_view.mount_turn(*[Static(f"line {i}", classes="turn") for i in range(40)])
            await pilot.pause()
            transcript = chat.query_one("#transcript")
            assert isinstance(app.focused, PromptArea) and transcript.scroll_y == transcript.max_scroll_y > 0
            await pilot.press(*"typing", "pageup")
            assert 0 < transcript.scroll_y < transcript.max_scroll_y
            await pilot.press("ctrl+home")
            assert transcript.scroll_y == 0
            await pilot.press("pagedown")
            assert transcript.scroll_y > 0
            await pilot.press("ctrl+end")
            assert transcript.scroll_y == transcript.max_scroll_y
            assert chat.query_one(PromptArea).text == "typing" and isinstance(app.focused, PromptArea)

    asyncio.run(run())


def test_test_question_without_a_data_folder_is_a_message_not_a_crash():
    async def run():
        async with at_step("chat") as (app, pilot, notes):
            await pilot.press("ctrl+g")
            await pilot.pause()
            assert any("no data folder chosen" in n.message for n in notes)
            assert app.screen.query_one(PromptArea).text == ""

    asyncio.run(run())


def test_model_picker_offers_earlier_runs_adapters(demo_model, tmp_path, monkeypatch):
    import json

    from tui.screens.chat_dialogs import ModelPicker

    monkeypatch.setenv("TUNEDECK_HOME", str(tmp_path))  # a home of its own: this run stays out of others' lists
    adapters = tmp_path / "runs" / "old-run" / "adapters"
    adapters.mkdir(parents=True)
    (adapters / "adapters.safetensors").write_bytes(b"")
    (adapters / "adapter_config.json").write_text(json.dumps({"model": demo_model}))

    async def run():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            chat = await open_chat(app, pilot, demo_model)
            await pilot.press("ctrl+o")
            await pilot.pause()
            picker = app.screen
            assert isinstance(picker, ModelPicker)
            options = picker.query_one("#models")
            ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
            assert options.max_scroll_y == 0  # every choice in view, "Another model folder…" included
            options.highlighted = ids.index("run-0")
            await pilot.press("enter")
            assert app.screen is chat
            assert (chat.choice.model, chat.choice.adapter) == (demo_model, str(adapters))

    asyncio.run(run())
