"""The run lifecycle on the demo model: run folders, stop/resume, a SIGKILL
mid-run, YAML configs under the real mlx_lm.lora, the memory check."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from core.runtime import events as ev
from core.runtime.errors import Cancelled, TuneDeckError
from core.training.run_folders import curve, list_runs, read_events, run_info
from core.training.settings import TrainSettings, demo_settings, load_yaml, save_yaml
from core.training.trainer import portable


def test_run_folder_files_and_events(engine, demo_model, sample_data, recorder, tmp_path):
    run = tmp_path / "runs" / "r1"
    s = demo_settings(demo_model, sample_data, "", iters=12, steps_per_report=3, steps_per_eval=4, save_every=4)
    job = engine.train(s, run)
    result = job.result(timeout=300)
    assert result.run_dir == str(run) and result.iterations == 12

    for folder in ("adapters", "best", "checkpoints/0000012"):
        assert (run / folder / "adapters.safetensors").is_file(), folder
        cfg = json.loads((run / folder / "adapter_config.json").read_text())
        assert cfg["fine_tune_type"] == "lora" and cfg["num_layers"] == -1
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert ckpts == ["0000008", "0000012"]  # the newest two are kept
    state = json.loads((run / "checkpoints/0000012/state.json").read_text())
    assert state["iteration"] == 12 and state["trained_tokens"] > 0
    assert (run / "checkpoints/0000012/optimizer.safetensors").is_file()
    assert json.loads((run / "data_manifest.json").read_text())["counts"]["train"] == 1000
    assert not (run / "run.json").exists()  # the lock is gone after the run
    assert not [p for p in run.rglob(".*")]  # no temp files left

    events = read_events(run)
    kinds = [e["type"] for e in events]
    # what a viewer in another process shows while the run loads, then the run itself
    assert kinds[: kinds.index("start")] == ["progress", "progress"] and kinds[-1] == "finished"
    assert [e["message"] for e in events if e["type"] == "progress"] == ["loading model", "loading data", "training"]
    assert [e["iteration"] for e in events if e["type"] == "train"] == [3, 6, 9, 12]
    vals = {e["iteration"]: e["val_loss"] for e in events if e["type"] == "val"}
    best = [e for e in events if e["type"] == "best"][-1]
    assert best["val_loss"] == min(v for i, v in vals.items() if i > 0)
    assert len(recorder.of(ev.TrainReport, job)) == 4  # the log holds every reported metric

    loaded = load_yaml(run / "config.yaml")  # the run's config reads back as the settings,
    assert loaded["adapter_path"] == "adapters"  # with the adapter path relative to the run
    assert TrainSettings.from_dict(loaded).mlx_lm_config() == portable(s, run).mlx_lm_config()
    info = list_runs(tmp_path / "runs")[0]
    assert (info.status, info.iteration, info.iters) == ("finished", 12, 12)
    assert info.last_val_loss == pytest.approx(list(vals.values())[-1])
    assert info.best_val_loss == best["val_loss"]  # the one best/ holds, never the untouched base's


@pytest.mark.slow
def test_stop_then_resume_continues_exactly(engine, demo_model, sample_data, tmp_path):
    # Every step reported: the resumed run's losses must equal an unbroken run's
    # (same weights, optimizer moments, data order and dropout noise).
    kw = dict(
        iters=14,
        steps_per_report=1,
        steps_per_eval=100,
        save_every=100,
        lora_parameters={"rank": 8, "scale": 20.0, "dropout": 0.1},
    )
    engine.train(demo_settings(demo_model, sample_data, "", **kw), tmp_path / "whole").result(timeout=300)

    def stopper(event):
        if isinstance(event, ev.TrainReport) and event.iteration == 5:
            job.cancel()

    engine.add_listener(stopper)
    try:
        job = engine.train(demo_settings(demo_model, sample_data, "", **kw), tmp_path / "split")
        first = job.result(timeout=300)
    finally:
        engine.remove_listener(stopper)
    assert first.stopped_early and first.iterations == 5
    assert run_info(tmp_path / "split").status == "stopped"
    assert (tmp_path / "split/checkpoints/0000005/optimizer.safetensors").is_file()

    second = engine.resume(tmp_path / "split").result(timeout=300)
    assert second.start_iteration == 5 and second.iterations == 14
    whole = dict(curve(read_events(tmp_path / "whole")).train)
    split = dict(curve(read_events(tmp_path / "split")).train)
    assert sorted(split) == list(range(1, 15))
    for it in range(6, 15):
        assert split[it] == pytest.approx(whole[it], rel=1e-4), it
    assert run_info(tmp_path / "split").status == "finished"

    with pytest.raises(TuneDeckError, match="already completed 14 of 14"):
        engine.resume(tmp_path / "split").result(timeout=60)


def test_sigkill_mid_run_resumes_from_last_checkpoint(demo_model, sample_data, tmp_path):
    run = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "tui",
        "train",
        "--model",
        demo_model,
        "--data",
        sample_data,
        "--out",
        str(run),
        "--iters",
        "100000",
        "--save-every",
        "4",
        "--steps-per-report",
        "2",
        "--steps-per-eval",
        "1000",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        for line in proc.stdout:
            if "saved" in line and "checkpoints" in line and int(line.split()[1].rstrip(":")) >= 8:
                break
            assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.3)  # let it get somewhere past the checkpoint
        os.kill(json.loads((run / "run.json").read_text())["pid"], signal.SIGKILL)  # the run process itself
        out = proc.communicate(timeout=30)[0]  # the command that showed it says so, and fails
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1 and "error: the run process ended without finishing at iteration" in out, out[-2000:]
    assert "resume it: it continues from its checkpoint at iteration" in out
    with open(run / "events.jsonl", "a") as fh:
        fh.write('{"type": "train", "iterat')  # a torn last line, as a kill can leave

    info = run_info(run)
    assert info.status == "crashed"
    done = max(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit())
    assert done >= 8

    listed = subprocess.run(
        [sys.executable, "-m", "tui", "runs", "--json", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(listed.stdout)[0]["status"] == "crashed"

    proc = subprocess.run(
        [sys.executable, "-m", "tui", "train", "--resume", str(run), "--iters", str(done + 4)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"resuming at iteration {done} of {done + 4}" in proc.stdout
    assert f"finished after {done + 4} iterations" in proc.stdout
    c = curve(read_events(run))
    assert c.train[-1][0] == done + 4 and all(a[0] < b[0] for a, b in zip(c.train, c.train[1:]))
    assert run_info(run).status == "finished"


def test_yaml_config_runs_under_real_mlx_lm(demo_model, sample_data, tmp_path):
    s = demo_settings(
        demo_model, sample_data, "", iters=3, steps_per_report=1, val_batches=1, batch_size=2, mask_prompt=True
    )
    s.lr_schedule = {"name": "cosine_decay", "arguments": [1e-3, 3, 1e-4], "warmup": 1, "warmup_init": 1e-4}
    cfg = save_yaml(s, tmp_path / "cfg.yaml")
    proc = subprocess.run(
        [sys.executable, "-m", "mlx_lm", "lora", "-c", str(cfg), "--adapter-path", str(tmp_path / "ml")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (tmp_path / "ml" / "adapters.safetensors").is_file()
    back = TrainSettings.from_dict(load_yaml(cfg))
    assert back.lr_schedule == s.lr_schedule and back.mask_prompt and back.learning_rate == 1e-3

    proc = subprocess.run(
        [sys.executable, "-m", "tui", "train", "-c", str(cfg), "--out", str(tmp_path / "td"), "--iters", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "finished after 2 iterations" in proc.stdout


def test_bad_yaml_keys_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: m\ndata: d\nlearning_rat: 1e-5\n")
    with pytest.raises(TuneDeckError, match="unknown key 'learning_rat'") as err:
        load_yaml(bad)
    assert err.value.where == f"{bad}:3" and "learning_rate" in err.value.hint
    bad.write_text("iters: 10\nbatch_size: four\n")
    with pytest.raises(TuneDeckError, match="batch_size should be int") as err:
        load_yaml(bad)
    assert err.value.where == f"{bad}:2"
    bad.write_text("lora_parameters:\n  rank: 8\n  alpha: 16\n")
    with pytest.raises(TuneDeckError, match="alpha"):
        load_yaml(bad)
    proc = subprocess.run(
        [sys.executable, "-m", "tui", "train", "-c", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1 and f"{bad}:1" in proc.stderr and "Traceback" not in proc.stderr


def test_memory_check_measures_and_judges(engine, demo_model, sample_data):
    from core.training.memory_probe import suggestions

    s = demo_settings(demo_model, sample_data, "", batch_size=8)
    report = engine.memory_check(s).result(timeout=300)
    assert report.peak_bytes > 0 and report.limit_bytes > report.peak_bytes
    assert report.verdict == "fits" and report.longest_tokens > 20
    assert "peak" in report.summary() and "fits" in report.summary()
    # What it would suggest for a run that does not fit.
    tips = suggestions(s, peak=10, limit=5, longest=4000)
    assert tips[0].startswith("gradient checkpointing") and any("batch size 4" in t for t in tips)
    assert any("max_seq_length" in t for t in tips)


def test_config_values_are_checked_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    for text, match, line in (
        ("model: m\niter: 10\n", "unknown key 'iter'", 2),
        ("model: m\n\nbatch_size: 0\n", "batch_size must be at least 1", 3),
        ("learning_rate: -1\n", "learning rate must be a positive number", 1),
        ("lora_parameters:\n  dropout: abc\n", "lora_parameters dropout should be float", 1),
        ("lora_parameters: {rank: 8.5}\n", "rank should be int", 1),
    ):
        bad.write_text(text)
        with pytest.raises(TuneDeckError, match=match) as err:
            load_yaml(bad)
        assert err.value.where == f"{bad}:{line}", text
    bad.write_text("model: m\niter: 10\n")
    with pytest.raises(TuneDeckError) as err:
        load_yaml(bad)
    assert err.value.hint == "did you mean iters?"


def test_sweep_puts_back_what_a_kill_left_mid_rename_and_touches_nothing_else(tmp_path):
    from core.training.run_folders import sweep_leftovers

    run = tmp_path / "run"
    for folder in (
        ".best.old-123",
        "checkpoints/0000010",
        "checkpoints/.0000020.ab12cd34.tmp",
        "adapters",
        ".session.tmp",
        "adapters/.cache.tmp",
    ):
        (run / folder).mkdir(parents=True)
    (run / ".best.old-123" / "adapters.safetensors").write_text("w")
    (run / "checkpoints/0000010/state.json").write_text("{}")
    (run / "adapters" / ".final.tmp.safetensors").write_text("half")
    (run / "adapters" / ".adapters.safetensors.x1y2z3w4.tmp.safetensors").write_text("half")
    (run / ".config.yaml.q9r8s7t6.tmp").write_text("half")
    # The user's own hidden files, whatever they look like, stay as they are.
    mine = {
        ".notes.tmp.txt": "n",
        ".bashrc.old-2023": "b",
        ".session.tmp/x": "s",
        "adapters/.cache.tmp/y": "c",
        ".config.yaml.bak.tmp": "k",
        "checkpoints/.0000030.old.tmp": "o",
    }
    for name, text in mine.items():
        (run / name).write_text(text)
    removed = sweep_leftovers(run, run / "adapters")
    assert len(removed) == 4
    assert (run / "best" / "adapters.safetensors").read_text() == "w"  # restored, not lost
    assert not (run / "bashrc").exists()
    for name, text in mine.items():
        assert (run / name).read_text() == text, name


def test_out_folder_and_resume_without_a_checkpoint(engine, demo_model, sample_data, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.yaml").write_text("# the user's own file\n")
    with pytest.raises(TuneDeckError, match="not a run folder"):
        engine.train(demo_settings(demo_model, sample_data, "", iters=2), mine).result(timeout=60)
    assert (mine / "config.yaml").read_text() == "# the user's own file\n"  # untouched

    # Killed before its first save: resume starts it over instead of refusing.
    run = tmp_path / "early"

    def stop_at_start(event):
        if isinstance(event, ev.TrainStarted):
            job.cancel()

    engine.add_listener(stop_at_start)
    try:
        job = engine.train(demo_settings(demo_model, sample_data, "", iters=3, save_every=100), run)
        with pytest.raises(Cancelled):
            job.result(timeout=120)
    finally:
        engine.remove_listener(stop_at_start)
    assert not (run / "checkpoints").is_dir()
    result = engine.resume(run).result(timeout=300)
    assert result.start_iteration == 0 and result.iterations == 3 and not result.stopped_early
    assert run_info(run).status == "finished"


@pytest.mark.slow
def test_ctrl_c_stops_headless_then_resume_continues(demo_model, sample_data, tmp_path):
    run = tmp_path / "interrupted"
    cmd = [
        sys.executable,
        "-m",
        "tui",
        "train",
        "--model",
        demo_model,
        "--data",
        sample_data,
        "--out",
        str(run),
        "--iters",
        "100000",
        "--save-every",
        "1000",
        "--steps-per-report",
        "1",
        "--steps-per-eval",
        "1000",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("iter 3:"):
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    # 130 like any interrupted command (so `train && fuse` does not go on), no traceback.
    assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
    stopped = int(out.split("stopped after ")[1].split()[0])
    assert (run / "checkpoints" / f"{stopped:07d}" / "optimizer.safetensors").is_file()
    proc = subprocess.run(
        [sys.executable, "-m", "tui", "train", "--resume", str(run), "--iters", str(stopped + 2)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"resuming at iteration {stopped} of {stopped + 2}" in proc.stdout
    assert f"iter {stopped + 1}: train loss" in proc.stdout
