"""``tunedeck chat``: a one-shot answer, or a plain line-based chat for pipes.

The answer streams to stdout as it is generated and nothing else goes there
(except the ``--- base ---`` / ``--- tuned ---`` headers of ``--compare``), so
scripts can read it. Notes (why an answer stopped, ``--stats``) go to stderr.
When stdin is not a terminal there are no prompts or banners at all.
"""

from __future__ import annotations

import sys

from tui.commands.common import SEED, count, wait

REPL_HELP = "/reset starts over, /system TEXT sets the system prompt, /quit exits"


def register(sub) -> None:
    p = sub.add_parser(
        "chat",
        help="one-shot answer (--prompt) or a line-based chat",
        description="Chat with a model (+ adapter). One answer with --prompt, else one answer "
        "per line of stdin (" + REPL_HELP + ").",
    )
    p.add_argument("--model", required=True, help="model folder (base, fused or downloaded)")
    p.add_argument("--adapter", help="adapter folder (from training; no fuse needed)")
    p.add_argument("--prompt", help="answer this and exit")
    p.add_argument("--system", help="system prompt")
    p.add_argument("--temp", type=float, default=0.0, help="temperature (0 = greedy, the default)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling (1 = off)")
    p.add_argument("--max-tokens", type=count(), default=256, help="stop a run-away answer after N tokens")
    p.add_argument("--repetition-penalty", type=float, help="e.g. 1.1 (off by default)")
    p.add_argument("--seed", type=SEED, help="make sampling repeatable")
    p.add_argument(
        "--stop",
        action="append",
        default=[],
        metavar="TEXT",
        help="stop at this text (not printed); repeatable; \\n means a newline",
    )
    p.add_argument(
        "--compare", action="store_true", help="answer with the base and the tuned model, one after the other"
    )
    p.add_argument("--base", help="with --compare and no --adapter: the base model (--model is the tuned one)")
    p.add_argument("--stats", action="store_true", help="print tokens, tok/s and first-token time to stderr")
    p.add_argument(
        "--save",
        nargs="?",
        const="",
        metavar="FILE",
        help="save a Markdown transcript (default: under $TUNEDECK_HOME/transcripts/); "
        "an existing FILE is never replaced without asking",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="with --save FILE: replace FILE if it is an earlier TuneDeck transcript",
    )
    p.set_defaults(func=run)


def _sides(args) -> list[tuple[str, str, str | None]]:
    """(label, model, adapter) for each model that answers."""
    from pathlib import Path

    from core.runtime.errors import TuneDeckError

    if not args.compare:
        label = Path(args.model).name + (" + adapter" if args.adapter else "")
        return [(label, args.model, args.adapter)]
    if args.adapter:
        base, tuned = (args.base or args.model, None), (args.model, args.adapter)
    elif args.base:
        base, tuned = (args.base, None), (args.model, None)
    else:
        raise TuneDeckError(
            "--compare needs a tuned side", "add --adapter ADAPTER_DIR, or --base BASE_DIR with --model FUSED_DIR"
        )
    return [
        (f"base ({Path(base[0]).name})", *base),
        (f"tuned ({Path(tuned[0]).name}{' + adapter' if tuned[1] else ''})", *tuned),
    ]


