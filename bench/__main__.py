"""``python -m bench [--quick] [--only NAME ...] [--json OUT] [--blas auto|off]``."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import suite
from bench.stats import machine


def _lookup(results: dict, path: str):
    node = results
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def summary_rows(results: dict, sizes) -> list[tuple]:
    rows = []
    for label, (path, op, target) in suite.TARGETS.items():
        for size in sizes if "{size}" in path else [None]:
            value = _lookup(results, path.format(size=size))
            if value is None:
                continue
            met = None if op == "report" else (value >= target if op == ">=" else value <= target)
            rows.append((label + (f" [{size}]" if size else ""), value, op, target, met))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a smoke run: tiny model, few iterations, one rep")
    p.add_argument(
        "--only",
        action="append",
        choices=sorted(suite.BENCHMARKS),
        metavar="NAME",
        help=f"run only these (repeatable): {', '.join(suite.BENCHMARKS)}",
    )
    p.add_argument("--json", metavar="OUT", help="write all figures as JSON here")
    p.add_argument(
        "--blas",
        choices=("auto", "off"),
        default="auto",
        help="auto: every run (TuneDeck and raw mlx-lm alike) uses OpenBLAS when installed",
    )
    p.add_argument("--work", metavar="DIR", help="keep models, data and adapters here (default: a temp dir)")
    args = p.parse_args(argv)

    from core.runtime.blas import find_fast_blas

    library = find_fast_blas() if args.blas == "auto" and sys.platform == "linux" else None
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env.update(
        PYTHONPATH=str(suite.ROOT), TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", TUNEDECK_NO_BLAS_PRELOAD="1"
    )  # children get exactly the BLAS chosen here
    if library:
        env["LD_PRELOAD"] = library
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="tunedeck-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env["TUNEDECK_HOME"] = str(work / "home")
    cfg = suite.Config(
        quick=args.quick,
        work=work,
        env=env,
        blas_library=library,
        sizes=("tiny",) if args.quick else ("tiny", "large"),
        log=lambda msg: print(msg, flush=True),
    )
    names = args.only or list(suite.BENCHMARKS)
    command = "python -m bench" + (" --quick" if args.quick else "") + "".join(f" --only {n}" for n in args.only or [])
    out = {
        "command": command,
        "quick": args.quick,
        "machine": machine(),
        "blas_library": library,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "results": {},
        "errors": {},
    }
    t0 = time.perf_counter()
    try:
        print(f"preparing demo models ({', '.join(cfg.sizes)}) and sample data in {work}", flush=True)
        suite.prepare(cfg)
        for name in names:
            print(f"{name}:", flush=True)
            started = time.perf_counter()
            try:
                out["results"][name] = suite.BENCHMARKS[name](cfg)
            except Exception as exc:  # report it and go on with the rest
                out["errors"][name] = f"{type(exc).__name__}: {exc}"
                print(f"  failed: {out['errors'][name]}", flush=True)
            print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    out["seconds"] = time.perf_counter() - t0
    rows = summary_rows(out["results"], cfg.sizes)
    out["summary"] = [{"what": w, "value": v, "op": op, "target": t, "met": m} for w, v, op, t, m in rows]
    print(f"\n{'what':48} {'value':>10}  target")
    for what, value, op, target, met in rows:
        mark = "" if met is None else ("  ok" if met else "  MISSED")
        tgt = "" if op == "report" else f"{op} {target}"
        print(f"{what:48} {value:>10.3f}  {tgt}{mark}")
    print(f"total {out['seconds']:.0f} s on {out['machine']['cpu']} ({out['machine']['cores']} cores)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
