"""``tunedeck demo-model`` (and, later, ``tunedeck models``): model set-up."""

from __future__ import annotations

from pathlib import Path

from tui.commands.common import engine_printing, wait


def register(sub) -> None:
    demo = sub.add_parser("demo-model", help="build the tiny offline demo model into OUT_DIR")
    demo.add_argument("out_dir")
    demo.add_argument("--size", choices=["tiny", "large"], default="tiny",
                      help="tiny (~0.2M params, default) or large (~30M, for benchmarks)")
    demo.set_defaults(func=run_demo_model)


def run_demo_model(args) -> int:
    out = wait(engine_printing().build_demo_model(Path(args.out_dir), args.size))
    print(out)
    return 0
