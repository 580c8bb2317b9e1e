"""The headless CLI's commands, messages and exit codes (run in-process by the
``cli`` fixture; tests/test_faults.py runs it as a process, for signals)."""

import json

import pytest


def test_doctor_json_schema(cli):
    proc = cli("doctor", "--json", "--offline")
    report = json.loads(proc.stdout)
    assert set(report) == {"ready", "checks"}
    assert proc.returncode == (0 if report["ready"] else 1)
    ids = {c["id"] for c in report["checks"]}
    assert {"platform", "python", "packages", "device", "memory", "disk", "token", "session"} <= ids
    for c in report["checks"]:
        assert set(c) == {"id", "name", "status", "detail", "fix"}
        assert c["status"] in ("pass", "warn", "fail")


def test_doctor_never_prints_the_token(cli, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_supersecret_value_123")
    proc = cli("doctor", "--offline")
    assert "a token is configured" in proc.stdout
    assert "supersecret" not in proc.stdout + proc.stderr


def test_demo_model_and_sample_and_check(cli, tmp_path):
    proc = cli("demo-model", str(tmp_path / "m"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "m" / "model.safetensors").is_file()
    proc = cli("data", "sample", str(tmp_path / "d"))
    assert proc.returncode == 0 and "train 1000, valid 100, test 100" in proc.stdout
    proc = cli("data", "check", str(tmp_path / "d"))
    assert proc.returncode == 0 and "ready to train" in proc.stdout


def test_data_check_reports_file_line_and_exit_code(cli, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "train.jsonl").write_text('{"text": "ok"}\n{"text": "broken\n')
    proc = cli("data", "check", str(d))
    assert proc.returncode == 1
    assert "d/train.jsonl:2: error: invalid JSON" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_train_and_chat_headless(cli, demo_model, sample_data, tmp_path):
    proc = cli(
        "train", "--model", demo_model, "--data", sample_data, "--adapter-path", str(tmp_path / "ad"), "--iters", "10"
    )
    assert proc.returncode == 0, proc.stderr
    assert "iter 10: train loss" in proc.stdout and "finished after 10 iterations" in proc.stdout
    proc = cli(
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


def test_friendly_error_for_missing_model(cli, tmp_path):
    proc = cli("chat", "--model", str(tmp_path / "nope"), "--prompt", "hi")
    assert proc.returncode == 1
    assert "model folder not found" in proc.stderr and "Traceback" not in proc.stderr


def test_unexpected_failure_is_one_line_not_a_traceback(cli, tmp_path):
    (tmp_path / "file").write_text("x")
    proc = cli("data", "sample", str(tmp_path / "file" / "out"))
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
