"""Download throughput through the real snapshot_download path from the
loopback stand-in hub (tests/hub_standin.py), with and without progress
events: shows what the progress reporting costs (the stand-in, a Python
http.server, is the bottleneck; real downloads are network-bound)."""

import json
import os
import shutil
import struct
import sys
import time

sys.path[:0] = [".", "tests"]  # run from the repo root: python bench/download_standin.py
os.environ.pop("HF_HUB_OFFLINE", None)
os.environ.setdefault("TUNEDECK_HOME", "/tmp/tunedeck-bench")
# After the environment above: these read TUNEDECK_HOME and HF_HUB_OFFLINE at import.
from hub_standin import StandInHub  # noqa: E402

from core.models.hub import download_model  # noqa: E402
from core.runtime import paths  # noqa: E402

if not (paths.demo_model_dir() / "config.json").is_file():
    from core.runtime.engine import Engine

    Engine().build_demo_model().result()
with StandInHub() as hub:
    repo = hub.state.add_folder("bench/big", paths.demo_model_dir(), parameters=1)
    n = 50_000_000  # 200 MB of F32
    header = json.dumps({"w": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}).encode()
    repo.files["model.safetensors"] = struct.pack("<Q", len(header)) + header + bytes(4 * n)
    for label, cb in [("no progress callback", None), ("with progress events", lambda e: None)] * 2:
        shutil.rmtree("/tmp/tunedeck-bench-cache", ignore_errors=True)
        t = time.perf_counter()
        download_model("bench/big", endpoint=hub.url, cache_dir="/tmp/tunedeck-bench-cache", on_progress=cb)
        dt = time.perf_counter() - t
        print(f"{label}: 200 MB in {dt:.2f}s = {200 / dt:.0f} MB/s")
shutil.rmtree("/tmp/tunedeck-bench-cache", ignore_errors=True)
