"""Derived artefacts know where they came from: a fused folder records its
adapter and base, a resumed run makes it stale, and neither the CLI nor the
Judge screen ships a stale one; evaluations say which adapter they judged."""

import asyncio
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from ui_helpers import screen_text

from core.runtime.errors import TuneDeckError
from core.shipping import provenance
from tui.cli import main


@pytest.fixture(scope="module")
def stale_run(engine, demo_model, sample_data, tmp_path_factory):
    """A run trained 4 iterations, fused by `tunedeck fuse RUN`, then resumed
    to 6: its fused model is stale. Returns (run, the record at fuse time)."""
    from core.training.settings import demo_settings

    run = tmp_path_factory.mktemp("runs") / "sql-run"
    engine.train(
        demo_settings(
            demo_model, sample_data, "", iters=4, save_every=2, steps_per_eval=2, steps_per_report=2, val_batches=1
        ),
        run,
    ).result(timeout=300)
    assert main(["fuse", str(run), "--no-verify"]) == 0
    record = provenance.read_record(run / "fused")
    assert provenance.check_fused(run / "fused").state == "fresh"
    engine.resume(run, iters=6).result(timeout=300)
    return run, record


def test_the_record_names_adapter_and_base(stale_run, demo_model):
    run, record = stale_run
    adapter = record["adapter"]
    assert adapter["relative"] == "../adapters" and adapter["choice"] == "last" and adapter["iteration"] == 4
    assert adapter["run"] == str(run) and len(adapter["sha256"]) == 64
    assert record["base"]["path"] == str(Path(demo_model).absolute())
    assert record["base"]["weights"] == {"model.safetensors": (Path(demo_model) / "model.safetensors").stat().st_size}
    assert record["dequantized"] is False and record["kind"] == "fused-model"


def test_stale_after_resume_cli_refuses_and_refuses_to_clobber(stale_run, tmp_path, capsys):
    run, _ = stale_run
    fresh = provenance.check_fused(run / "fused")
    assert fresh.stale and (fresh.fused_iteration, fresh.now_iteration) == (4, 6)
    assert fresh.reason == "fused at iteration 4, but the adapter (sql-run/adapters) is now at iteration 6"
    lms = tmp_path / "lms"
    lms.mkdir()
    capsys.readouterr()
    assert main(["export", "--model", str(run / "fused"), "--lmstudio", "--lmstudio-root", str(lms)]) == 1
    err = capsys.readouterr().err
    assert "is out of date: fused at iteration 4" in err and f"tunedeck fuse {run} --overwrite" in err
    assert list(lms.iterdir()) == []  # nothing written
    assert main(["export", "--model", str(run / "fused"), "--gguf", str(tmp_path / "m.gguf")]) == 1
    assert "out of date" in capsys.readouterr().err

    before = (run / "fused" / provenance.RECORD).read_bytes()
    assert main(["fuse", str(run), "--no-verify"]) == 1  # no --overwrite: the old one stays
    err = capsys.readouterr().err
    assert "already exists: an earlier TuneDeck fused model" in err and "out of date: fused at iteration 4" in err
    assert "--overwrite" in err and (run / "fused" / provenance.RECORD).read_bytes() == before


def test_a_copied_run_checks_its_own_adapter(stale_run, tmp_path):
    run, _ = stale_run
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    # The copy's fused folder finds the copy's adapter through its relative path.
    fresh = provenance.check_fused(copy / "fused")
    assert fresh.stale and fresh.adapter == copy / "adapters" and fresh.run == copy
    # Put back as it was at the fuse (iteration 4's checkpoint holds the same
    # two files): fresh again, though every file time differs.
    for name in provenance.ADAPTER_FILES:
        shutil.copy(copy / "checkpoints" / "0000004" / name, copy / "adapters" / name)
    assert provenance.check_fused(copy / "fused").state == "fresh"
    assert provenance.check_fused(run / "fused").stale  # the original is untouched


