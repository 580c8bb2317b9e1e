"""A recipe-sized hub dataset through core.data.hub_datasets, from the loopback
stand-in hub (tests/hub_standin.py): time to download, to prepare (datasets'
Arrow conversion), to load again from the cache, and how fast a cancel
returns while the download is stalled mid-file.

    python bench/hub_dataset_bench.py [ROWS]    # run from the repo root; default 78,577 rows (~22 MB)

The stand-in, a Python http.server on 127.0.0.1, is the download bottleneck;
real downloads are network-bound. Caches go to a temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path[:0] = [".", "tests"]
home = tempfile.mkdtemp(prefix="tunedeck-hub-bench-")
os.environ.pop("HF_HUB_OFFLINE", None)
os.environ.update(
    HF_HOME=home, HF_HUB_CACHE=f"{home}/hub", HF_DATASETS_CACHE=f"{home}/datasets", TUNEDECK_HOME=f"{home}/tunedeck"
)

from hub_standin import SQL_CARD, SQL_DATASET, SQL_FILE, StandInHub  # noqa: E402

from core.runtime.errors import Cancelled  # noqa: E402


def rows(n: int) -> list[dict]:
    # ~280 bytes a row, like sql_create_context_v4.json (21.8 MB for 78,577 rows)
    return [
        {
            "question": f"What is the total number of heads of departments born in state {i} and older than 56?",
            "context": f"CREATE TABLE head (age INTEGER, born_state VARCHAR, name VARCHAR, dept_{i} VARCHAR)",
            "answer": f"SELECT COUNT(*) FROM head WHERE born_state = '{i}' AND age > 56",
        }
        for i in range(n)
    ]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 78_577
    t0 = time.perf_counter()
    import datasets  # noqa: F401  (timed apart: every first hub load in a process pays it)

    from core.data import hub_datasets

    print(f"importing datasets: {time.perf_counter() - t0:.2f} s")

    data = json.dumps(rows(n)).encode()
    with StandInHub() as hub:
        hub.state.add_dataset(SQL_DATASET, {"README.md": SQL_CARD, SQL_FILE: data})
        hub.state.slow_files = (SQL_FILE,)
        marks: dict[str, float] = {}
        t0 = time.perf_counter()

        def step(message, *a):
            marks.setdefault(message.split()[0], time.perf_counter() - t0)

        source = hub_datasets.load(SQL_DATASET, endpoint=hub.url, progress=step)
        total = time.perf_counter() - t0
        print(
            f"{n:,} rows, {len(data) / 1e6:.1f} MB: loaded in {total:.2f} s "
            f"(metadata {marks['downloading']:.2f} s, download {marks['preparing'] - marks['downloading']:.2f} s, "
            f"prepare {total - marks['preparing']:.2f} s); {len(source):,} rows"
        )
        t0 = time.perf_counter()
        hub_datasets.load(SQL_DATASET, endpoint=hub.url)
        print(f"again, from the caches: {time.perf_counter() - t0:.2f} s")

        shutil.rmtree(f"{home}/hub")
        shutil.rmtree(f"{home}/datasets")
        release = hub.state.hold[SQL_FILE] = threading.Event()
        cancel, outcome = threading.Event(), {}

        def run():
            try:
                hub_datasets.load(SQL_DATASET, endpoint=hub.url, cancel=cancel, emit=lambda e: None)
            except Cancelled:
                outcome["returned"] = time.perf_counter()

        worker = threading.Thread(target=run)
        worker.start()
        hub.state.holding.wait(60)
        time.sleep(0.5)  # the client is now waiting on a stalled connection
        t0 = time.perf_counter()
        cancel.set()
        worker.join(10)
        print(f"cancel on a stalled download returned in {outcome['returned'] - t0:.3f} s")
        release.set()
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
