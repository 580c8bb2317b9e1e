"""How the chat screen copes with a fast token stream (numbers for docs/chat.md).

Runs the TUI headless at 80x24 on the demo model, streams one long answer
and reports: tokens/s, time to first token, how many times the answer
widget repainted (the core coalesces tokens into at most one event per 20 ms) and the worst
event-loop stall seen while streaming (how responsive the UI stayed; a 5 ms sleep loop measures it).

    python bench/chat_stream.py [MAX_TOKENS]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TUNEDECK_HOME", tempfile.mkdtemp(prefix="tunedeck-bench-"))
os.environ["HF_HUB_OFFLINE"] = "1"


def main(max_tokens: int) -> None:
    from core.runtime import paths
    from core.runtime.engine import Engine
    from tui.app import make_app
    from tui.widgets.answer import AnswerView

    engine = Engine()
    model = engine.build_demo_model(paths.demo_model_dir()).result()
    app = make_app(engine)
    paints = 0
    original = AnswerView.append

    def counting(self, text):
        nonlocal paints
        paints += 1
        original(self, text)

    AnswerView.append = counting

    async def run():
        async with app.run_test(size=(80, 24)) as pilot:
            app.session.model_path = model
            app.go("chat")
            while not hasattr(app.screen, "sampling"):
                await pilot.pause(0.05)
            chat = app.screen
            chat.sampling.max_tokens = max_tokens
            await pilot.press(*"hello", "enter")
            while not chat.answer_text:  # the model loads first (not measured)
                await asyncio.sleep(0.005)
            worst, stalls, last = 0.0, [], time.perf_counter()
            while chat.busy or not chat.transcript.turns[-1].answers[0].stop_reason:
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                stalls.append(now - last)
                worst, last = max(worst, now - last), now
            stalls.sort()
            p95 = stalls[int(len(stalls) * 0.95)] if stalls else 0.0
            answer = chat.transcript.turns[-1].answers[0]
            print(
                f"tokens {answer.generation_tokens}, {answer.tokens_per_second:.0f} tok/s, first token "
                f"{answer.time_to_first_token * 1000:.0f} ms, answer repaints {paints}, "
                f"UI loop gap p95 {p95 * 1000:.0f} ms, worst {worst * 1000:.0f} ms"
            )

    asyncio.run(run())


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
