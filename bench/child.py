"""Workloads that run in a fresh process each: ``python -m bench.child NAME JSON``.

Each prints one ``BENCH_RESULT {...}`` line. A fresh process per run keeps
MLX's peak-memory counter, compile caches and allocator state from leaking
between the runs being compared.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path

from bench.stats import percentile, window_rate

LAG_INTERVAL = 0.02  # the probe timer's period (s)


def _peak_memory(engine) -> int:
    def read(ctx):
        import mlx.core as mx  # on the MLX worker, like every MLX call in TuneDeck

        return int(mx.get_peak_memory())

    return engine.worker.submit("peak-memory", read).result(timeout=60)


def _train_recorder(points: list):
    from core.runtime import events as ev

    def on_event(event):  # worker thread: just record
        if isinstance(event, ev.TrainReport):
            points.append((time.perf_counter(), event.trained_tokens))

    return on_event


def tunedeck_train(p: dict) -> dict:
    """Core alone: ``Engine.train`` with the given settings."""
    from core.runtime.engine import Engine
    from core.training.settings import TrainSettings

    points: list = []
    engine = Engine(_train_recorder(points))
    try:
        started = time.perf_counter()
        engine.train(TrainSettings.from_dict(p["settings"])).result()
        wall = time.perf_counter() - started
        peak = _peak_memory(engine)
    finally:
        engine.shutdown()
    return {
        "tokens_per_second": window_rate(points),
        "peak_memory": peak,
        "trained_tokens": points[-1][1] if points else 0,
        "wall_s": wall,
    }


def _record_points(run_dir) -> tuple[list, float | None]:
    """(write time, trained tokens) of each report as the run logged it, and
    its peak memory (bytes): the same figures whoever watched the run."""
    from core.training.run_folders import read_events

    reports = [e for e in read_events(run_dir) if e["type"] == "train"]
    peak = max((e["peak_memory_gb"] for e in reports), default=None)
    return [(e["time"], e["trained_tokens"]) for e in reports], peak * 1e9 if peak is not None else None


def run_process_train(p: dict) -> dict:
    """The run process alone, as ``tunedeck train --detach`` starts it, nobody watching."""
    import tempfile

    from core.training.launcher import launch_new
    from core.training.settings import TrainSettings

    run_dir = Path(tempfile.mkdtemp(prefix="headless-", dir=p["work"])) / "run"
    started = time.perf_counter()
    launched = launch_new(TrainSettings.from_dict(p["settings"]), run_dir)
    code = launched.process.wait()
    wall = time.perf_counter() - started
    if code:
        raise RuntimeError(f"the run process exited {code}: {(run_dir / 'run.log').read_text()[-2000:]}")
    points, peak = _record_points(run_dir)
    return {"tokens_per_second": window_rate(points), "peak_memory": peak, "wall_s": wall}


class LagProbe:
    """A timer's lateness on the UI event loop: how long a keypress would wait."""

    def __init__(self, app, interval: float = LAG_INTERVAL):
        self.interval = interval
        self.samples: list[float] = []
        self.active = False
        self._last: float | None = None
        app.set_interval(interval, self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.active and self._last is not None:
            self.samples.append(max(0.0, now - self._last - self.interval))
        self._last = now

    def summary(self) -> dict:
        ms = [s * 1000 for s in self.samples]
        return {
            "lag_p50_ms": percentile(ms, 50),
            "lag_p99_ms": percentile(ms, 99),
            "lag_max_ms": max(ms) if ms else None,
            "lag_samples": len(ms),
        }


class Finish:
    """Set from the worker thread when a run ends; awaited on the UI loop
    without polling (a polling loop would itself load the UI thread)."""

    def __init__(self):
        self.events: list = []
        self._loop = None
        self._flag = None

    def arm(self) -> None:
        self._loop, self._flag = asyncio.get_running_loop(), asyncio.Event()
        self.events.clear()

    def set(self, event) -> None:  # worker thread
        self.events.append(event)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._flag.set)

    async def wait(self, timeout: float) -> None:
        await asyncio.wait_for(self._flag.wait(), timeout)


