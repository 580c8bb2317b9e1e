"""``tunedeck eval | fuse | export``: judge a tuned model and ship it, headless."""

from __future__ import annotations

from tui.commands.common import OVERWRITE_HELP, wait


def register(sub) -> None:
    p = sub.add_parser("eval", help="test loss, perplexity and task score: base vs tuned")
    p.add_argument("--model", required=True, help="base model folder")
    p.add_argument("--adapter", help="adapter folder (omit to score the base model only)")
    p.add_argument("--data", required=True, help="folder with test.jsonl")
    p.add_argument("--task-score", type=int, default=0, metavar="N",
                   help="also generate answers for the first N test examples and grade them (-1 = all)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--test-batches", type=int, default=-1, help="-1 = all (as mlx_lm.lora --test-batches)")
    p.add_argument("--no-base", action="store_true", help="score the tuned model only")
    p.set_defaults(func=run_eval)

    p = sub.add_parser("fuse", help="fuse an adapter into a standalone model folder and verify it")
    p.add_argument("--model", required=True, help="base model folder")
    p.add_argument("--adapter", required=True, help="adapter folder")
    p.add_argument("--out", required=True, help="new folder for the fused model")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP.format(what="fused model"))
    p.add_argument("--dequantize", action="store_true", help="write full-precision weights")
    p.add_argument("--no-verify", action="store_true", help="skip the fused-vs-adapter check")
    p.add_argument("--data", help="data folder whose first test prompts verify (default: the adapter's)")
    p.set_defaults(func=run_fuse)

    p = sub.add_parser("export", help="export a fused model for LM Studio or as GGUF")
    p.add_argument("--model", required=True, help="fused model folder")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--lmstudio", action="store_true", help="copy into LM Studio's models folder")
    where.add_argument("--gguf", metavar="OUT.gguf", help="write a GGUF file (llama/mistral/mixtral)")
    p.add_argument("--lmstudio-dir", help="LM Studio models folder (default: $LMSTUDIO_MODELS_DIR "
                   "or ~/.lmstudio/models)")
    p.add_argument("--publisher", default="tunedeck")
    p.add_argument("--name", help="model name in LM Studio (default: the run folder's name for RUN/fused, "
                   "else the folder's name)")
    p.add_argument("--overwrite", action="store_true",
                   help=OVERWRITE_HELP.format(what="LM Studio export") + "; a GGUF file is never replaced")
    p.set_defaults(func=run_export)


def _engine():
    """An engine that prints each new step once, plus results as they come."""
    from core import events as ev
    from core.engine import Engine

    last = [""]

    def show(event):
        if isinstance(event, ev.Progress):
            if event.message != last[0]:  # not one line per batch or token
                last[0] = event.message
                print(f"... {event.message}", flush=True)
        elif isinstance(event, ev.EvalResult):
            print(f"{event.label}: {format_row(event.__dict__)}", flush=True)
        elif isinstance(event, ev.FuseVerified):
            if event.match:
                print(f"verify {event.index + 1}: match", flush=True)
            else:
                print(f"verify {event.index + 1}: DIFFERS\n  adapter: {event.expected!r}\n"
                      f"  fused:   {event.got!r}", flush=True)

    return Engine(show)


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def format_row(row: dict) -> str:
    text = f"test loss {row['test_loss']:.3f}, test ppl {row['test_ppl']:.3f}"
    task = row.get("task")
    if task:
        text += f", exact {_pct(task['exact_match'])}"
        if task["sql_n"]:
            text += f", valid SQL {_pct(task['valid_sql'])}, exec match {_pct(task['execution_match'])}"
        text += f" (N={task['n']})"
    return text


def run_eval(args) -> int:
    from core.errors import TuneDeckError
    from core.judge import EvalSettings

    if args.no_base and not args.adapter:
        raise TuneDeckError("--no-base needs --adapter", "give the adapter to score")
    n = args.task_score
    settings = EvalSettings(model=args.model, data=args.data, adapter=args.adapter,
                            task_examples=None if n < 0 else n, batch_size=args.batch_size,
                            test_batches=args.test_batches, include_base=not args.no_base)
    result = wait(_engine().evaluate(settings))
    rows = {r["label"]: r for r in result["rows"]}
    if "base" in rows and "tuned" in rows:
        b, t = rows["base"], rows["tuned"]
        print(f"test loss {b['test_loss']:.3f} -> {t['test_loss']:.3f} "
              f"({'better' if t['test_loss'] < b['test_loss'] else 'not better'})")
    if result.get("saved_to"):
        print(f"saved {result['saved_to']}")
    return 0


def run_fuse(args) -> int:
    result = wait(_engine().fuse(args.model, args.adapter, args.out, dequantize=args.dequantize,
                                 verify=not args.no_verify, data=args.data, overwrite=args.overwrite))
    print(f"fused model in {result['out']}")
    if result["note"]:
        print(f"note: {result['note']}")
    if result["verified"]:
        differ = sum(not c["match"] for c in result["checks"])
        if differ:
            print(f"warning: {differ} of {len(result['checks'])} verification answers differ "
                  "from the adapter-on-base answers")
        else:
            print(f"verified: all {len(result['checks'])} answers match the adapter-on-base answers")
    return 0


def run_export(args) -> int:
    engine = _engine()
    if args.lmstudio:
        result = wait(engine.export_lmstudio(args.model, root=args.lmstudio_dir,
                                             publisher=args.publisher, name=args.name,
                                             overwrite=args.overwrite))
        print(f"exported {result['files']} files to {result['path']}")
        print("LM Studio lists it under My Models (restart LM Studio if it is open)")
    else:
        result = wait(engine.export_gguf(args.model, args.gguf))
        print(f"wrote {result['path']} ({result['bytes']:,} bytes)")
    return 0

