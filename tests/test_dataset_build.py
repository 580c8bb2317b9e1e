"""Building mlx-lm folders from every local source kind, atomically."""

import csv
import json
import subprocess
import sys

import pytest

from core.data.build import BuildSpec, build, parse_split
from core.data.check import check_folder
from core.data.folder import read_manifest, read_rows
from core.data.sources import open_source
from core.runtime.errors import Cancelled, TuneDeckError
from core.runtime.targets import TargetRefused

COLUMNS = ["question", "context", "answer"]


def sql_rows(n=150):
    return [
        {
            "question": f"How many rows have id {i}?",
            "context": f"CREATE TABLE t{i} (id INTEGER)",
            "answer": f"SELECT COUNT(*) FROM t{i} WHERE id = {i}",
        }
        for i in range(n)
    ]


def write_csv(path, rows, columns=COLUMNS):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    return path


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_parquet(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_saved_dataset(path, rows):
    import datasets

    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows)}).save_to_disk(str(path))
    return path


WRITERS = {
    "csv": ("a.csv", write_csv),
    "jsonl": ("a.jsonl", write_jsonl),
    "parquet": ("a.parquet", write_parquet),
    "saved": ("saved", write_saved_dataset),
    "json": ("a.json", lambda p, rows: (p.write_text(json.dumps(rows)), p)[1]),
}


@pytest.mark.parametrize("kind", list(WRITERS))
def test_build_from_local_sources_like_the_seed(tmp_path, kind):
    name, writer = WRITERS[kind]
    src = writer(tmp_path / name, sql_rows())
    out = tmp_path / "out"
    manifest = build(BuildSpec(str(src), str(out), preset="text-to-sql", split="100,25,25", seed=3))
    assert manifest["counts"] == {"train": 100, "valid": 25, "test": 25}
    assert check_folder(out).ok
    first = read_rows(out / "train.jsonl", limit=1)[0]["messages"]
    assert [m["role"] for m in first] == ["system", "user", "assistant"]
    assert first[0]["content"].endswith(
        "SCHEMA:\n"
        + first[2]["content"].split(" WHERE")[0].replace("SELECT COUNT(*) FROM ", "CREATE TABLE ")
        + " (id INTEGER)"
    )
    saved = read_manifest(out)
    assert saved["preset"] == "text-to-sql" and saved["seed"] == 3 and saved["counts"]["valid"] == 25
    # Same seed, same split; the three splits share no example.
    questions = [
        json.loads(line)["messages"][1]["content"]
        for s in ("train", "valid", "test")
        for line in (out / f"{s}.jsonl").read_text().splitlines()
    ]
    assert len(set(questions)) == 150


def test_formats_ratios_sample_and_suggested_preset(tmp_path):
    rows = [{"instruction": f"Say {i}", "input": "" if i % 2 else f"loudly {i}", "output": f"{i}!"} for i in range(40)]
    src = write_jsonl(tmp_path / "alpaca.jsonl", rows)
    for fmt, key in (("chat", "messages"), ("completions", "prompt"), ("text", "text")):
        m = build(BuildSpec(str(src), str(tmp_path / fmt), format=fmt, sample=20, split="0.8,0.1,0.1"))
        assert m["preset"] == "instruction" and m["counts"] == {"train": 16, "valid": 2, "test": 2}
        record = read_rows(tmp_path / fmt / "train.jsonl", limit=1)[0]
        assert key in record and check_folder(tmp_path / fmt).ok
    prompts = [r["prompt"] for r in read_rows(tmp_path / "completions" / "train.jsonl")]
    assert any("\n\nloudly" in p for p in prompts) and all(not p.endswith("\n") for p in prompts)


def test_custom_templates_and_unknown_column_lists_available(tmp_path):
    src = write_csv(tmp_path / "qa.csv", [{"q": "hi", "a": "hello"}] * 10, columns=["q", "a"])
    m = build(BuildSpec(str(src), str(tmp_path / "o"), user="Q: {q}", assistant="{a}", split="8,1,1"))
    assert m["preset"] == "custom"
    assert read_rows(tmp_path / "o" / "train.jsonl", limit=1)[0]["messages"][0]["content"] == "Q: hi"
    with pytest.raises(TuneDeckError) as err:
        build(BuildSpec(str(src), str(tmp_path / "x"), user="{question}", assistant="{a}"))
    assert "question" in err.value.message and "available columns: q, a" in err.value.hint
    assert not (tmp_path / "x").exists()


def test_empty_cells_are_skipped_and_pointed_to(tmp_path):
    rows = sql_rows(12)
    rows[4]["answer"] = ""
    src = write_csv(tmp_path / "a.csv", rows)
    m = build(BuildSpec(str(src), str(tmp_path / "o"), preset="text-to-sql", split="9,1,1"))
    assert m["skipped"] == 1 and m["skipped_rows"][0].startswith("a.csv:6: ")
    assert "empty" in m["skipped_rows"][0]