def tui_train(p: dict) -> dict:
    """The same run started from the live training view (headless run_test)."""
    from textual.widgets import Input

    from core.runtime import events as ev
    from core.runtime.engine import Engine
    from tui.app import make_app

    points: list = []
    finished = Finish()
    record = _train_recorder(points)

    def on_event(event):
        record(event)
        if isinstance(event, ev.TERMINAL) and event.name == "train":
            finished.set(event)

    async def drive() -> dict:
        engine = Engine(on_event)
        app = make_app(engine)
        async with app.run_test(size=(80, 24)) as pilot:
            probe = LagProbe(app) if p.get("probe", True) else None
            app.session.model_path, app.session.data_dir = p["model"], p["data"]
            app.go("train")
            await pilot.pause()
            screen = app.screen
            shown: list[tuple[float, int]] = []  # (wall time, iteration) of each report the screen showed
            show_report = screen.show_report

            def showing(event):
                if event is not None:
                    shown.append((time.time(), event.iteration))
                return show_report(event)

            screen.show_report = showing
            for key in ("iters", "lr", "batch"):
                screen.query_one(f"#{key}", Input).value = str(p[key])
            screen.set_focus(None)
            await pilot.pause()
            if probe:
                probe.active = True
            finished.arm()
            started = time.perf_counter()
            await pilot.press("s")
            await finished.wait(p.get("timeout", 600))
            wall = time.perf_counter() - started
            if probe:
                probe.active = False
            await pilot.pause(0.2)  # let the screen show the finished run
            from dataclasses import asdict

            settings = asdict(screen.read_form(quiet=True))  # what the run trained with
            run_dir = screen.run_dir
        if not isinstance(finished.events[0], ev.JobFinished):
            raise RuntimeError(getattr(finished.events[0], "message", "the run did not finish"))
        logged, peak = _record_points(run_dir)
        return {
            "tokens_per_second": window_rate(logged),
            "peak_memory": peak,
            "wall_s": wall,
            "settings": settings,
            **_shown_latency(run_dir, shown),
            **(probe.summary() if probe else {}),
        }

    return asyncio.run(drive())


def _shown_latency(run_dir, shown: list[tuple[float, int]]) -> dict:
    """From a report being written to the run's log to the screen showing it
    (or a later one: the plot coalesces reports that come faster than it
    repaints), per report."""
    from core.training.run_folders import read_events

    waits = []
    for e in read_events(run_dir):
        if e["type"] != "train":
            continue
        later = [t for t, it in shown if it >= e["iteration"] and t >= e["time"] - 0.001]
        if later:
            waits.append(min(later) - e["time"])
    ms = [w * 1000 for w in waits]
    return {
        "report_to_screen_p50_ms": percentile(ms, 50),
        "report_to_screen_p95_ms": percentile(ms, 95),
        "report_to_screen_max_ms": max(ms) if ms else None,
        "reports_shown": len(ms),
    }


def _messages(p: dict) -> list[dict]:
    return [{"role": "system", "content": p["system"]}, {"role": "user", "content": p["prompt"]}]


