"""The benchmarks, each a function ``(cfg) -> dict``; run by ``bench.__main__``.

Pairs are interleaved (A B, B A, ...) in fresh processes and summarised by
their median; each result carries the ratio the target is stated in.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.stats import median, ratio, window_rate

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# mlx-lm's report line: "  iter   loss ▼   tok/s   tokens" (tokens in k)
LORA_REPORT = re.compile(r"^\s*(\d+)\s+([\d.]+)\s+[▼▲]\s+([\d,]+)\s+([\d.]+)k\s*$")
SYSTEM = (
    "You are an text to SQL query translator. Users will ask you questions in English and you will "
    "generate a SQL query based on the provided SCHEMA.\nSCHEMA:\n"
    "CREATE TABLE players (player VARCHAR, team VARCHAR, goals INTEGER)"
)
PROMPT = "Which players scored more than 10 goals"


@dataclass
class Config:
    quick: bool
    work: Path
    env: dict  # environment for every child (the BLAS choice included)
    blas_library: str | None
    sizes: tuple = ("tiny", "large")
    models: dict = field(default_factory=dict)
    data: str = ""
    log: object = print


def child_env(cfg: Config, preload: bool | None = None) -> dict:
    env = dict(cfg.env)
    if preload is False:
        env.pop("LD_PRELOAD", None)
        env["TUNEDECK_NO_BLAS_PRELOAD"] = "1"
    elif preload and cfg.blas_library:
        env["LD_PRELOAD"] = cfg.blas_library
    return env


def run_child(cfg: Config, name: str, params: dict, env: dict | None = None, timeout: float = 900) -> dict:
    cmd = [sys.executable, "-m", "bench.child", name, json.dumps(params)]
    out = subprocess.run(cmd, cwd=ROOT, env=env or cfg.env, capture_output=True, text=True, timeout=timeout)
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("BENCH_RESULT "):
            return json.loads(line[len("BENCH_RESULT ") :])
    raise RuntimeError(f"bench child {name} failed (exit {out.returncode}):\n{out.stderr[-3000:]}")


def run_raw_lora(cfg: Config, settings: dict, env: dict | None = None, timeout: float = 900) -> dict:
    """Raw ``mlx_lm.lora -c cfg.yaml``; tokens/s from its report lines, timed
    here as they arrive (the same window TuneDeck's runs are timed over)."""
    import yaml

    from core.training.settings import TrainSettings

    conf = TrainSettings.from_dict(settings).mlx_lm_config()
    conf.pop("group_by_length", None)
    path = Path(settings["adapter_path"]).with_suffix(".yaml")
    path.write_text(yaml.safe_dump(conf))
    env = {**(env or cfg.env), "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.raw_lora", "-c", str(path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    points, peak, tail = [], None, []
    try:
        for line in proc.stdout:
            now = time.perf_counter()
            line = ANSI.sub("", line)
            tail = (tail + [line])[-30:]
            m = LORA_REPORT.match(line)
            if m:
                points.append((now, float(m.group(4)) * 1000))
            elif line.startswith("BENCH_PEAK "):
                peak = int(line.split()[1])
        rc = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    if rc != 0 or not points:
        raise RuntimeError(f"mlx_lm.lora failed (exit {rc}):\n{''.join(tail)}")
    return {
        "tokens_per_second": window_rate(points),
        "peak_memory": peak,
        "trained_tokens": points[-1][1],
        "wall_s": time.perf_counter() - started,
    }


# -- set-up ---------------------------------------------------------------
def prepare(cfg: Config) -> None:
    """Demo models (tiny, large) and the sample data, built in a child so this
    process never loads mlx."""
    code = (
        "import sys; from core.models import demo_model; from core.data import sample_data; w = sys.argv[1]; "
        "[demo_model.build(f'{w}/model-{s}', s) for s in sys.argv[2:]]; "
        "sample_data.write_sample(f'{w}/sample', seed=0)"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(cfg.work), *cfg.sizes],
        cwd=ROOT,
        env=cfg.env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    cfg.models = {s: str(cfg.work / f"model-{s}") for s in cfg.sizes}
    cfg.data = str(cfg.work / "sample")


def _settings(cfg: Config, size: str, tag: str, **over) -> dict:
    from dataclasses import asdict

    from core.training.settings import demo_settings

    adapter = tempfile.mkdtemp(prefix=f"{tag}-", dir=cfg.work)
    s = demo_settings(
        cfg.models[size],
        over.pop("data", cfg.data),
        str(Path(adapter) / "adapters"),
        steps_per_eval=10**6,
        val_batches=1,
        **over,
    )
    return asdict(s)


def _train_iters(cfg: Config, size: str) -> int:
    if cfg.quick:
        return 10
    return 60 if size == "tiny" else 12


def _report_every(cfg: Config, size: str) -> int:
    # The rate is timed between the first and last reports: report often
    # enough that the window covers most steps.
    return 2 if size == "large" and not cfg.quick else 5


# -- benchmarks -----------------------------------------------------------
def bench_padding(cfg: Config) -> dict:
    """Padded share of the token slots: mlx-lm's batches vs TuneDeck's."""
    code = r"""
import json, sys, types
from pathlib import Path
import numpy as np
from mlx_lm import load
from mlx_lm.tuner.datasets import CacheDataset, load_local_dataset
from core.training.batching import PAD_TO, group_indices, mlx_lm_epoch, padding_fraction, token_lengths
_, tok = load(sys.argv[1])
out = {}
for name, folder in json.loads(sys.argv[2]).items():
    train, _, _ = load_local_dataset(Path(folder), tok, types.SimpleNamespace(mask_prompt=False))
    lengths = token_lengths(CacheDataset(train))
    row = {"examples": len(lengths), "tokens_min": min(lengths), "tokens_median": int(np.median(lengths)),
           "tokens_max": max(lengths)}
    for bs in (4, 8):
        mlx = [padding_fraction(lengths, mlx_lm_epoch(lengths, bs, np.random.default_rng(e))) for e in range(5)]
        ours = [padding_fraction(lengths, group_indices(lengths, bs, np.random.default_rng(e)), pad_to=PAD_TO)
                for e in range(5)]
        row[f"mlx_lm_padding_bs{bs}"] = float(np.mean(mlx))
        row[f"tunedeck_padding_bs{bs}"] = float(np.mean(ours))
    out[name] = row
print("BENCH_RESULT " + json.dumps(out))
"""
    sets = {"sample": cfg.data}
    wikisql = Path("/work/shared/data/wikisql")
    if (wikisql / "train.jsonl").is_file() and not cfg.quick:
        sets["wikisql"] = str(wikisql)
    out = subprocess.run(
        [sys.executable, "-c", code, cfg.models["tiny"], json.dumps(sets)],
        cwd=ROOT,
        env=cfg.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(line[len("BENCH_RESULT ") :])


def bench_train(cfg: Config) -> dict:
    """TuneDeck (Engine.train) vs raw mlx_lm.lora, same settings and seed.

    ``tunedeck`` uses mlx-lm's batching (the overhead comparison);
    ``tunedeck_grouped`` is the default length-grouped batcher (the
    effective, non-padding tokens/s comparison)."""
    reps = 1 if cfg.quick else 3
    result = {}
    for size in cfg.sizes:
        iters = _train_iters(cfg, size)
        runs = {"raw": [], "tunedeck": [], "tunedeck_grouped": []}
        kinds = list(runs)
        for rep in range(reps):
            order = kinds if rep % 2 == 0 else kinds[::-1]
            for kind in order:
                s = _settings(
                    cfg,
                    size,
                    kind,
                    iters=iters,
                    steps_per_report=_report_every(cfg, size),
                    group_by_length=kind == "tunedeck_grouped",
                )
                cfg.log(f"  train {size} {kind} (rep {rep + 1}/{reps})")
                runs[kind].append(
                    run_raw_lora(cfg, s) if kind == "raw" else run_child(cfg, "tunedeck_train", {"settings": s})
                )
        tps = {k: median([r["tokens_per_second"] for r in v]) for k, v in runs.items()}
        mem = {k: median([r["peak_memory"] for r in v]) for k, v in runs.items()}
        result[size] = {
            "iters": iters,
            "reps": reps,
            "tokens_per_second": tps,
            "peak_memory_bytes": mem,
            "throughput_ratio": ratio(tps["tunedeck"], tps["raw"]),
            "peak_memory_ratio": ratio(mem["tunedeck"], mem["raw"]),
            "grouped_effective_ratio": ratio(tps["tunedeck_grouped"], tps["raw"]),
            "grouped_peak_memory_ratio": ratio(mem["tunedeck_grouped"], mem["raw"]),
            "runs": runs,
        }
    return result


def bench_tui(cfg: Config) -> dict:
    """The same run started from the training view (headless ``run_test``; the
    run trains in its own process and the view follows its folder) vs the run
    process alone with nobody watching, on each model size; the time from a
    report being written to the screen showing it; then event-loop lag while
    training and while chatting.

    Throughput pairs run without the lag probe: a 50 Hz timer is itself
    ~2-3 % of a 2-core machine's time, which no real session pays. Lag is
    measured in separate runs of the view, probe on."""
    reps = 1 if cfg.quick else 3
    result: dict = {"reps": reps}
    for size in cfg.sizes:
        iters = _train_iters(cfg, size)
        view = {"model": cfg.models[size], "data": cfg.data, "iters": iters, "lr": "1e-3", "batch": 4}
        runs = {"tui": [], "headless": []}
        template = None
        for rep in range(reps):
            order = ("tui", "headless") if rep % 2 == 0 or template is None else ("headless", "tui")
            for kind in order:
                cfg.log(f"  tui-vs-headless {size} {kind} (rep {rep + 1}/{reps})")
                if kind == "tui":
                    runs["tui"].append(run_child(cfg, "tui_train", {**view, "probe": False}))
                    template = runs["tui"][-1]["settings"]
                else:  # exactly the settings the view used, in a fresh folder
                    s = dict(template, adapter_path="")
                    runs["headless"].append(run_child(cfg, "run_process_train", {"settings": s, "work": str(cfg.work)}))
        tps = {k: median([r["tokens_per_second"] for r in v]) for k, v in runs.items()}
        shown = [r["report_to_screen_p95_ms"] for r in runs["tui"] if r["report_to_screen_p95_ms"] is not None]
        result[size] = {
            "iters": iters,
            "tokens_per_second": tps,
            "throughput_ratio": ratio(tps["tui"], tps["headless"]),
            "report_to_screen_p95_ms": max(shown) if shown else None,
            "report_to_screen_p50_ms": median([r["report_to_screen_p50_ms"] for r in runs["tui"]]),
            "runs": runs,
        }
    size = "tiny"
    view = {"model": cfg.models[size], "data": cfg.data, "iters": _train_iters(cfg, size), "lr": "1e-3", "batch": 4}
    probed = []
    for i in range(1 if cfg.quick else 2):
        cfg.log(f"  training view lag ({i + 1})")
        probed.append(run_child(cfg, "tui_train", view))
    cfg.log("  chat view lag")
    chat = run_child(cfg, "tui_chat", {"model": cfg.models[size], "prompt": PROMPT, "reps": 1 if cfg.quick else 3})
    result.update(
        {
            "training_lag_p99_ms": max(r["lag_p99_ms"] for r in probed),
            "training_lag_p50_ms": median([r["lag_p50_ms"] for r in probed]),
            "chat_lag_p99_ms": chat["lag_p99_ms"],
            "chat_lag_p50_ms": chat["lag_p50_ms"],
            "chat_lag_max_ms": chat["lag_max_ms"],
            "chat_tokens": chat["tokens"],
            "chat_view_tokens_per_second": chat["tokens_per_second"],
            "probed_runs": probed,
        }
    )
    return result


def bench_chat(cfg: Config) -> dict:
    """Engine.generate vs mlx_lm.stream_generate: greedy, same prompt."""
    result = {}
    for size in cfg.sizes:
        cfg.log(f"  chat {size}")
        reps = 1 if cfg.quick else (9 if size == "tiny" else 5)  # tiny: 0.3 s a run, noisy
        runs = run_child(
            cfg,
            "chat",
            {
                "model": cfg.models[size],
                "system": SYSTEM,
                "prompt": PROMPT,
                "max_tokens": 32 if cfg.quick else 256,
                "reps": reps,
            },
        )
        tps = {k: median([r["tokens_per_second"] for r in v]) for k, v in runs.items()}
        ttft = {k: median([r["ttft"] for r in v]) for k, v in runs.items()}
        result[size] = {
            "tokens": runs["raw"][0]["tokens"],
            "tokens_per_second": tps,
            "ttft_s": ttft,
            "throughput_ratio": ratio(tps["tunedeck"], tps["raw"]),
            "ttft_ratio": ratio(ttft["tunedeck"], ttft["raw"]),
            "runs": runs,
        }
    return result


def bench_coldstart(cfg: Config) -> dict:
    """Process start to first screen painted; ``import tui.app`` alone."""
    reps = 1 if cfg.quick else 5
    env = {k: v for k, v in child_env(cfg).items() if k not in ("LD_PRELOAD", "TUNEDECK_NO_BLAS_PRELOAD")}
    paint, imports = [], []
    for _ in range(reps):
        started = time.time()
        r = run_child(cfg, "cold_start", {}, env=env)
        paint.append(r["painted_at"] - started)
        code = "import time; t = time.perf_counter(); import tui.app; print(time.perf_counter() - t)"
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        imports.append(float(out.stdout.strip()))
    textual = subprocess.run(
        [sys.executable, "-c", code.replace("tui.app", "textual.app")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return {
        "first_paint_s": median(paint),
        "import_tui_app_s": median(imports),
        "import_textual_app_s": float(textual.stdout.strip()),
        "reps": reps,
        "first_paint_runs": paint,
        "import_runs": imports,
    }


def _write_chat_jsonl(path: Path, lines: int) -> None:
    rng = random.Random(0)
    words = [
        "select",
        "count",
        "name",
        "team",
        "goals",
        "player",
        "year",
        "city",
        "from",
        "where",
        "order",
        "by",
        "group",
    ]
    with open(path, "w") as fh:
        for _ in range(lines):
            q = " ".join(rng.choice(words) for _ in range(rng.randint(5, 40)))
            a = "SELECT " + " ".join(rng.choice(words) for _ in range(rng.randint(3, 30)))
            fh.write(
                json.dumps(
                    {
                        "messages": [
                            {"role": "system", "content": SYSTEM},
                            {"role": "user", "content": q},
                            {"role": "assistant", "content": a},
                        ]
                    }
                )
                + "\n"
            )


def bench_datacheck(cfg: Config) -> dict:
    lines = 2_000 if cfg.quick else 100_000
    folder = cfg.work / "bigdata"
    folder.mkdir(exist_ok=True)
    _write_chat_jsonl(folder / "train.jsonl", lines)
    _write_chat_jsonl(folder / "valid.jsonl", 10)
    mb = (folder / "train.jsonl").stat().st_size / 2**20
    return run_child(cfg, "data_check", {"folder": str(folder), "file_mb": mb})


def bench_blas(cfg: Config) -> dict:
    """TuneDeck training on the large model: OpenBLAS preloaded vs the wheel's reference BLAS."""
    if not cfg.blas_library:
        return {"skipped": "no optimized BLAS installed (sudo apt-get install libopenblas0-pthread)"}
    size = "tiny" if cfg.quick else "large"
    runs = {"openblas": [], "reference": []}
    # openblas, reference, openblas: the slow side once (it runs at tens of tokens/s)
    order = ("openblas", "reference") if cfg.quick else ("openblas", "reference", "openblas")
    for i, kind in enumerate(order):
        cfg.log(f"  blas {kind} ({i + 1}/{len(order)})")
        s = _settings(cfg, size, f"blas-{kind}", iters=5, batch_size=1, steps_per_report=1, save_every=100)
        runs[kind].append(
            run_child(cfg, "tunedeck_train", {"settings": s}, env=child_env(cfg, preload=kind == "openblas"))
        )
    tps = {k: median([r["tokens_per_second"] for r in v]) for k, v in runs.items()}
    return {
        "size": size,
        "library": cfg.blas_library,
        "tokens_per_second": tps,
        "speedup": ratio(tps["openblas"], tps["reference"]),
        "runs": runs,
    }


def _run_rate(run: Path) -> dict:
    """tokens/s and seconds per step between a run's first and last train reports."""
    from core.training.run_folders import read_events

    events = read_events(run)
    reports = [e for e in events if e["type"] == "train"]
    first, last = reports[0], reports[-1]
    seconds = last["time"] - first["time"]
    start = next(e for e in events if e["type"] == "start")
    return {
        "tokens_per_second": (last["trained_tokens"] - first["trained_tokens"]) / seconds if seconds > 0 else None,
        "seconds_per_step": seconds / (last["iteration"] - first["iteration"]),
        "trainable_parameters": start["trainable_parameters"],
        "final_train_loss": last["train_loss"],
    }


def bench_group(cfg: Config) -> dict:
    """The same run (same global batch) in 1 process and in 2 through
    mlx.launch (ring, loopback), both as `tunedeck train` runs; the bytes
    all-reduced per step; a timed all-reduce of that size."""
    from core.training.group_doctor import check_all_reduce
    from core.training.group_launch import group_spec

    result = {}
    for size in cfg.sizes:
        iters = _train_iters(cfg, size)
        figures = {}
        for processes in (1, 2):
            s = _settings(cfg, size, f"group{processes}", iters=iters, steps_per_report=_report_every(cfg, size))
            run = Path(s["adapter_path"]).parent / "run"
            cmd = [sys.executable, "-m", "tui", "train", "--model", s["model"], "--data", s["data"], "--out", str(run)]
            cmd += [
                "--iters",
                str(iters),
                "--steps-per-report",
                str(s["steps_per_report"]),
                "--steps-per-eval",
                "100000",
            ]
            cmd += ["--processes", str(processes)] if processes > 1 else []
            cfg.log(f"  group {size}: {processes} process(es)")
            env = {**cfg.env, "TUNEDECK_HOME": str(cfg.work / "home")}
            subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=1800)
            figures[processes] = _run_rate(run)
        grad_bytes = figures[1]["trainable_parameters"] * 4  # LoRA weights and their gradients: float32
        probe = check_all_reduce(group_spec(processes=2), megabytes=max(grad_bytes / 1e6, 0.1))
        result[size] = {
            "iters": iters,
            "one_process": figures[1],
            "two_processes": figures[2],
            "speedup": ratio(figures[2]["tokens_per_second"], figures[1]["tokens_per_second"]),
            "gradient_bytes_per_step": grad_bytes,
            "all_reduce_check": probe.detail,
        }
    return result


BENCHMARKS = {
    "padding": bench_padding,
    "train": bench_train,
    "tui": bench_tui,
    "chat": bench_chat,
    "coldstart": bench_coldstart,
    "datacheck": bench_datacheck,
    "blas": bench_blas,
    "group": bench_group,
}
TARGETS = {  # (path in results, op, target) for the summary table
    "training throughput": ("train.{size}.throughput_ratio", ">=", 0.98),
    "training peak memory": ("train.{size}.peak_memory_ratio", "<=", 1.02),
    "effective tok/s, grouped batches": ("train.{size}.grouped_effective_ratio", ">=", 1.15),
    "training with the TUI attached": ("tui.{size}.throughput_ratio", ">=", 0.99),
    "report written to shown, p95 (ms)": ("tui.{size}.report_to_screen_p95_ms", "<=", 1000),
    "chat throughput": ("chat.{size}.throughput_ratio", ">=", 0.98),
    "chat time to first token (ratio)": ("chat.{size}.ttft_ratio", "report", None),
    "UI lag p99 while training (ms)": ("tui.training_lag_p99_ms", "<=", 50),
    "2 processes vs 1, tokens/s (ratio)": ("group.{size}.speedup", "report", None),
    "UI lag p99 while generating (ms)": ("tui.chat_lag_p99_ms", "<=", 50),
    "cold start to first paint (s)": ("coldstart.first_paint_s", "<=", 0.5),
    "import tui.app (s)": ("coldstart.import_tui_app_s", "<=", 0.15),
    "data check (lines/s)": ("datacheck.lines_per_second", "report", None),
    "data check RSS growth (MB)": ("datacheck.rss_growth_mb", "report", None),
    "OpenBLAS speedup (training)": ("blas.speedup", "report", None),
}