def test_broken_source_files_name_file_and_line(tmp_path):
    bad_csv = tmp_path / "b.csv"
    bad_csv.write_text('question,answer\n"q1",a1\nq2,a2,extra\nq3,a3\n')
    with pytest.raises(TuneDeckError) as err:
        open_source(str(bad_csv))
    assert err.value.where == f"{bad_csv}:3" and "3 fields, the header has 2" in err.value.message
    latin1 = tmp_path / "l.csv"
    latin1.write_bytes(b"question,answer\nq1,a1\ncaf\xe9,a2\n")
    with pytest.raises(TuneDeckError) as err:
        open_source(str(latin1))
    assert err.value.where == f"{latin1}:3" and "UTF-8" in err.value.message
    bad_jsonl = tmp_path / "b.jsonl"
    bad_jsonl.write_text('{"a": 1}\n{"a": \n[1]\n')
    with pytest.raises(TuneDeckError) as err:
        open_source(str(bad_jsonl))
    assert err.value.where == f"{bad_jsonl}:2" and "2 bad lines in all: 2, 3" in err.value.message
    with pytest.raises(TuneDeckError, match="unknown file type"):
        (tmp_path / "x.xlsx").write_text("")
        open_source(str(tmp_path / "x.xlsx"))


@pytest.mark.parametrize(
    "text,ok",
    [
        ("100,25,25", True),
        ("80%,10%,10%", True),
        ("0.9,0.1", True),
        ("1,2,3,4", False),
        ("a,b", False),
        ("60%,50%,0%", False),
        ("0,10,10", False),
    ],
)
def test_parse_split(text, ok):
    if ok:
        parse_split(text)
    else:
        with pytest.raises(TuneDeckError):
            parse_split(text)


def test_too_many_rows_asked_for(tmp_path):
    src = write_jsonl(tmp_path / "a.jsonl", sql_rows(10))
    with pytest.raises(TuneDeckError, match="source has 10"):
        build(BuildSpec(str(src), str(tmp_path / "o"), split="100,25,25"))


def leftovers(parent):
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_cancelled_build_leaves_nothing_and_keeps_the_old_folder(tmp_path):
    src = write_jsonl(tmp_path / "a.jsonl", sql_rows(3000))
    calls = {"n": 0}

    def cancel_while_writing():
        calls["n"] += 1
        if calls["n"] == 6:  # 3 mapping ticks done; the 3rd check is in the middle of writing
            raise Cancelled()

    with pytest.raises(Cancelled):
        build(BuildSpec(str(src), str(tmp_path / "new")), check_cancelled=cancel_while_writing)
    assert not (tmp_path / "new").exists() and leftovers(tmp_path) == []

    old = tmp_path / "old"
    build(BuildSpec(str(src), str(old), sample=100))
    before = (old / "train.jsonl").read_bytes()
    calls["n"] = 0
    with pytest.raises(Cancelled):
        build(BuildSpec(str(src), str(old), seed=9, overwrite=True), check_cancelled=cancel_while_writing)
    assert (old / "train.jsonl").read_bytes() == before and leftovers(tmp_path) == []


def test_cancelled_engine_job(engine, tmp_path):
    src = write_jsonl(tmp_path / "a.jsonl", sql_rows(50))
    gate = engine.worker.submit("hold", lambda ctx: __import__("time").sleep(0.3))
    job = engine.build_dataset(BuildSpec(str(src), str(tmp_path / "o")))
    job.cancel()  # before it starts: the worker never runs it
    gate.result()
    with pytest.raises(Cancelled):
        job.result(timeout=30)
    assert not (tmp_path / "o").exists() and leftovers(tmp_path) == []


def test_failing_build_leaves_nothing(tmp_path):
    # A blank assistant template makes every record unusable: nothing to write.
    src = write_jsonl(tmp_path / "a.jsonl", sql_rows(10))
    with pytest.raises(TuneDeckError, match="no usable rows"):
        build(BuildSpec(str(src), str(tmp_path / "o"), user="{question}", assistant=" "))
    assert not (tmp_path / "o").exists() and leftovers(tmp_path) == []
    # The check before the rename rejects a folder mlx-lm would fail on.
    from core.data.folder import write_splits

    def verify(tmp):
        report = check_folder(tmp)
        assert not report.ok
        raise TuneDeckError("rejected")

    with pytest.raises(TuneDeckError, match="rejected"):
        write_splits(tmp_path / "o", {"train": [{"text": ""}]}, {}, verify=verify)
    assert not (tmp_path / "o").exists() and leftovers(tmp_path) == []


