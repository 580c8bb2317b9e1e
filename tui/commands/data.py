"""``tunedeck data``: sample and check datasets."""

from __future__ import annotations


def register(sub) -> None:
    data = sub.add_parser("data", help="datasets: sample, check")
    data.set_defaults(func=lambda args: (data.print_help(), 2)[1])
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION")
    sample = data_sub.add_parser("sample", help="write the sample text-to-SQL dataset into OUT_DIR")
    sample.add_argument("out_dir")
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(func=run_sample)
    check = data_sub.add_parser("check", help="check every line of a data folder")
    check.add_argument("folder")
    check.set_defaults(func=run_check)


def run_sample(args) -> int:
    from core.sample_data import write_sample

    counts = write_sample(args.out_dir, seed=args.seed)
    print(f"wrote {args.out_dir}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def run_check(args) -> int:
    from core.data_check import check_folder

    report = check_folder(args.folder)
    for problem in report.problems:
        print(problem)
    hidden = report.errors + report.warnings - len(report.problems)
    if hidden > 0:
        print(f"... and {hidden} more")
    print(report.summary())
    return 0 if report.ok else 1
