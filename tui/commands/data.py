"""``tunedeck data``: sample, inspect, build and check datasets."""

from __future__ import annotations

import argparse

from tui.commands.common import OVERWRITE_HELP, SEED, count

SPLIT_HELP = "train,valid,test as counts (100,25,25) or ratios (80%%,10%%,10%% or 0.8,0.1,0.1)"


def register(sub) -> None:
    data = sub.add_parser("data", help="datasets: sample, inspect, build, check")
    data.set_defaults(func=lambda args: (data.print_help(), 2)[1])
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION")
    sample = data_sub.add_parser("sample", help="write the sample text-to-SQL dataset into OUT_DIR")
    sample.add_argument("out_dir")
    sample.add_argument("--seed", type=SEED, default=0)
    sample.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP.format(what="dataset"))
    sample.set_defaults(func=run_sample)

    inspect = data_sub.add_parser("inspect", help="show a source's columns, first rows and the suggested preset")
    _source_args(inspect)
    inspect.add_argument("--rows", type=count(), default=3)
    inspect.set_defaults(func=run_inspect)

    presets = data_sub.add_parser("presets", help="list the column-mapping presets")
    presets.set_defaults(func=run_presets)

    build = data_sub.add_parser("build", help="build a checked train/valid/test folder from SOURCE")
    _source_args(build)
    build.add_argument(
        "--out",
        required=True,
        help="folder to write: new or empty (or, with --overwrite, "
        "an earlier TuneDeck dataset, replaced whole, atomically)",
    )
    build.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP.format(what="dataset"))
    build.add_argument("--preset", default="auto", help="a preset name (tunedeck data presets), default: suggested")
    build.add_argument(
        "--format", choices=("chat", "completions", "text"), help="default chat (preset as-is: the rows' own format)"
    )
    build.add_argument("--sample", type=count(all_value=None), help="keep N shuffled rows (default: all)")
    build.add_argument("--split", default="80%,10%,10%", help=SPLIT_HELP)
    build.add_argument("--seed", type=SEED, default=0, help="shuffle seed")
    build.add_argument("--system", help="system prompt template, e.g. 'Schema: {context}'")
    build.add_argument("--user", help="user turn template, e.g. '{question}'")
    build.add_argument("--assistant", help="assistant turn template, e.g. '{answer}'")
    build.add_argument(
        "--stream",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="hub source: read only the rows the build takes instead of downloading the split "
        "(default: streams a sample of a split over 256 MB in Parquet, JSON Lines or CSV)",
    )
    build.set_defaults(func=run_build)

    check = data_sub.add_parser("check", help="check every line of a data folder")
    check.add_argument("folder")
    check.add_argument("--model", help="also measure token lengths with this model folder's tokenizer")
    check.add_argument("--max-seq-length", type=count(), default=2048)
    check.add_argument("--mask-prompt", action="store_true", help="as in training: prompt tokens not trained on")
    check.add_argument("--limit", type=count(all_value=None), help="tokenize at most N examples per split")
    check.set_defaults(func=run_check)


def _source_args(p) -> None:
    p.add_argument(
        "source",
        help="'sample', a .jsonl/.json/.csv/.tsv/.parquet file, an mlx-lm folder, "
        "a saved datasets folder, or a hub id such as b-mc2/sql-create-context",
    )
    p.add_argument("--config", help="hub dataset config (name; needed when the dataset has several and no default)")
    p.add_argument("--hf-split", help="hub / saved-dataset split to read (default: train)")
    p.add_argument(
        "--endpoint",
        help="hub URL for a hub source, e.g. https://hf-mirror.com "
        "(default: the app setting, HF_ENDPOINT, or huggingface.co)",
    )


