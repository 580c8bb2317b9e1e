"""``tunedeck chat``: a one-shot answer or a line-based chat for pipes."""

from __future__ import annotations

import sys

from tui.commands.common import wait


def register(sub) -> None:
    p = sub.add_parser("chat", help="one-shot answer (--prompt) or a line-based chat")
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--adapter", help="adapter folder (from training)")
    p.add_argument("--prompt", help="answer this and exit")
    p.add_argument("--system", help="system prompt")
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--temp", type=float, default=0.0, help="temperature (0 = greedy)")
    p.set_defaults(func=run)


def run(args) -> int:
    from core import events as ev
    from core.engine import Engine
    from core.generation import Sampling

    def stream(event):
        if isinstance(event, ev.Token):
            print(event.text, end="", flush=True)

    engine = Engine(stream)
    sampling = Sampling(temperature=args.temp, max_tokens=args.max_tokens)
    wait(engine.load_chat_model(args.model, args.adapter))
    messages = [{"role": "system", "content": args.system}] if args.system else []

    def ask(text: str) -> None:
        messages.append({"role": "user", "content": text})
        done = wait(engine.generate(args.model, args.adapter, list(messages), sampling))
        messages.append({"role": "assistant", "content": done.text})
        print()

    if args.prompt is not None:
        ask(args.prompt)
        return 0
    for line in sys.stdin:
        if line.strip():
            ask(line.rstrip("\n"))
    return 0
