"""Nothing the user owns is ever lost: the one write rule (core/runtime/targets.py)
and every data-loss case found by trying TuneDeck as a new user would.

Each test puts the user's own files where TuneDeck is pointed, runs the
command, and checks every byte of them afterwards (``snapshot``)."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.runtime.errors import TuneDeckError
from core.runtime.targets import (
    CONFIG_YAML,
    DATASET,
    FUSED_MODEL,
    GGUF,
    TargetRefused,
    check_name,
    claim,
    file_draft,
    inspect,
    write_file,
    write_folder,
)


def tunedeck(*args, cwd=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "tui", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


def snapshot(root: Path) -> dict:
    """Every file and folder under ``root`` with a hash of its bytes."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs:
            out[os.path.relpath(os.path.join(dirpath, name), root) + "/"] = "dir"
        for name in files:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return out


def users_folder(path: Path) -> Path:
    """A folder of someone's own things, hidden files and a sub-folder included."""
    (path / "sub").mkdir(parents=True)
    (path / "notes.txt").write_text("my notes\n")
    (path / "sub" / "data.csv").write_text("a,b\n1,2\n")
    (path / ".session.tmp").mkdir()
    (path / ".notes.tmp.txt").write_text("draft\n")
    (path / ".bashrc.old-2023").write_text("export X=1\n")
    return path


@pytest.fixture(scope="module")
def base_run(engine, demo_model, sample_data, tmp_path_factory):
    """One run trained to iteration 2 (a checkpoint at each step), copied by
    the tests that need a run: training once keeps them fast."""
    from core.training.settings import demo_settings

    run = tmp_path_factory.mktemp("base") / "run"
    engine.train(demo_settings(demo_model, sample_data, "", iters=2, save_every=1, steps_per_eval=100), run).result(
        timeout=300
    )
    return run


@pytest.fixture(scope="module")
def fused_model(engine, demo_model, base_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("fused") / "fused"
    engine.fuse(demo_model, str(base_run / "adapters"), str(out), verify=False).result(timeout=300)
    return out


# -- the rule itself ----------------------------------------------------------
def test_a_folder_is_written_new_replaced_only_when_own_and_asked(tmp_path):
    out = tmp_path / "out"
    with write_folder(out, DATASET, marker={"note": "first"}) as draft:
        (draft.path / "train.jsonl").write_text('{"text": "a"}\n')
    marker = json.loads((out / "tunedeck.json").read_text())
    assert marker["kind"] == "dataset" and marker["files"] == {"train.jsonl": 14} and marker["note"] == "first"
    assert inspect(out, DATASET).state == "own"

    with pytest.raises(TargetRefused) as err:  # ours, but nobody asked
        claim(out, DATASET)
    assert err.value.replaceable and "an earlier TuneDeck dataset" in err.value.message
    with pytest.raises(TargetRefused) as err:  # another kind is never "ours"
        claim(out, FUSED_MODEL, overwrite=True)
    assert not err.value.replaceable and "holds a TuneDeck dataset, not a fused model" in err.value.message

    with write_folder(out, DATASET, overwrite=True) as draft:
        (draft.path / "train.jsonl").write_text('{"text": "b"}\n')
    assert (out / "train.jsonl").read_text() == '{"text": "b"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp or moved-aside folder left

    (out / "valid.jsonl").write_text("mine\n")  # the user added a file: no longer only ours
    with pytest.raises(TargetRefused, match=r"changed since \(added: valid.jsonl\)") as err:
        claim(out, DATASET, overwrite=True)
    assert not err.value.replaceable


def test_an_empty_folder_or_one_with_only_finders_metadata_is_written(tmp_path):
    for name, files in (("empty", []), ("finder", [".DS_Store"])):
        (tmp_path / name).mkdir()
        for f in files:
            (tmp_path / name / f).write_text("x")
        with write_folder(tmp_path / name, DATASET) as draft:
            (draft.path / "train.jsonl").write_text("{}\n")
        assert (tmp_path / name / "train.jsonl").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "finder"]