def test_cli_data_build_end_to_end(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("NO_COLOR", "1")
    tunedeck = cli
    src = write_csv(tmp_path / "a.csv", sql_rows())
    proc = tunedeck(
        "data",
        "build",
        str(src),
        "--preset",
        "text-to-sql",
        "--out",
        str(tmp_path / "o"),
        "--sample",
        "150",
        "--split",
        "100,25,25",
        "--seed",
        "1",
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and "train 100, valid 25, test 25" in proc.stdout
    proc = tunedeck("data", "check", str(tmp_path / "o"))
    assert proc.returncode == 0 and "ready to train" in proc.stdout
    proc = tunedeck("data", "build", str(src), "--preset", "instruction", "--out", str(tmp_path / "x"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "available columns: question, context, answer" in proc.stderr
    assert not (tmp_path / "x").exists()
    proc = tunedeck("data", "inspect", str(src), "--rows", "1")
    assert "suggested preset: text-to-sql" in proc.stdout and "a.csv:2" in proc.stdout


@pytest.mark.parametrize("fmt,source", [("chat", "parquet"), ("completions", "saved")])
def test_mlx_lm_lora_cli_accepts_built_folder(demo_model, tmp_path, fmt, source):
    name, writer = WRITERS[source]
    src = writer(tmp_path / name, sql_rows(40))
    build(BuildSpec(str(src), str(tmp_path / "d"), preset="text-to-sql", format=fmt, split="30,5,5"))
    cmd = [
        sys.executable,
        "-m",
        "mlx_lm",
        "lora",
        "--model",
        demo_model,
        "--data",
        str(tmp_path / "d"),
        "--train",
        "--iters",
        "2",
        "--batch-size",
        "2",
        "--num-layers",
        "1",
        "--mask-prompt",
        "--steps-per-report",
        "1",
        "--val-batches",
        "1",
        "--adapter-path",
        str(tmp_path / "ad"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (tmp_path / "ad" / "adapters.safetensors").is_file()


def test_unreachable_hub_dataset_is_one_clear_error(tmp_path):
    # conftest sets HF_HUB_OFFLINE=1: datasets fails at once instead of retrying.
    with pytest.raises(TuneDeckError) as err:
        open_source("b-mc2/sql-create-context", None, "train")
    assert "b-mc2/sql-create-context" in err.value.message and "HF_HUB_OFFLINE is set" in err.value.message
    assert "unset HF_HUB_OFFLINE" in err.value.hint


def test_an_output_folder_with_other_files_is_refused_not_replaced(tmp_path):
    src = write_csv(tmp_path / "qa.csv", sql_rows(20))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(TuneDeckError) as err:
        build(BuildSpec(source=str(src), out=str(mine), split="16,2,2"))
    assert "holds other files (notes.txt)" in err.value.message
    assert (mine / "notes.txt").read_text() == "keep me" and not (mine / "train.jsonl").exists()
    with pytest.raises(TuneDeckError, match="is a file"):
        build(BuildSpec(source=str(src), out=str(src), split="16,2,2"))
    # An earlier build is replaced whole by a rebuild, when asked to.
    out = tmp_path / "built"
    build(BuildSpec(source=str(src), out=str(out), split="16,2,2"))
    with pytest.raises(TargetRefused, match="an earlier TuneDeck dataset") as err:
        build(BuildSpec(source=str(src), out=str(out), split="10,5,5", seed=3))
    assert err.value.replaceable
    build(BuildSpec(source=str(src), out=str(out), split="10,5,5", seed=3, overwrite=True))
    assert read_manifest(out)["counts"] == {"train": 10, "valid": 5, "test": 5}


def test_a_cut_off_jsonl_line_is_named_by_its_own_line_and_column(tmp_path):
    lines = [json.dumps(r) for r in sql_rows(60)]
    lines[56] = '{"question": "oops", "context": '  # line 57, cut short
    lines[9] = '{"question": "a" "b"}'  # line 10: a comma missing at column 18
    src = tmp_path / "rows.jsonl"
    src.write_text("".join(line + "\n" for line in lines))
    with pytest.raises(TuneDeckError) as err:
        open_source(str(src))
    assert err.value.where == f"{src}:10"
    assert err.value.message.startswith("invalid JSON at column 18: Expecting ',' delimiter")
    assert "2 bad lines in all: 10, 57" in err.value.message
    lines[9] = json.dumps(sql_rows(1)[0])
    src.write_text("".join(line + "\n" for line in lines))
    with pytest.raises(TuneDeckError) as err:
        open_source(str(src))
    assert err.value.where == f"{src}:57" and "the line ends before the record is complete" in err.value.message