def test_refusals_before_any_model_load(demo_model, stale_run, tmp_path, capsys):
    run, _ = stale_run
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert main(["fuse", str(run), "--out", str(mine), "--overwrite"]) == 1
    assert "holds other files" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert main(["eval", str(tmp_path)]) == 1
    assert "is not a TuneDeck run folder" in capsys.readouterr().err
    assert main(["eval", str(run), "--adapter", "first"]) == 1
    assert "--adapter is last or best" in capsys.readouterr().err
    assert main(["eval", "--model", demo_model, "--data", str(tmp_path), "--adapter", "best"]) == 1
    assert "tunedeck eval RUN --adapter best" in capsys.readouterr().err
    assert (
        main(
            [
                "export",
                "--model",
                str(run / "fused"),
                "--lmstudio",
                "--allow-stale",
                "--lmstudio-root",
                str(tmp_path / "missing"),
            ]
        )
        == 1
    )
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "missing").exists()


def test_a_fused_folder_from_before_provenance(tmp_path):
    """The first record format (absolute paths only): stale when the adapter
    was written after the fuse."""
    run, fused = tmp_path / "run", tmp_path / "run" / "fused"
    (run / "adapters").mkdir(parents=True)
    fused.mkdir()
    (run / "events.jsonl").write_text("")
    for name in provenance.ADAPTER_FILES:
        (run / "adapters" / name).write_text("x")
    (fused / provenance.RECORD).write_text(
        json.dumps({"base_model": "/m", "adapter": str(run / "adapters"), "dequantized": False})
    )
    old = time.time() - 60
    for name in provenance.ADAPTER_FILES:
        os.utime(run / "adapters" / name, (old, old))
    assert provenance.check_fused(fused).state == "fresh"
    (run / "adapters" / "adapters.safetensors").write_text("y")
    assert provenance.check_fused(fused).stale
    shutil.rmtree(run / "adapters")
    assert provenance.check_fused(fused).state == "unknown"
    assert provenance.check_fused(tmp_path) is None  # no record: not TuneDeck's


def test_a_changed_base_makes_it_stale(tmp_path):
    """No MLX: a hand-made run, base and record."""
    base = tmp_path / "hub" / "models--org--tiny" / "snapshots" / "abc123"
    base.mkdir(parents=True)
    (base / "config.json").write_text('{"model_type": "qwen2"}')
    (base / "model.safetensors").write_bytes(b"w" * 10)
    run = tmp_path / "run"
    (run / "adapters").mkdir(parents=True)
    (run / "events.jsonl").write_text("")  # a run as TuneDeck knows one (its event log)
    for name in provenance.ADAPTER_FILES:
        (run / "adapters" / name).write_text(name)
    (run / "fused").mkdir()
    record = provenance.fused_record(str(base), str(run / "adapters"), run / "fused", False, False)
    assert (record["base"]["hub_id"], record["base"]["revision"]) == ("org/tiny", "abc123")
    (run / "fused" / provenance.RECORD).write_text(json.dumps(record))
    assert provenance.check_fused(run / "fused").state == "fresh"
    (base / "model.safetensors").write_bytes(b"w" * 11)
    fresh = provenance.check_fused(run / "fused")
    assert fresh.stale and "the base model" in fresh.reason
    assert fresh.refuse_command() == f"tunedeck fuse {run} --overwrite"


def test_eval_judges_best_or_last_and_says_which(stale_run, capsys):
    from core.evaluation.judge import load_results

    run, _ = stale_run
    best_it = provenance.adapter_iteration(run / "best")
    assert best_it and provenance.adapter_choice(run / "best") == "best"
    capsys.readouterr()
    assert main(["eval", str(run), "--adapter", "best", "--no-base", "--test-batches", "2"]) == 0
    out = capsys.readouterr().out
    assert f"judging the best adapter sql-run/best (iteration {best_it})" in out
    assert f"saved {run / 'eval-best.json'}" in out
    assert main(["eval", str(run), "--no-base", "--test-batches", "2"]) == 0
    assert "judging the last adapter sql-run/adapters (iteration 6)" in capsys.readouterr().out
    best, last = load_results(run / "best"), load_results(run / "adapters")
    assert (best["adapter_choice"], best["adapter_iteration"]) == ("best", best_it)
    assert (last["adapter_choice"], last["adapter_iteration"]) == ("last", 6)
    assert best["adapter_record"]["sha256"] != last["adapter_record"]["sha256"] or best_it == 6


def test_lmstudio_root_is_checked(tmp_path):
    from core.shipping.lmstudio import check_lmstudio_root

    (tmp_path / "file").write_text("x")
    for bad, match in (
        (tmp_path / "nope", "does not exist"),
        (tmp_path / "file", "is a file"),
        ("  ", "no folder given"),
    ):
        with pytest.raises(TuneDeckError, match=match):
            check_lmstudio_root(bad)
    assert check_lmstudio_root(str(tmp_path)) == tmp_path