def test_a_failed_or_cancelled_write_leaves_the_old_target_as_it_was(tmp_path):
    out = tmp_path / "out"
    with write_folder(out, DATASET) as draft:
        (draft.path / "train.jsonl").write_text("old\n")
    before = snapshot(tmp_path)
    with pytest.raises(RuntimeError), write_folder(out, DATASET, overwrite=True) as draft:
        (draft.path / "train.jsonl").write_text("half")
        raise RuntimeError("cancelled")
    assert snapshot(tmp_path) == before


def test_something_appearing_at_the_target_during_the_write_is_not_replaced(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(TargetRefused, match="holds other files"), write_folder(out, DATASET) as draft:
        (draft.path / "train.jsonl").write_text("x\n")
        users_folder(out)  # someone else wrote there meanwhile
    assert (out / "notes.txt").read_text() == "my notes\n" and not (out / "train.jsonl").exists()

    cfg = tmp_path / "c.yaml"
    with pytest.raises(TargetRefused, match="a file TuneDeck did not write"), file_draft(cfg, CONFIG_YAML) as tmp:
        tmp.write_text(CONFIG_YAML.header + "\n")
        cfg.write_text("mine\n")
    assert cfg.read_text() == "mine\n" and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_files_where_folders_belong_and_the_reverse(tmp_path):
    (tmp_path / "qa.csv").write_text("q,a\n")
    with pytest.raises(TargetRefused, match="is a file, not a folder"):
        claim(tmp_path / "qa.csv", DATASET, overwrite=True)
    with pytest.raises(TargetRefused, match="cannot write .* is a file, not a folder"):
        claim(tmp_path / "qa.csv" / "inner", DATASET)
    (tmp_path / "dir.gguf").mkdir()
    with pytest.raises(TargetRefused, match="is a folder, not a file"):
        claim(tmp_path / "dir.gguf", GGUF)
    write_file(tmp_path / "c.yaml", CONFIG_YAML, CONFIG_YAML.header + "\n")
    with pytest.raises(TargetRefused) as err:
        write_file(tmp_path / "c.yaml", CONFIG_YAML, "x")
    assert err.value.replaceable and not err.value.folder
    write_file(tmp_path / "c.yaml", CONFIG_YAML, CONFIG_YAML.header + "\nnew\n", overwrite=True)
    assert (tmp_path / "c.yaml").read_text().endswith("new\n")


@pytest.mark.parametrize(
    "name, message",
    [
        ("a" * 300, "is 300 bytes long; this filesystem allows at most 255"),
        ("é" * 200, "is 400 bytes long"),
        ("bad\0name", "contains a NUL character"),
    ],
)
def test_names_no_filesystem_takes_get_a_clear_message(tmp_path, name, message):
    with pytest.raises(TuneDeckError, match=message):
        check_name(tmp_path / name)
    with pytest.raises(TuneDeckError, match=message):
        claim(tmp_path / name, DATASET)
    assert list(tmp_path.iterdir()) == []


def test_long_unicode_names_that_fit_are_written_with_their_temp_names(tmp_path):
    name = "😀" * 60  # 240 bytes: the name fits, and so must its temporary sibling's
    with write_folder(tmp_path / name, DATASET) as draft:
        (draft.path / "train.jsonl").write_text("{}\n")
    assert [p.name for p in tmp_path.iterdir()] == [name]


# -- the data-loss cases, as a user meets them ---------------------------------------
def test_data_sample_never_replaces_the_users_folder_or_file(tmp_path):
    mine = users_folder(tmp_path / "mine")
    (tmp_path / "qa.csv").write_text("q,a\n")
    before = snapshot(tmp_path)
    for target in ("mine", "qa.csv"):
        proc = tunedeck("data", "sample", target, cwd=tmp_path)
        assert proc.returncode == 1 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
        assert "already exists" in proc.stderr and "fix: " in proc.stderr
    assert (
        "holds other files (.bashrc.old-2023, .notes.tmp.txt, .session.tmp/ and 2 more)"
        in tunedeck("data", "sample", "mine", "--overwrite", cwd=tmp_path).stderr
    )
    assert snapshot(tmp_path) == before  # not a byte changed, no hidden .qa.csv.old-PID
    assert mine.is_dir()

    proc = tunedeck("data", "sample", "s", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = tunedeck("data", "sample", "s", "--seed", "3", cwd=tmp_path)
    assert proc.returncode == 1 and "an earlier TuneDeck dataset" in proc.stderr
    assert "fix: pass --overwrite to replace it, or choose another folder" in proc.stderr
    first = (tmp_path / "s" / "train.jsonl").read_bytes()
    proc = tunedeck("data", "sample", "s", "--seed", "3", "--overwrite", cwd=tmp_path)
    assert proc.returncode == 0 and (tmp_path / "s" / "train.jsonl").read_bytes() != first
    proc = tunedeck("data", "sample", "x" * 300, cwd=tmp_path)
    assert proc.returncode == 1 and "is 300 bytes long" in proc.stderr and "Traceback" not in proc.stderr


def test_demo_model_never_replaces_the_users_folder_or_file(engine, demo_model, tmp_path):
    from core.models import demo_model as demo

    mine = users_folder(tmp_path / "mine")
    (tmp_path / "qa.csv").write_text("q,a\n")
    before = snapshot(tmp_path)
    for target in (mine, tmp_path / "qa.csv"):
        with pytest.raises(TargetRefused, match="already exists"):
            engine.build_demo_model(target, overwrite=True).result(timeout=60)
    assert snapshot(tmp_path) == before
    # An earlier demo model is TuneDeck's own: replaced only when asked.
    copy = tmp_path / "demo"
    shutil.copytree(demo_model, copy)
    assert inspect(copy, demo.DEMO_MODEL).state == "own"
    with pytest.raises(TargetRefused) as err:
        engine.build_demo_model(copy).result(timeout=60)
    assert err.value.replaceable


def test_data_build_refuses_a_hand_made_dataset_and_itself(tmp_path, sample_data):
    from core.data.build import BuildSpec, build

    hand = tmp_path / "hand"
    hand.mkdir()
    for split in ("train", "valid", "test"):
        shutil.copy(Path(sample_data) / f"{split}.jsonl", hand / f"{split}.jsonl")
    with pytest.raises(TargetRefused, match="holds other files"):
        build(BuildSpec(source=sample_data, out=str(hand), overwrite=True))
    # A copied manifest does not make edited files TuneDeck's.
    shutil.copy(Path(sample_data) / "tunedeck.json", hand / "tunedeck.json")
    with (hand / "train.jsonl").open("a") as fh:
        fh.write(
            json.dumps({"messages": [{"role": "user", "content": "mine"}, {"role": "assistant", "content": "mine"}]})
            + "\n"
        )
    before = snapshot(hand)
    with pytest.raises(TargetRefused, match="changed since"):
        build(BuildSpec(source=sample_data, out=str(hand), overwrite=True))
    assert snapshot(hand) == before

    built = tmp_path / "built"
    build(BuildSpec(source=sample_data, out=str(built), split="100,10,10"))
    before = snapshot(built)
    for source in (built, built / "train.jsonl"):  # onto itself: it would shrink to a sample of itself
        with pytest.raises(TuneDeckError, match="inside .*the folder this build would replace"):
            build(BuildSpec(source=str(source), out=str(built), split="10,2,2", overwrite=True))
    assert snapshot(built) == before


@pytest.mark.slow
def test_a_copied_run_resumes_into_the_copy_and_a_moved_one_in_place(engine, base_run, tmp_path):
    from core.training.run_folders import read_events

    a = tmp_path / "runA"
    shutil.copytree(base_run, a)
    assert "adapter_path: adapters\n" in (a / "config.yaml").read_text()
    assert not any(str(tmp_path) in p.read_text() for p in a.rglob("adapter_config.json"))
    original = snapshot(a)

    b = tmp_path / "runB"
    shutil.copytree(a, b)
    result = engine.resume(b, iters=4).result(timeout=300)
    assert result.adapter_path == str(b / "adapters") and result.iterations == 4
    assert snapshot(a) == original  # the original is untouched, its finished adapter included

    c = tmp_path / "moved" / "runC"
    c.parent.mkdir()
    b.rename(c)
    result = engine.resume(c, iters=6).result(timeout=300)
    assert result.run_dir == str(c) and not b.exists()  # the old path is not recreated
    assert [e["start_iteration"] for e in read_events(c) if e["type"] == "start"] == [0, 2, 4]
    assert snapshot(a) == original


def test_an_older_run_storing_absolute_paths_resumes_into_itself(engine, base_run, tmp_path):
    """Runs written before paths were stored relative name their own folder:
    a copy of one must still not write into the original."""
    a = tmp_path / "old"
    shutil.copytree(base_run, a)
    cfg = a / "config.yaml"
    cfg.write_text(cfg.read_text().replace("adapter_path: adapters", f"adapter_path: {a}/adapters"))
    (a / "tunedeck_run.json").unlink()
    original = snapshot(a)
    b = tmp_path / "copy"
    shutil.copytree(a, b)
    result = engine.resume(b, iters=3).result(timeout=300)
    assert result.adapter_path == str(b / "adapters") and snapshot(a) == original
    assert "adapter_path: adapters\n" in (b / "config.yaml").read_text() and (b / "tunedeck_run.json").is_file()


def test_adapter_path_into_someone_elses_folder_is_refused(engine, demo_model, sample_data, tmp_path):
    from core.training.settings import demo_settings

    mine = users_folder(tmp_path / "mine")
    (mine / "adapter_config.json").write_text('{"mine": true}\n')
    before = snapshot(mine)
    with pytest.raises(TargetRefused, match="holds other files") as err:
        engine.train(demo_settings(demo_model, sample_data, str(mine), iters=2), tmp_path / "run").result(timeout=60)
    assert "new or empty folder" in err.value.hint
    assert snapshot(mine) == before and not (tmp_path / "run").exists()

    # An adapter folder of its own, outside the run: a copy of the run must not take it over.
    ext = tmp_path / "ext"
    engine.train(
        demo_settings(demo_model, sample_data, str(ext), iters=2, save_every=1, steps_per_eval=100), tmp_path / "r1"
    ).result(timeout=300)
    assert json.loads((ext / "tunedeck_adapter.json").read_text())["run"] == str(tmp_path / "r1")
    shutil.copytree(tmp_path / "r1", tmp_path / "r2")
    adapter = snapshot(ext)
    with pytest.raises(TuneDeckError, match="belongs to the run .*r1") as err:
        engine.resume(tmp_path / "r2", iters=3).result(timeout=60)
    assert "--adapter-path NEW_FOLDER" in err.value.hint and snapshot(ext) == adapter
    result = engine.resume(tmp_path / "r2", iters=3, adapter_path=str(tmp_path / "ext2")).result(timeout=300)
    assert result.adapter_path == str(tmp_path / "ext2") and snapshot(ext) == adapter
    assert f"adapter_path: {tmp_path / 'ext2'}" in (tmp_path / "r2" / "config.yaml").read_text()


def test_stale_locks_never_block_and_old_lock_files_mean_nothing(engine, base_run, tmp_path):
    import socket

    from core.training.run_folders import run_info

    run = tmp_path / "run"
    shutil.copytree(base_run, run)
    with (run / "events.jsonl").open("a") as fh:  # as a killed run leaves it: started, never ended
        fh.write(json.dumps({"type": "start", "time": 1, "iters": 4, "start_iteration": 2}) + "\n")
    for holder in (
        {"pid": os.getpid(), "host": socket.gethostname()},  # a live pid (a recycled one)
        {"pid": 1, "host": "another-machine"},  # another host's
        {"pid": 999999, "host": socket.gethostname()},
    ):  # a dead one
        (run / "run.json").write_text(json.dumps({**holder, "started": "2023-01-01T00:00:00"}))
        assert run_info(run).status == "crashed", holder
    result = engine.resume(run, iters=4).result(timeout=300)
    assert result.start_iteration == 2 and result.iterations == 4
    assert not (run / "run.json").exists() and run_info(run).status == "finished"


def test_fuse_export_eval_and_config_writes_follow_the_rule(
    engine, demo_model, sample_data, base_run, fused_model, tmp_path
):
    from core.evaluation.judge import EvalSettings
    from core.training.settings import demo_settings, save_yaml

    s = demo_settings(demo_model, sample_data, "")
    run = tmp_path / "run"
    shutil.copytree(base_run, run)
    adapter = str(run / "adapters")

    mine = users_folder(tmp_path / "mine")
    before = snapshot(mine)
    with pytest.raises(TargetRefused, match="holds other files"):
        engine.fuse(demo_model, adapter, str(mine), overwrite=True).result(timeout=60)
    out = tmp_path / "fused"
    shutil.copytree(fused_model, out)
    with pytest.raises(TargetRefused, match="an earlier TuneDeck fused model") as err:
        engine.fuse(demo_model, adapter, str(out), verify=False).result(timeout=60)
    assert err.value.replaceable
    engine.fuse(demo_model, adapter, str(out), verify=False, overwrite=True).result(timeout=300)

    root = tmp_path / "lms"
    engine.export_lmstudio(str(out), root=str(root), name="m").result(timeout=60)
    assert json.loads((root / "tunedeck" / "m" / "tunedeck_export.json").read_text())["source"] == str(out.resolve())
    with pytest.raises(TargetRefused) as err:
        engine.export_lmstudio(str(out), root=str(root), name="m").result(timeout=60)
    assert err.value.replaceable
    engine.export_lmstudio(str(out), root=str(root), name="m", overwrite=True).result(timeout=60)
    shutil.copytree(mine, root / "tunedeck" / "theirs")
    with pytest.raises(TargetRefused, match="holds other files"):
        engine.export_lmstudio(str(out), root=str(root), name="theirs", overwrite=True).result(timeout=60)
    (tmp_path / "m.gguf").write_text("someone's")
    with pytest.raises(TargetRefused, match="a file TuneDeck did not write"):
        engine.export_gguf(str(out), str(tmp_path / "m.gguf")).result(timeout=60)
    assert (tmp_path / "m.gguf").read_text() == "someone's"

    (run / "eval.json").write_text('{"my": "results"}\n')  # not TuneDeck's record: refused before loading
    with pytest.raises(TargetRefused, match="a file TuneDeck did not write"):
        engine.evaluate(EvalSettings(model=demo_model, data=sample_data, adapter=adapter)).result(timeout=60)
    assert (run / "eval.json").read_text() == '{"my": "results"}\n'

    (tmp_path / "cfg.yaml").write_text("my: config\n")
    with pytest.raises(TargetRefused, match="a file TuneDeck did not write"):
        save_yaml(s, tmp_path / "cfg.yaml", overwrite=True)
    proc = tunedeck("train", "--model", demo_model, "--data", sample_data, "--save-config", str(tmp_path / "t.yaml"))
    assert proc.returncode == 0
    proc = tunedeck("train", "--model", demo_model, "--data", sample_data, "--save-config", str(tmp_path / "t.yaml"))
    assert proc.returncode == 1 and "pass --overwrite" in proc.stderr
    proc = tunedeck(
        "train",
        "--model",
        demo_model,
        "--data",
        sample_data,
        "--iters",
        "7",
        "--save-config",
        str(tmp_path / "t.yaml"),
        "--overwrite",
    )
    assert proc.returncode == 0 and "iters: 7" in (tmp_path / "t.yaml").read_text()
    assert snapshot(mine) == before


def test_names_that_become_paths_stay_in_their_folder(engine, demo_model, sample_data, fused_model, tmp_path):
    from core.chat import transcript as tx
    from core.training.run_folders import NAME_STEM, new_run_dir

    # A run's folder name comes from the model folder's: shortened and made safe.
    weird = new_run_dir("/models/a b:c" + "x" * 300, root=tmp_path / "runs")
    assert weird.parent == tmp_path / "runs" and len(weird.name) <= 16 + NAME_STEM and " " not in weird.name
    assert new_run_dir("/models/..", root=tmp_path / "runs").name.endswith("-model")

    fused = fused_model
    root = tmp_path / "lms"
    (tmp_path / "sub").mkdir()
    before = snapshot(tmp_path)
    for name in ("../escape", "a/b", "/abs", "..", "bad\0name", "x" * 300, "modèle"):
        with pytest.raises(TuneDeckError):
            engine.export_lmstudio(str(fused), root=str(root), name=name).result(timeout=60)
        with pytest.raises(TuneDeckError):
            engine.export_lmstudio(str(fused), root=str(root), publisher=name, name="ok").result(timeout=60)
    assert snapshot(tmp_path) == before  # nothing written anywhere

    t = tx.Transcript(model="m")
    t.turns.append(tx.Turn("q", [tx.Answer("m", "a", stop_reason="eos")]))
    for bad, message in ((tmp_path / ("y" * 300 + ".md"), "303 bytes long"), (f"{tmp_path}/a\0b.md", "NUL")):
        with pytest.raises(TuneDeckError, match=message):
            tx.save(t, bad)
    path = tx.save(t, tmp_path / "sub" / ".." / "chat.md")  # "../" goes where it points, no further
    assert path.read_text().startswith("# TuneDeck chat transcript")
    with pytest.raises(TargetRefused) as err:
        tx.save(t, tmp_path / "chat.md")  # never over an existing transcript unless asked
    assert err.value.replaceable
    tx.save(t, tmp_path / "chat.md", overwrite=True)
    assert {k for k in snapshot(tmp_path)} - set(before) == {"chat.md"}

    proc = tunedeck("train", "--model", demo_model, "--data", sample_data, "--out", str(tmp_path / ("r" * 300)))
    assert proc.returncode == 1 and "is 300 bytes long" in proc.stderr and "Traceback" not in proc.stderr


def test_the_tui_asks_before_replacing_its_own_output_and_never_replaces_yours(tmp_path):
    import asyncio

    from textual.widgets import Input
    from ui_helpers import at_step, text_of, wait_for

    from tui.screens.confirm import ConfirmReplace

    src = tmp_path / "qa.jsonl"
    src.write_text(
        "".join(
            json.dumps(
                {"question": f"How many rows have id {i}?", "context": "CREATE TABLE t (id)", "answer": f"SELECT {i}"}
            )
            + "\n"
            for i in range(60)
        )
    )
    out, mine = tmp_path / "built", users_folder(tmp_path / "mine")
    before = snapshot(mine)

    async def run():
        async with at_step("data", pause=0.2) as (app, pilot, notes):
            screen = app.screen
            await pilot.press("down", "enter")
            screen.query_one("#folder", Input).value = str(src)
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen.source is not None)
            screen.query_one("#split", Input).value = "40,10,10"
            screen.query_one("#out", Input).value = str(out)
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: app.session.data_dir == str(out))
            first = (out / "train.jsonl").read_bytes()

            screen.query_one("#seed", Input).value = "5"
            await pilot.press("ctrl+r")  # the same folder again: an earlier build of ours
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmReplace))
            assert "an earlier TuneDeck dataset" in text_of(app.screen, "#confirm-what")
            await pilot.press("n")
            await pilot.pause(0.3)
            assert (out / "train.jsonl").read_bytes() == first  # kept
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmReplace))
            await pilot.press("y")
            await wait_for(pilot, lambda: (out / "train.jsonl").read_bytes() != first)

            screen.query_one("#out", Input).value = str(mine)
            await pilot.press("ctrl+r")  # someone's folder: refused, never asked about
            await wait_for(pilot, lambda: "holds other files" in text_of(screen, "#status"))
            assert not isinstance(app.screen, ConfirmReplace) and "fix: " in text_of(screen, "#status")

    asyncio.run(run())
    assert snapshot(mine) == before
