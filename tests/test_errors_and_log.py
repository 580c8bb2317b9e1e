"""Failures in people's words: a full disk is named with the file, missing
paths get a fix, and the log (rotated, quiet when it cannot be written,
never holding a token) never prints a traceback of its own."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest

from core.runtime import events as ev
from core.runtime.errors import TuneDeckError, explain, writing
from core.runtime.log import BACKUPS, MAX_BYTES, log, log_exception

FULL = Path("/dev/full")  # every write to it fails with ENOSPC
needs_dev_full = pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full (Linux)")


@pytest.fixture
def own_log(tmp_path, monkeypatch):
    """A TuneDeck home (and so a log file) of this test's own."""
    monkeypatch.setenv("TUNEDECK_HOME", str(tmp_path / "home"))
    before = list(log.handlers)
    yield tmp_path / "home" / "logs"
    for handler in log.handlers[:]:
        if handler not in before:
            log.removeHandler(handler)
            handler.close()


@needs_dev_full
def test_mlx_and_python_write_failures_on_a_full_disk_name_the_file(engine, tmp_path):
    target = tmp_path / "adapters.safetensors"
    target.symlink_to(FULL)

    def save():
        import mlx.core as mx

        with writing(target):
            mx.save_safetensors(str(target), {"w": mx.zeros((256, 256))})

    with pytest.raises(TuneDeckError) as err:
        engine.worker.call(save)
    assert err.value.message == f"disk full while writing {target}"
    assert err.value.hint.startswith("free space and resume")
    assert "Unable to write" in str(err.value.__cause__)  # what mlx itself said

    full = pytest.raises(TuneDeckError, match=f"disk full while writing {tmp_path / 'notes.txt'}")
    with full, writing(tmp_path / "notes.txt"), open(FULL, "w") as fh:
        fh.write("x" * 10_000)
        fh.flush()


def test_a_job_that_hits_a_full_disk_says_so_without_calling_it_a_bug(engine, recorder):
    def job(ctx):
        raise OSError(errno.ENOSPC, "No space left on device", "/runs/r1/checkpoints/0000100")

    with pytest.raises(OSError):
        engine.worker.submit("train", job).result(timeout=30)
    failed = recorder.of(ev.JobFailed)[-1]
    assert failed.message == "disk full while writing /runs/r1/checkpoints/0000100"
    assert "bug" not in failed.hint and not failed.log_path


def test_explain_knows_causes_and_leaves_bugs_alone():
    assert "permission denied" in explain(PermissionError(13, "Permission denied", "/x")).message
    assert "no such file or folder" in explain(FileNotFoundError(2, "No such file", "/x")).message
    assert "read-only" in explain(OSError(errno.EROFS, "Read-only file system", "/x")).message
    assert (
        explain(RuntimeError("[write] Unable to write 1927 bytes to file."), "/a/b").message
        == "disk full while writing /a/b"
    )
    assert explain(KeyError("x")) is None and explain(ValueError("bad")) is None


def test_data_sample_into_an_impossible_folder_gives_a_fix(capsys, tmp_path):
    from tui.cli import main

    out = "/proc/nope/x" if Path("/proc").is_dir() else str(tmp_path / "file" / "x")
    if not Path("/proc").is_dir():
        (tmp_path / "file").write_text("a file, not a folder")
    assert main(["data", "sample", out]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "fix: " in err and "Traceback" not in err
    assert "FileNotFoundError" not in err and "Errno" not in err


def test_the_log_is_rotated(own_log):
    big = "x" * (MAX_BYTES // 3)
    for i in range(20):
        try:
            raise RuntimeError(f"failure {i}: {big}")
        except RuntimeError:
            assert log_exception("a job failed") == str(own_log / "tunedeck.log")
    files = sorted(own_log.iterdir())
    assert [f.name for f in files] == ["tunedeck.log"] + [f"tunedeck.log.{i}" for i in range(1, BACKUPS + 1)]
    assert sum(f.stat().st_size for f in files) <= (BACKUPS + 1) * (MAX_BYTES + len(big) + 4096)


@needs_dev_full
def test_a_log_on_a_full_disk_stays_quiet(own_log, capsys):
    own_log.mkdir(parents=True)
    (own_log / "tunedeck.log").symlink_to(FULL)
    try:
        raise ValueError("the real failure")
    except ValueError:
        path = log_exception("a job failed")
    assert path == ""  # the message then says "no log" instead of pointing at a log without it
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    logging.getLogger("tunedeck").error("and a plain log call")
    assert capsys.readouterr().err == ""


def test_the_log_never_holds_a_token(own_log, monkeypatch):
    canary = "hf_canaryLOGtoken0123456789abcdef"
    monkeypatch.setenv("HF_TOKEN", canary)
    try:
        raise RuntimeError(f"401 for https://huggingface.co with token {canary} and hf_otherTokenABCDEFGHIJ")
    except RuntimeError:
        log_exception("download failed")
    text = (own_log / "tunedeck.log").read_text()
    assert "401 for" in text and canary not in text and "hf_otherTokenABCDEFGHIJ" not in text
    assert os.environ["HF_TOKEN"] == canary
