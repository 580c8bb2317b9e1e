"""``tunedeck eval | fuse | export``: judge a tuned model and ship it, headless."""

from __future__ import annotations

from core.shipping.gguf import TYPES as GGUF_TYPES
from tui.commands.common import OVERWRITE_HELP, count, wait


def register(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="test loss, perplexity and task score: base vs tuned",
        description="Score base vs tuned. Either a run folder (its model, data and adapter) "
        "or --model/--data/--adapter.",
    )
    p.add_argument("run", nargs="?", metavar="RUN", help="a run folder (from `tunedeck runs`)")
    p.add_argument("--model", help="base model folder (default with RUN: the run's)")
    p.add_argument(
        "--adapter",
        help="with RUN: last (adapters/, the default) or best (best/); "
        "else an adapter folder (omit to score the base model only)",
    )
    p.add_argument("--data", help="folder with test.jsonl (default with RUN: the run's)")
    p.add_argument(
        "--task-score",
        type=count(0, all_value=None),
        default=0,
        metavar="N",
        help="also generate answers for the first N test examples and grade them (all = every one)",
    )
    p.add_argument("--batch-size", type=count(), default=4)
    p.add_argument(
        "--test-batches", type=count(all_value=-1), default=-1, help="-1 or all = all (as mlx_lm.lora --test-batches)"
    )
    p.add_argument("--no-base", action="store_true", help="score the tuned model only")
    p.set_defaults(func=run_eval)

    p = sub.add_parser(
        "fuse",
        help="fuse an adapter into a standalone model folder and verify it",
        description="Fuse a run's adapter (into RUN/fused) or --model + --adapter into --out.",
    )
    p.add_argument("run", nargs="?", metavar="RUN", help="a run folder: fuse its adapter into RUN/fused")
    p.add_argument("--model", help="base model folder (default with RUN: the run's)")
    p.add_argument("--adapter", help="with RUN: last (the default) or best; else an adapter folder")
    p.add_argument("--out", help="new folder for the fused model (default with RUN: RUN/fused)")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP.format(what="fused model"))
    p.add_argument("--dequantize", action="store_true", help="write full-precision weights")
    p.add_argument("--no-verify", action="store_true", help="skip the fused-vs-adapter check")
    p.add_argument("--data", help="data folder whose first test prompts verify (default: the adapter's)")
    p.set_defaults(func=run_fuse)

    p = sub.add_parser("export", help="export a fused model for LM Studio or as GGUF")
    p.add_argument("--model", required=True, help="fused model folder")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--lmstudio", action="store_true", help="copy into LM Studio's models folder")
    where.add_argument("--gguf", metavar="OUT.gguf", help="write a verified GGUF file (qwen2/llama/mistral)")
    p.add_argument(
        "--gguf-type",
        choices=GGUF_TYPES,
        default="f16",
        help="GGUF tensor type (default f16; q8_0/q4_0 are quantized by gguf-py)",
    )
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP.format(what="LM Studio export or OUT.gguf"))
    p.add_argument(
        "--with-gguf",
        action="store_true",
        help="with --lmstudio: also write a GGUF into LM Studio's folder (PUBLISHER/NAME-GGUF/)",
    )
    p.add_argument(
        "--lmstudio-root",
        "--lmstudio-dir",
        dest="lmstudio_root",
        metavar="DIR",
        help="LM Studio models folder (default: $LMSTUDIO_MODELS_DIR, the app setting, or ~/.lmstudio/models)",
    )
    p.add_argument("--publisher", default="tunedeck")
    p.add_argument(
        "--name", help="model name in LM Studio (default: the run folder's name for RUN/fused, else the folder's name)"
    )
    p.add_argument(
        "--allow-stale",
        action="store_true",
        help="export a fused model even though its run's adapter has changed since the fuse",
    )
    p.set_defaults(func=run_export)


def _from_run(args, command: str) -> tuple[str | None, str | None, str | None]:
    """(model, data, adapter) from RUN and the flags; flags win over the run's."""
    from pathlib import Path

    from core.runtime.errors import TuneDeckError
    from core.shipping.provenance import CHOICES, run_adapter
    from core.training.run_folders import CONFIG
    from core.training.settings import load_yaml

    if not args.run:
        if args.adapter in CHOICES and not Path(args.adapter).is_dir():
            raise TuneDeckError(
                f"--adapter {args.adapter} names an adapter of a run, but no run was given",
                f"give the run folder: `tunedeck {command} RUN --adapter {args.adapter}`",
            )
        return args.model, getattr(args, "data", None), args.adapter
    run = Path(args.run)
    if not (run / CONFIG).is_file():
        raise TuneDeckError(
            f"{run} is not a TuneDeck run folder (no {CONFIG})", "pass a run folder (`tunedeck runs` lists them)"
        )
    choice = args.adapter or "last"
    if choice not in CHOICES:
        raise TuneDeckError(
            f"with a run folder, --adapter is last or best (got {args.adapter!r})",
            "use `--adapter best` or `--adapter last`, or drop RUN and give --model and --adapter",
        )
    config = load_yaml(run / CONFIG)
    adapter = run_adapter(run, choice)
    if not (adapter / "adapters.safetensors").is_file():
        hint = (
            "it is saved when a validation loss improves: train with validation (steps_per_eval)"
            if choice == "best"
            else "train or resume the run first"
        )
        raise TuneDeckError(f"{run.name} has no {choice} adapter ({adapter})", hint)
    return args.model or config.get("model"), getattr(args, "data", None) or config.get("data"), str(adapter)


def _say_adapter(adapter: str | None, verb: str) -> None:
    from core.shipping.provenance import adapter_choice, adapter_iteration, describe_adapter

    if adapter:
        choice = adapter_choice(adapter)
        it = adapter_iteration(adapter)
        print(
            f"{verb} the {choice + ' ' if choice else ''}adapter {describe_adapter(adapter)}"
            + (f" (iteration {it})" if it else ""),
            flush=True,
        )


