"""The headless CLI, run as a user would (a subprocess of the console entry)."""

import json
import subprocess
import sys


def tunedeck(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "tui", *args], capture_output=True, text=True, timeout=timeout)


def test_doctor_json_schema():
    proc = tunedeck("doctor", "--json", "--offline")
    report = json.loads(proc.stdout)
    assert set(report) == {"ready", "checks"}
    assert proc.returncode == (0 if report["ready"] else 1)
    ids = {c["id"] for c in report["checks"]}
    assert {"platform", "python", "packages", "device", "memory", "disk", "token", "session"} <= ids
    for c in report["checks"]:
        assert set(c) == {"id", "name", "status", "detail", "fix"}
        assert c["status"] in ("pass", "warn", "fail")


def test_doctor_never_prints_the_token(tmp_path):
    import os

    env = dict(os.environ, HF_TOKEN="hf_supersecret_value_123")
    proc = subprocess.run(
        [sys.executable, "-m", "tui", "doctor", "--offline"], capture_output=True, text=True, env=env, timeout=120
    )
    assert "a token is configured" in proc.stdout
    assert "supersecret" not in proc.stdout + proc.stderr


def test_demo_model_and_sample_and_check(tmp_path):
    proc = tunedeck("demo-model", str(tmp_path / "m"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "m" / "model.safetensors").is_file()
    proc = tunedeck("data", "sample", str(tmp_path / "d"))
    assert proc.returncode == 0 and "train 1000, valid 100, test 100" in proc.stdout
    proc = tunedeck("data", "check", str(tmp_path / "d"))
    assert proc.returncode == 0 and "ready to train" in proc.stdout


def test_data_check_reports_file_line_and_exit_code(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "train.jsonl").write_text('{"text": "ok"}\n{"text": "broken\n')
    proc = tunedeck("data", "check", str(d))
    assert proc.returncode == 1
    assert "d/train.jsonl:2: error: invalid JSON" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_train_and_chat_headless(demo_model, sample_data, tmp_path):
    proc = tunedeck(
        "train", "--model", demo_model, "--data", sample_data, "--adapter-path", str(tmp_path / "ad"), "--iters", "10"
    )
    assert proc.returncode == 0, proc.stderr
    assert "iter 10: train loss" in proc.stdout and "finished after 10 iterations" in proc.stdout
    proc = tunedeck(
        "chat",
        "--model",
        demo_model,
        "--adapter",
        str(tmp_path / "ad"),
        "--prompt",
        "Which team has the most goals?",
        "--max-tokens",
        "8",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


def test_friendly_error_for_missing_model(tmp_path):
    proc = tunedeck("chat", "--model", str(tmp_path / "nope"), "--prompt", "hi")
    assert proc.returncode == 1
    assert "model folder not found" in proc.stderr and "Traceback" not in proc.stderr


def test_unexpected_failure_is_one_line_not_a_traceback(tmp_path):
    (tmp_path / "file").write_text("x")
    proc = tunedeck("data", "sample", str(tmp_path / "file" / "out"))
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