def chat(p: dict) -> dict:
    """Raw ``stream_generate`` and ``Engine.generate``, interleaved, one process."""
    from mlx_lm import load, stream_generate
    from mlx_lm.sample_utils import make_sampler

    from core.chat.generation import Sampling, prompt_tokens
    from core.runtime import events as ev
    from core.runtime.engine import Engine

    messages = _messages(p)
    max_tokens = p["max_tokens"]
    model, tokenizer = load(p["model"])  # raw side: this (main) thread

    def raw() -> dict:
        started = time.perf_counter()
        prompt = prompt_tokens(tokenizer, messages)  # as a caller must: template the messages
        first = last = None
        n = 0
        for _ in stream_generate(model, tokenizer, prompt, max_tokens=max_tokens, sampler=make_sampler(temp=0.0)):
            last = time.perf_counter()
            first = first or last
            n += 1
        return {
            "ttft": first - started,
            "tokens": n,
            "tokens_per_second": (n - 1) / (last - first) if n > 1 and last > first else None,
        }

    stamps: list = []

    def on_event(event):  # worker thread
        if isinstance(event, ev.Token):
            stamps.append(time.perf_counter())

    engine = Engine(on_event)

    def tunedeck() -> dict:
        stamps.clear()
        started = time.perf_counter()
        done = engine.generate(p["model"], None, messages, Sampling(temperature=0.0, max_tokens=max_tokens)).result()
        n = done.generation_tokens
        # Token events are coalesced (the first at once, the last at the end):
        # the first stamp is the first token, the last one the end of the answer.
        first, last = (stamps[0], stamps[-1]) if stamps else (None, None)
        return {
            "ttft": first - started if first else None,
            "tokens": n,
            "token_events": len(stamps),
            "tokens_per_second": (n - 1) / (last - first) if n > 1 and last > first else None,
        }

    try:
        raw(), tunedeck()  # warm-up: load into the engine, first compile
        runs = {"raw": [], "tunedeck": []}
        for rep in range(p["reps"]):
            order = (("raw", raw), ("tunedeck", tunedeck)) if rep % 2 == 0 else (("tunedeck", tunedeck), ("raw", raw))
            for name, fn in order:
                runs[name].append(fn())
    finally:
        engine.shutdown()
    return runs


def tui_chat(p: dict) -> dict:
    """Event-loop lag while the chat view streams an answer."""
    from core.runtime import events as ev
    from core.runtime.engine import Engine
    from tui.app import make_app

    finished = Finish()
    stamps: list = []

    def on_event(event):
        if isinstance(event, ev.Token):
            stamps.append(time.perf_counter())
        if isinstance(event, (ev.GenerationFinished, ev.JobFailed)):
            finished.set(event)

    async def drive() -> dict:
        engine = Engine(on_event)
        app = make_app(engine)
        async with app.run_test(size=(80, 24)) as pilot:
            probe = LagProbe(app)
            app.session.model_path = p["model"]
            app.go("chat")
            await pilot.pause()
            for rep in range(p["reps"] + 1):  # the first loads the model: not measured
                finished.arm()
                stamps.clear()
                await pilot.press(*p["prompt"])
                probe.active = rep > 0
                await pilot.press("enter")
                await finished.wait(p.get("timeout", 300))
                probe.active = False
                await pilot.pause(0.1)
            done = finished.events[0]
        if isinstance(done, ev.JobFailed):
            raise RuntimeError(done.message)
        n = done.generation_tokens  # Token events are coalesced: count tokens, not events
        tps = (n - 1) / (stamps[-1] - stamps[0]) if n > 1 and len(stamps) > 1 else None
        return {"tokens": n, "token_events": len(stamps), "tokens_per_second": tps, **probe.summary()}

    return asyncio.run(drive())


def cold_start(p: dict) -> dict:
    """From process start (the parent's clock) to the first screen painted.

    Goes the way ``tunedeck`` does: the BLAS preload first (when it applies),
    then the app, headless."""
    from core.runtime.blas import maybe_preload

    maybe_preload()
    imported = time.perf_counter()
    from tui.app import make_app

    import_s = time.perf_counter() - imported

    async def drive() -> float:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            painted = time.time()
            app.exit()
        return painted

    painted = asyncio.run(drive())
    return {"painted_at": painted, "import_tui_app_s": import_s}


def data_check(p: dict) -> dict:
    from core.data.check import check_folder

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    report = check_folder(p["folder"])
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    lines = sum(s.rows for s in report.splits.values()) + report.errors
    return {
        "lines": lines,
        "seconds": seconds,
        "lines_per_second": lines / seconds,
        "rss_before_mb": before / 1024,
        "rss_peak_mb": after / 1024,
        "rss_growth_mb": (after - before) / 1024,
        "file_mb": p["file_mb"],
        "ok": report.ok,
    }


WORKLOADS = {
    f.__name__: f for f in (tunedeck_train, run_process_train, tui_train, chat, tui_chat, cold_start, data_check)
}


def main() -> None:
    name, params = sys.argv[1], json.loads(sys.argv[2])
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    result = WORKLOADS[name](params)
    print("BENCH_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
