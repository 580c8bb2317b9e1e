"""Measure `data check` on a large chat JSONL: lines/s and peak RSS.

    python bench/data_check_bench.py [LINES] [--bad N]

Writes a temporary folder with LINES chat examples in train.jsonl (the sample
generator's rows, repeated), plants N broken lines, checks it with
core.data.check.check_folder and prints the rate and the peak resident memory
(ru_maxrss) before and after, so the growth shows the check streams.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def make_folder(lines: int, bad: int) -> Path:
    from core.data.sample_data import generate

    rows = [json.dumps(r, ensure_ascii=False) for r in generate({"train": 1000}, seed=1)["train"]]
    folder = Path(tempfile.mkdtemp(prefix="tunedeck-bench-"))
    step = max(1, lines // (bad + 1))
    with open(folder / "train.jsonl", "w", encoding="utf-8") as fh:
        for i in range(lines):
            fh.write(("{broken" if bad and i % step == step - 1 else rows[i % len(rows)]) + "\n")
    (folder / "valid.jsonl").write_text(rows[0] + "\n", encoding="utf-8")
    return folder


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 200_000
    bad = int(sys.argv[sys.argv.index("--bad") + 1]) if "--bad" in sys.argv else 0
    from core.data.check import check_folder

    folder = make_folder(lines, bad)
    size_mb = (folder / "train.jsonl").stat().st_size / 1e6
    before = peak_rss_mb()
    t0 = time.perf_counter()
    report = check_folder(folder)
    dt = time.perf_counter() - t0
    after = peak_rss_mb()
    print(
        f"{lines:,} lines ({size_mb:.0f} MB) in {dt:.2f} s: {lines / dt:,.0f} lines/s, "
        f"{size_mb / dt:.1f} MB/s; peak RSS {before:.0f} MB before, {after:.0f} MB after; "
        f"{report.errors} error(s) found"
    )
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


if __name__ == "__main__":
    main()
