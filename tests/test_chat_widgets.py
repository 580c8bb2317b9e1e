"""The Chat screen's widgets, each mounted alone in a tiny app."""

import asyncio

from textual.widgets import Static
from ui_helpers import Alone

from core.chat.generation import Sampling
from tui.widgets.answer import AnswerView
from tui.widgets.chat.model_line import NO_MODEL, ModelLine, comparing, model_label, talking_to
from tui.widgets.chat.transcript import ChatTranscript


def test_model_line_shows_state_sampling_and_a_schema_cut_to_its_width():
    async def run():
        line = ModelLine()
        async with Alone(line).run_test(size=(60, 10)) as pilot:
            system = "SCHEMA: CREATE TABLE " + ", ".join(f"c{i} INT" for i in range(30))
            line.show(talking_to("demo · base model"), "✗ out of memory", Sampling(max_tokens=7), system)
            await pilot.pause()
            text = line.content
            first, sampling, schema = str(text).splitlines()
            assert first == "Talking to: demo · base model · ✗ out of memory"
            assert any(span.style == "red" for span in text.spans)
            assert sampling.startswith("greedy · max 7 tokens") and sampling.endswith("(ctrl+r: sample)")
            assert schema.startswith("schema: CREATE TABLE c0") and schema.endswith("…")
            assert len(schema) <= line.content_size.width
            line.show(NO_MODEL, "", Sampling(temperature=0.7), "Be brief.")
            await pilot.pause()
            assert str(line.content).splitlines()[1:] == [
                f"{Sampling(temperature=0.7).describe()} (ctrl+r: greedy)",
                "system: Be brief.",
            ]

    asyncio.run(run())


def test_model_labels_and_the_compare_headline():
    assert model_label(None, None) == "no model"
    assert model_label("/m/qwen", "/a") == "qwen + adapter"
    pair = (("/m/qwen", None), ("/m/qwen", "/a"))
    assert str(comparing(pair)) == "Compare: base qwen  vs  tuned qwen + adapter"
    assert "needs a tuned model" in str(comparing(None))


def test_transcript_chat_turn_streams_into_its_answer_and_follows_to_the_end():
    async def run():
        transcript = ChatTranscript()
        async with Alone(transcript).run_test(size=(60, 12)) as pilot:
            view = AnswerView("model")
            transcript.add_chat_turn("how many?", view, "SELECT 1")
            await pilot.pause()
            shown = [str(w.content) for w in transcript.children if isinstance(w, Static)]
            assert shown == ["you: how many?", "reference: SELECT 1"]
            transcript.stream(view, "".join(f"line {i}\n" for i in range(30)))
            await pilot.pause()
            assert transcript.scroll_y == transcript.max_scroll_y > 0  # followed to the end
            transcript.finish(view, view.body, "done", "dim")
            transcript.clear()
            await pilot.pause()
            assert not transcript.children

    asyncio.run(run())


def test_compare_turn_side_by_side_follows_the_answer_until_scrolled_away():
    async def run():
        transcript = ChatTranscript()
        async with Alone(transcript).run_test(size=(80, 12)) as pilot:
            transcript.mount_turn(*[Static(f"earlier {i}", classes="turn") for i in range(10)])
            views = [AnswerView("base", "magenta"), AnswerView("tuned")]
            transcript.add_compare_turn("q?", views, None)
            await pilot.pause()
            assert views[0].region.y == views[1].region.y and views[0].region.right <= views[1].region.x
            transcript.stream(views[0], "".join(f"row {i}\n" for i in range(20)))
            for _ in range(3):
                await pilot.pause()
            followed = transcript.scroll_y
            assert followed > 0 and transcript.following()
            transcript.scroll_to_place("home")
            await pilot.pause()
            assert not transcript.following()
            transcript.stream(views[1], "short\n")
            for _ in range(3):
                await pilot.pause()
            assert transcript.scroll_y == 0  # left where the user put it
            transcript.add_marker("── new conversation ──")
            await pilot.pause()
            assert str(transcript.children[-1].content) == "── new conversation ──"

    asyncio.run(run())