def run(args) -> int:
    from core.chat import transcript as tx
    from core.chat.generation import Sampling, describe_stop
    from core.runtime import events as ev
    from core.runtime.engine import Engine

    sampling = Sampling(
        temperature=args.temp,
        top_p=args.top_p,
        max_tokens=args.max_tokens,
        repetition_penalty=args.repetition_penalty,
        seed=args.seed,
        stop=tuple(s.replace("\\n", "\n") for s in args.stop),
    ).check()
    sides = _sides(args)
    replace = _check_save_target(args.save, args.overwrite) if args.save else False
    streaming: set[int] = set()  # the job whose tokens print now

    def stream(event):  # on the MLX thread: only prints
        if isinstance(event, ev.Token) and event.job_id in streaming:
            print(event.text, end="", flush=True)

    engine = Engine(stream)
    for _, model, adapter in sides:  # a missing folder fails here, before any prompt
        wait(engine.load_chat_model(model, adapter))
    system = args.system
    history: list[dict] = []
    log = tx.Transcript(
        model=sides[-1][1],
        adapter=sides[-1][2],
        system=system or "",
        sampling=sampling,
        mode="compare" if args.compare else "chat",
    )

    def ask(text: str) -> None:
        head = [{"role": "system", "content": system}] if system else []
        turn = tx.Turn(text, system=system or "")
        log.turns.append(turn)
        for label, model, adapter in sides:
            if args.compare:
                print(f"--- {label} ---", flush=True)
            convo = head + ([] if args.compare else history) + [{"role": "user", "content": text}]
            job = engine.generate(model, adapter, convo, sampling)
            streaming.add(job.id)
            done = wait(job)
            print(flush=True)
            answer = tx.Answer(
                label,
                done.text,
                done.generation_tokens,
                done.tokens_per_second,
                done.time_to_first_token,
                done.stop_reason,
                max_tokens=sampling.max_tokens,
            )
            turn.answers.append(answer)
            if args.stats:
                print(f"[{answer.stats()}]", file=sys.stderr, flush=True)
            elif done.stop_reason == "max_tokens":
                print(f"note: {describe_stop(done.stop_reason, sampling.max_tokens)}", file=sys.stderr, flush=True)
            if not args.compare:
                history.extend([{"role": "user", "content": text}, {"role": "assistant", "content": done.text}])

    try:
        if args.prompt is not None:
            ask(args.prompt)
        else:
            interactive = sys.stdin.isatty()
            if interactive:
                print(f"chatting with {' and '.join(s[0] for s in sides)}; {REPL_HELP}", file=sys.stderr)
            while True:
                if interactive:
                    try:
                        line = input("> ")
                    except EOFError:
                        break
                else:
                    line = sys.stdin.readline()
                    if not line:
                        break
                text = line.rstrip("\n")
                command = text.strip()
                if not command:
                    continue
                if command in ("/quit", "/exit"):
                    break
                if command == "/reset":
                    history.clear()
                    if interactive:
                        print("(new conversation)", file=sys.stderr)
                    continue
                if command.startswith("/system"):
                    system = command[len("/system") :].strip() or None
                    history.clear()
                    continue
                ask(text)
    finally:  # also after Ctrl-C or a failed answer: what was answered is saved
        if args.save is not None and log.turns:
            _save(tx, log, args.save or None, replace)
    return 0


def _save(tx, log, path: str | None, replace: bool) -> None:
    from pathlib import Path

    from core.runtime.errors import TuneDeckError

    try:
        saved = tx.save(log, path, overwrite=replace)
    except TuneDeckError:
        if path is None or not Path(path).expanduser().exists():
            raise
        # The file appeared while we chatted: keep the answers under a new name beside it.
        saved = tx.save(log, tx.default_path(Path(path).expanduser().parent))
        print(f"note: {path} appeared meanwhile and was left as it is", file=sys.stderr)
    print(f"transcript: {saved}", file=sys.stderr)


def _check_save_target(path: str, overwrite: bool) -> bool:
    """Before any answer: whether ``--save FILE`` may replace FILE (asked in a
    terminal, refused otherwise). Raises when it cannot be written."""
    import os
    from pathlib import Path

    from core.chat import transcript as tx
    from core.runtime.errors import TuneDeckError

    target = Path(path).expanduser()
    folder = target if target.is_dir() else target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # missing folders are created: check the first one that exists
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise TuneDeckError(
            f"cannot write the transcript to {target}: {folder} is not a writable folder",
            "give --save a file in a folder you can write to",
        )
    if target.is_file():
        if not tx.is_transcript(target):
            raise TuneDeckError(
                f"{target} already exists and is not a TuneDeck transcript, so it is never replaced",
                "give --save another file name (or a folder: a new name goes in it)",
            )
        if overwrite:
            return True
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise TuneDeckError(
                f"{target} already exists", "give --save another file name, or add --overwrite to replace it"
            )
        print(
            f"{target} already exists (a transcript saved earlier). Replace it? [y/N] ",
            end="",
            file=sys.stderr,
            flush=True,
        )
        try:
            answer = input()
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            raise TuneDeckError(f"kept {target} as it is", "give --save another file name")
        return True
    return False