def run_sample(args) -> int:
    from core.data.sample_data import write_sample

    counts = write_sample(args.out_dir, seed=args.seed, overwrite=args.overwrite)
    print(f"wrote {args.out_dir}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def run_presets(args) -> int:
    from core.data.presets import PRESETS

    for p in PRESETS.values():
        cols = ", ".join(p.columns) or "messages | prompt+completion | text"
        print(f"{p.name:16} {p.description}\n{'':16} columns: {cols}")
    return 0


def _hub_options(args) -> dict:
    """How a hub source is opened from the command line (its fixes name these flags)."""
    from core.models.hub import normalize_endpoint

    return {"endpoint": normalize_endpoint(args.endpoint) if args.endpoint else None, "ui": "cli"}


def run_inspect(args) -> int:
    import json

    from core.data.presets import suggest_preset
    from tui.commands.common import engine_printing, wait

    engine = engine_printing()
    try:
        source = wait(engine.open_data_source(args.source, args.config, args.hf_split, **_hub_options(args)))
    finally:
        engine.shutdown()
    print(source.describe())
    for i, row in enumerate(source.head(args.rows)):
        print(f"{source.where(i)}: {json.dumps(row, ensure_ascii=False, default=str)[:300]}")
    print(f"suggested preset: {suggest_preset(source.columns) or 'none (map columns with --user/--assistant)'}")
    return 0


def run_build(args) -> int:
    from core.data.build import BuildSpec
    from tui.commands.common import engine_printing, wait

    spec = BuildSpec(
        source=args.source,
        out=args.out,
        preset=args.preset,
        format=args.format,
        sample=args.sample,
        split=args.split,
        seed=args.seed,
        config=args.config,
        hf_split=args.hf_split,
        system=args.system,
        user=args.user,
        assistant=args.assistant,
        stream=args.stream,
        overwrite=args.overwrite,
    )
    engine = engine_printing()
    try:
        manifest = wait(engine.build_dataset(spec, **_hub_options(args)))
    finally:
        engine.shutdown()
    counts = ", ".join(f"{k} {v}" for k, v in manifest["counts"].items())
    print(
        f"wrote {manifest['out']}: {counts} ({manifest['format']}, preset {manifest['preset']}, "
        f"seed {manifest['seed']})"
    )
    if manifest["skipped"]:
        print(f"skipped {manifest['skipped']} unusable row(s), e.g.:")
        for line in manifest["skipped_rows"][:5]:
            print(f"  {line}")
    return 0


def run_check(args) -> int:
    from core.data.check import check_folder

    report = check_folder(args.folder)
    for problem in report.problems:
        print(problem)
    hidden = report.errors + report.warnings - len(report.problems)
    if hidden > 0:
        print(f"... and {hidden} more")
    print(report.summary())
    if args.model and report.ok:
        _print_tokens(args)  # truncation is a warning: mlx-lm trains on the cut examples
    return 0 if report.ok else 1


def _print_tokens(args) -> None:
    """Token statistics, histogram per split and the masked preview."""
    from core.data.token_stats import text_histogram
    from tui.commands.common import engine_printing, wait

    engine = engine_printing()
    try:
        tokens = wait(engine.data_tokens(args.folder, args.model, args.max_seq_length, args.mask_prompt, args.limit))
    finally:
        engine.shutdown()
    print(
        f"token lengths with {args.model} ({tokens.format} format, "
        f"mask_prompt {'on' if tokens.mask_prompt else 'off'}):"
    )
    for split in tokens.splits.values():
        print(split.summary(tokens.max_seq_length))
        for line in text_histogram(split.lengths, tokens.max_seq_length):
            print("  " + line)
    masked, trained = tokens.preview_tokens
    print(f"first example ({masked} masked prompt tokens, {trained} trained tokens):")
    for seg in tokens.preview:
        label = {
            "prompt": "MASKED",
            "trained-prompt": "TRAINED (prompt, no --mask-prompt)",
            "trained": "TRAINED",
            "cut": "CUT (beyond max_seq_length)",
        }[seg.kind]
        print(f"--- {label} ---\n{seg.text}")
    if tokens.truncated:
        print(
            f"warning: {tokens.truncated} example(s) longer than max_seq_length {tokens.max_seq_length} "
            "will be truncated; raise --max-seq-length or shorten them"
        )
