"""``tunedeck``: the TUI by default, plus headless commands for scripts.

Headless commands print plain lines (no colour) and exit non-zero on
failure; they never show a traceback for a mistake the user can fix.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.errors import Cancelled, TuneDeckError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tunedeck", description="Fine-tune local LLMs with MLX, from the terminal.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    doctor = sub.add_parser("doctor", help="check this machine (exit 0 when ready to train)")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.add_argument("--offline", action="store_true", help="skip the Hugging Face reachability check")

    demo = sub.add_parser("demo-model", help="build the tiny offline demo model into OUT_DIR")
    demo.add_argument("out_dir")
    demo.add_argument("--size", choices=["tiny", "large"], default="tiny",
                      help="tiny (~0.2M params, default) or large (~30M, for benchmarks)")

    data = sub.add_parser("data", help="datasets: sample, check")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION")
    sample = data_sub.add_parser("sample", help="write the sample text-to-SQL dataset into OUT_DIR")
    sample.add_argument("out_dir")
    sample.add_argument("--seed", type=int, default=0)
    check = data_sub.add_parser("check", help="check every line of a data folder")
    check.add_argument("folder")

    train = sub.add_parser("train", help="LoRA-train headless, printing plain progress lines")
    train.add_argument("--model", required=True, help="model folder")
    train.add_argument("--data", required=True, help="folder with train.jsonl and valid.jsonl")
    train.add_argument("--adapter-path", required=True, help="where to write the adapter")
    train.add_argument("--iters", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--learning-rate", type=float)
    train.add_argument("--num-layers", type=int)
    train.add_argument("--mask-prompt", action="store_true", default=None)
    train.add_argument("--seed", type=int)

    chat = sub.add_parser("chat", help="one-shot answer (--prompt) or a line-based chat")
    chat.add_argument("--model", required=True, help="model folder")
    chat.add_argument("--adapter", help="adapter folder (from training)")
    chat.add_argument("--prompt", help="answer this and exit")
    chat.add_argument("--system", help="system prompt")
    chat.add_argument("--max-tokens", type=int, default=256)
    chat.add_argument("--temp", type=float, default=0.0, help="temperature (0 = greedy)")
    return p


def cmd_doctor(args) -> int:
    from core.doctor import as_json, ready, run_checks

    checks = run_checks(network=not args.offline)
    if args.json:
        print(json.dumps(as_json(checks), indent=2))
    else:
        marks = {"pass": "ok  ", "warn": "warn", "fail": "FAIL"}
        for c in checks:
            print(f"[{marks[c.status]}] {c.name}: {c.detail}")
            if c.fix and c.status != "pass":
                print(f"       fix: {c.fix}")
        print("ready to train" if ready(checks) else "NOT ready to train: fix the FAIL lines")
    return 0 if ready(checks) else 1


def _engine_printing():
    """An engine whose progress events print as plain lines."""
    from core import events as ev
    from core.engine import Engine

    def show(event):
        if isinstance(event, ev.Progress):
            print(f"... {event.message}", flush=True)
        elif isinstance(event, ev.TrainStarted):
            print(f"training {event.trainable_parameters:,}/{event.total_parameters:,} parameters, "
                  f"{event.train_examples} examples, {event.iters} iterations", flush=True)
        elif isinstance(event, ev.TrainReport):
            print(f"iter {event.iteration}: train loss {event.train_loss:.3f}, "
                  f"{event.tokens_per_second:.0f} tok/s, peak {event.peak_memory_gb:.2f} GB", flush=True)
        elif isinstance(event, ev.ValReport):
            print(f"iter {event.iteration}: val loss {event.val_loss:.3f}", flush=True)
        elif isinstance(event, ev.CheckpointSaved):
            print(f"iter {event.iteration}: saved {event.path}", flush=True)

    return Engine(show)


def _wait(job):
    """The job's result; a TuneDeckError propagates, Ctrl-C cancels cleanly."""
    try:
        return job.result()
    except KeyboardInterrupt:
        print("stopping…", file=sys.stderr)
        job.cancel()
        return job.result()


def cmd_demo_model(args) -> int:
    engine = _engine_printing()
    out = _wait(engine.build_demo_model(Path(args.out_dir), args.size))
    print(out)
    return 0


def cmd_data(args, parser) -> int:
    if args.data_command == "sample":
        from core.sample_data import write_sample

        counts = write_sample(args.out_dir, seed=args.seed)
        print(f"wrote {args.out_dir}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        return 0
    if args.data_command == "check":
        from core.data_check import check_folder

        report = check_folder(args.folder)
        for problem in report.problems:
            print(problem)
        hidden = report.errors + report.warnings - len(report.problems)
        if hidden > 0:
            print(f"... and {hidden} more")
        print(report.summary())
        return 0 if report.ok else 1
    parser.parse_args(["data", "--help"])
    return 2


def cmd_train(args) -> int:
    from core.demo_model import is_demo_model
    from core.training import TrainSettings, demo_settings

    make = demo_settings if is_demo_model(args.model) else TrainSettings
    settings = make(model=args.model, data=args.data, adapter_path=args.adapter_path)
    for key in ("iters", "batch_size", "learning_rate", "num_layers", "mask_prompt", "seed"):
        value = getattr(args, key)
        if value is not None:
            setattr(settings, key, value)
    result = _wait(_engine_printing().train(settings))
    how = "stopped" if result["stopped_early"] else "finished"
    print(f"{how} after {result['iterations']} iterations; adapter in {result['adapter_path']}")
    return 0


def cmd_chat(args) -> int:
    from core import events as ev
    from core.engine import Engine
    from core.generation import Sampling

    def stream(event):
        if isinstance(event, ev.Token):
            print(event.text, end="", flush=True)

    engine = Engine(stream)
    sampling = Sampling(temperature=args.temp, max_tokens=args.max_tokens)
    _wait(engine.load_chat_model(args.model, args.adapter))
    messages = [{"role": "system", "content": args.system}] if args.system else []

    def ask(text: str) -> None:
        messages.append({"role": "user", "content": text})
        done = _wait(engine.generate(args.model, args.adapter, list(messages), sampling))
        messages.append({"role": "assistant", "content": done.text})
        print()

    if args.prompt is not None:
        ask(args.prompt)
        return 0
    for line in sys.stdin:
        if line.strip():
            ask(line.rstrip("\n"))
    return 0


def run_tui() -> int:
    from tui.app import make_app

    make_app().run()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            return run_tui()
        if args.command == "doctor":
            return cmd_doctor(args)
        if args.command == "demo-model":
            return cmd_demo_model(args)
        if args.command == "data":
            return cmd_data(args, parser)
        if args.command == "train":
            return cmd_train(args)
        if args.command == "chat":
            return cmd_chat(args)
    except TuneDeckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Cancelled:
        print("stopped", file=sys.stderr)
        return 130
    except Exception as exc:  # unexpected: one line here, the traceback in the log
        from core.worker import log_exception

        path = log_exception(f"tunedeck {args.command} failed")
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if path:
            print(f"  details: {path}", file=sys.stderr)
        return 1
    parser.print_help()
    return 2