def _engine():
    """An engine that prints each new step once, plus results as they come."""
    from core.runtime import events as ev
    from core.runtime.engine import Engine

    last = [""]

    def show(event):
        if isinstance(event, ev.Progress):
            if event.message != last[0]:  # not one line per batch or token
                last[0] = event.message
                print(f"... {event.message}", flush=True)
        elif isinstance(event, ev.EvalResult):
            print(f"{event.label}: {format_row(event)}", flush=True)
        elif isinstance(event, ev.FuseVerified):
            if event.match:
                print(f"verify {event.index + 1}: match", flush=True)
            else:
                print(
                    f"verify {event.index + 1}: DIFFERS\n  adapter: {event.expected!r}\n  fused:   {event.got!r}",
                    flush=True,
                )

    return Engine(show)


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def format_row(row) -> str:
    """One ``EvalResult`` row (its ``task`` is the score's record, a dict)."""
    text = f"test loss {row.test_loss:.3f}, test ppl {row.test_ppl:.3f}"
    task = row.task
    if task:
        text += f", exact {_pct(task['exact_match'])}"
        if task["sql_n"]:
            text += f", valid SQL {_pct(task['valid_sql'])}, exec match {_pct(task['execution_match'])}"
        text += f" (N={task['n']})"
    return text


def run_eval(args) -> int:
    from core.evaluation.judge import EvalSettings
    from core.runtime.errors import TuneDeckError

    model, data, adapter = _from_run(args, "eval")
    if not model or not data:
        raise TuneDeckError(
            "say which model and data to evaluate", "give a run folder (`tunedeck eval RUN`), or --model and --data"
        )
    if args.no_base and not adapter:
        raise TuneDeckError("--no-base needs --adapter", "give the adapter to score")
    _say_adapter(adapter, "judging")
    settings = EvalSettings(
        model=model,
        data=data,
        adapter=adapter,
        task_examples=args.task_score,
        batch_size=args.batch_size,
        test_batches=args.test_batches,
        include_base=not args.no_base,
    )
    result = wait(_engine().evaluate(settings))
    rows = {r.label: r for r in result.rows}
    if "base" in rows and "tuned" in rows:
        b, t = rows["base"], rows["tuned"]
        print(
            f"test loss {b.test_loss:.3f} -> {t.test_loss:.3f} "
            f"({'better' if t.test_loss < b.test_loss else 'not better'})"
        )
    if result.saved_to:
        print(f"saved {result.saved_to}")
    return 0


def run_fuse(args) -> int:
    from pathlib import Path

    from core.runtime.errors import TuneDeckError

    model, _, adapter = _from_run(args, "fuse")
    out = args.out or (str(Path(args.run) / "fused") if args.run else None)
    if not model or not adapter or not out:
        raise TuneDeckError(
            "say what to fuse", "give a run folder (`tunedeck fuse RUN`), or --model, --adapter and --out"
        )
    _say_adapter(adapter, "fusing")
    result = wait(
        _engine().fuse(
            model,
            adapter,
            out,
            dequantize=args.dequantize,
            verify=not args.no_verify,
            data=args.data,
            overwrite=args.overwrite,
        )
    )
    print(f"fused model in {result.out}")
    if result.note:
        print(f"note: {result.note}")
    if result.verified:
        differ = sum(not c.match for c in result.checks)
        if differ:
            print(
                f"warning: {differ} of {len(result.checks)} verification answers differ "
                "from the adapter-on-base answers"
            )
        else:
            print(f"verified: all {len(result.checks)} answers match the adapter-on-base answers")
    return 0


def run_export(args) -> int:
    from core.runtime.errors import TuneDeckError
    from core.shipping.gguf import lmstudio_gguf_path, summary_lines
    from core.shipping.lmstudio import check_export_source, check_lmstudio_root, lmstudio_target
    from core.shipping.provenance import check_fused

    if args.with_gguf and not args.lmstudio:
        raise TuneDeckError("--with-gguf goes with --lmstudio", "for a GGUF file alone use --gguf OUT.gguf")
    check_export_source(args.model, args.allow_stale)  # before anything loads or is written
    fresh = check_fused(args.model)
    if fresh is not None:
        if fresh.state == "fresh":
            print(f"{fresh.reason} (up to date)", flush=True)
        else:
            print(
                f"warning: {args.model} {'is out of date' if fresh.stale else 'cannot be checked'}: {fresh.reason}",
                flush=True,
            )
    engine = _engine()
    out = args.gguf
    if args.lmstudio:
        from core.shipping.lmstudio import default_name

        root = str(check_lmstudio_root(args.lmstudio_root)) if args.lmstudio_root else None
        print(f"exporting to {lmstudio_target(args.model, root, args.publisher, args.name)}", flush=True)
        result = wait(
            engine.export_lmstudio(
                args.model,
                root=root,
                publisher=args.publisher,
                name=args.name,
                allow_stale=args.allow_stale,
                overwrite=args.overwrite,
            )
        )
        print(f"exported {result.files} files to {result.path}")
        print("LM Studio lists it under My Models (restart LM Studio if it is open)")
        if not args.with_gguf:
            return 0
        out = str(
            lmstudio_gguf_path(
                args.name or default_name(args.model), args.gguf_type, root=root, publisher=args.publisher
            )
        )
    print(f"writing {out}", flush=True)
    result = wait(
        engine.export_gguf(
            args.model, out, gguf_type=args.gguf_type, replace=args.overwrite, allow_stale=args.allow_stale
        )
    )
    for line in summary_lines(result):
        print(line)
    return 0
