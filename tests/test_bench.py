"""CI smoke run of the benchmark suite: it completes and writes its JSON.

No timing is asserted (figures live in docs/benchmarks.md)."""

import json
import subprocess
import sys

import pytest

EXPECTED = {"padding", "train", "tui", "chat", "coldstart", "datacheck", "blas", "group"}


@pytest.mark.slow
def test_bench_quick_completes_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    data = json.loads(out.read_text())
    assert {"command", "machine", "results", "summary", "errors"} <= set(data)
    assert data["errors"] == {} and data["quick"] is True
    results = data["results"]
    assert set(results) == EXPECTED
    tiny = results["train"]["tiny"]
    for key in ("throughput_ratio", "peak_memory_ratio", "grouped_effective_ratio"):
        assert tiny[key] > 0
    assert results["chat"]["tiny"]["tokens"] > 0
    assert {"training_lag_p99_ms", "chat_lag_p99_ms"} <= set(results["tui"])
    assert results["tui"]["tiny"]["throughput_ratio"] > 0
    assert results["tui"]["tiny"]["report_to_screen_p95_ms"] >= 0
    assert {"first_paint_s", "import_tui_app_s"} <= set(results["coldstart"])
    assert results["datacheck"]["lines"] == 2010 and results["datacheck"]["ok"]
    sample = results["padding"]["sample"]
    assert sample["tunedeck_padding_bs4"] < sample["mlx_lm_padding_bs4"]
    assert "speedup" in results["blas"] or "skipped" in results["blas"]
    group = results["group"]["tiny"]
    assert group["speedup"] > 0 and group["gradient_bytes_per_step"] == group["one_process"]["trainable_parameters"] * 4