def test_judge_screen_shows_stale_refuses_export_and_fuses_again(
    stale_run, demo_model, sample_data, tmp_path, monkeypatch
):
    """At 80x24: the subject says the fused model is out of date, l refuses,
    f asks before replacing it, the LM Studio folder is shown and chosen."""
    from textual.widgets import Input, RichLog
    from ui_helpers import text_of, wait_for

    from core.runtime import app_config
    from tui.app import make_app
    from tui.screens.results import ResultsScreen
    from tui.screens.results_dialogs import ConfirmDialog, LMStudioFolderDialog

    original, _ = stale_run
    run = tmp_path / "sql-run"
    shutil.copytree(original, run)  # this test fuses again: leave the shared run stale
    monkeypatch.delenv("LMSTUDIO_MODELS_DIR", raising=False)
    lms = tmp_path / "lms"
    lms.mkdir()
    (tmp_path / "a-file").write_text("x")

    def log_text(screen) -> str:
        return "\n".join(line.text for line in screen.query_one("#judge-log", RichLog).lines)

    async def run_app():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            app.session.model_path, app.session.data_dir = demo_model, sample_data
            app.session.adapter_path, app.session.run_dir = str(run / "adapters"), str(run)
            app.go("train")
            await pilot.pause()
            await pilot.press("j")
            screen = app.screen
            assert isinstance(screen, ResultsScreen)
            text = screen_text(app)
            assert "run sql-run · adapter last (iteration 6) · a: best" in text
            assert "fused: OUT OF DATE, fused at iteration 4, adapter now at 6 · f fuses again" in text
            assert "LM Studio: " in text and "o: folder" in text and "a Adapter" in text

            await pilot.press("l")  # stale: refused, nothing written
            assert "not exported: the fused model is out of date" in log_text(screen) and screen.job is None

            await pilot.press("o")  # choose the LM Studio folder: checked, then remembered
            dialog = app.screen
            assert isinstance(dialog, LMStudioFolderDialog)
            for bad, why in ((tmp_path / "nope", "does not exist"), (tmp_path / "a-file", "is a file")):
                dialog.query_one("#lmstudio-root", Input).value = str(bad)
                await pilot.press("enter")
                await pilot.pause()
                assert why in str(dialog.query_one("#lmstudio-error").content) and app.screen is dialog
                assert "fix: choose" in screen_text(app)  # shown in the dialog at 80x24
            dialog.query_one("#lmstudio-root", Input).value = str(lms)
            await pilot.press("enter")
            await pilot.pause()
            assert app.screen is screen and app_config.load()["lmstudio_models_dir"] == str(lms)
            assert f"LM Studio: {lms}/tunedeck/sql-run · o: folder" in text_of(screen, "#subject")
            text = screen_text(app)  # on screen before l is pressed (long paths wrap)
            unwrapped = "".join(line.strip() for line in text.splitlines())
            assert "LM Studio:" in text and "lms/tunedeck/sql-run" in unwrapped

            await pilot.press("f")  # stale: asks first; n keeps it
            await pilot.pause()
            assert isinstance(app.screen, ConfirmDialog)
            assert "is out of date: fused at iteration 4" in screen_text(app)
            await pilot.press("n")
            assert screen.job is None and provenance.check_fused(run / "fused").stale
            await pilot.press("f", "y")
            await wait_for(pilot, lambda: screen.job and screen.job.done and "fused model in" in log_text(screen))
            await wait_for(pilot, lambda: "a Adapter" in screen_text(app))  # the footer follows the job
            assert "fused: up to date (last adapter, iteration 6)" in screen_text(app)
            assert "x Cancel" not in screen_text(app)

            await pilot.press("l")
            await wait_for(pilot, lambda: screen.job.done and "exported to" in log_text(screen))
            assert (lms / "tunedeck" / "sql-run" / "config.json").is_file()

            await pilot.press("a")  # the best adapter: fusing it asks to replace the last one's
            best_it = provenance.adapter_iteration(run / "best")
            assert f"adapter best (iteration {best_it}) · a: last" in screen_text(app)
            assert "f fuses the best one instead" in text_of(screen, "#subject")
            await pilot.press("f")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmDialog) and "not the chosen adapter" in screen_text(app)
            await pilot.press("escape")

    asyncio.run(run_app())
