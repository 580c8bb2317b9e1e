"""Hub datasets through the real ``datasets`` + huggingface_hub code path,
against the stand-in hub on 127.0.0.1 (tests/hub_standin.py).

What a real ``load_dataset("b-mc2/sql-create-context")`` asks the hub for
(logged from the stand-in; TuneDeck's own requests marked *):

    GET  /api/datasets/{repo}                      * sha, files and sizes
    HEAD /datasets/{repo}/resolve/{sha}/README.md    dataset card (configs:)
    HEAD /datasets/{repo}/resolve/{sha}/{name}.py    a loading script? (404 wanted)
    GET  /api/datasets/{repo}/revision/{sha}
    HEAD /datasets/{repo}/resolve/{sha}/.huggingface.yaml
    GET  /api/datasets/{repo}/tree/{sha}[/data]      data files by pattern
    HEAD /datasets/{repo}/resolve/{sha}/dataset_infos.json
    HEAD+GET /datasets/{repo}/resolve/{sha}/{data file}  * with byte progress
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import hub_standin
import pytest
from hub_standin import GOOD_TOKEN, OTHER_TOKEN, SQL_CARD, SQL_DATASET, SQL_FILE, SQL_ROWS, sql_rows

from core.runtime import events as ev
from core.runtime.errors import Cancelled, TuneDeckError

dataset_hub = hub_standin.dataset_hub

TWO_CONFIGS = """---
configs:
- config_name: easy
  data_files:
  - split: train
    path: easy/train.jsonl
  - split: validation
    path: easy/valid.jsonl
- config_name: hard
  data_files:
  - split: train
    path: hard/*.jsonl
dataset_info:
- config_name: easy
  splits:
  - name: train
    num_examples: 40
  - name: validation
    num_examples: 10
- config_name: hard
  splits:
  - name: train
    num_examples: 150
---
# two configs, no default
"""


def jsonl(rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def add_two_configs(hub) -> None:
    rows = sql_rows(200)
    hub.state.add_dataset(
        "acme/two-configs",
        {
            "README.md": TWO_CONFIGS,
            "easy/train.jsonl": jsonl(rows[:40]),
            "easy/valid.jsonl": jsonl(rows[40:50]),
            "hard/part-0.jsonl": jsonl(rows[50:130]),
            "hard/part-1.jsonl": jsonl(rows[130:]),
        },
    )


def load(hub, spec=SQL_DATASET, *args, **kw):
    from core.data import hub_datasets

    return hub_datasets.load(spec, *args, endpoint=hub.url, **kw)


def snapshot(tmp_path, repo=SQL_DATASET) -> Path:
    return (
        tmp_path
        / "hf-cache"
        / f"datasets--{repo.replace('/', '--')}"
        / "snapshots"
        / hub_standin.Repo(files={}, config={}).sha
    )


def test_the_seed_recipe_150_rows_to_100_25_25_with_byte_progress(dataset_hub, engine, recorder, tmp_path):
    from core.data.build import BuildSpec
    from core.data.check import check_folder

    out = tmp_path / "sql"
    job = engine.build_dataset(BuildSpec(source=SQL_DATASET, out=str(out), split="100,25,25"), endpoint=dataset_hub.url)
    manifest = job.result(timeout=120)
    assert manifest["counts"] == {"train": 100, "valid": 25, "test": 25}
    assert (manifest["source_kind"], manifest["source_rows"]) == ("hub", SQL_ROWS)
    assert (manifest["config"], manifest["hf_split"], manifest["streamed"]) == ("default", "train", False)
    assert check_folder(out).ok
    first = json.loads((out / "train.jsonl").read_text().splitlines()[0])
    assert "SCHEMA:\nCREATE TABLE head" in first["messages"][0]["content"]
    assert first["messages"][2]["content"].startswith("SELECT COUNT(*) FROM head WHERE age > ")

    size = len(dataset_hub.state.datasets[SQL_DATASET].files[SQL_FILE])
    progress = recorder.of(ev.DownloadProgress, job)
    last = progress[-1]
    assert (last.done, last.total, last.files_done, last.files_total, last.repo_id) == (size, size, 1, 1, SQL_DATASET)
    # datasets asked for what it always asks (the card, a script, the file tree)...
    asked = [(m, p.rsplit("/", 1)[-1]) for m, p, h in dataset_hub.state.requests]
    assert ("HEAD", "README.md") in asked and ("HEAD", "sql-create-context.py") in asked
    # ...and the data file was fetched once, by TuneDeck's download, not again by datasets.
    assert len(dataset_hub.state.gets(SQL_FILE)) == 1
    assert (snapshot(tmp_path) / SQL_FILE).is_file()


def test_configs_and_splits_are_listed_and_a_wrong_one_names_the_choices(dataset_hub):
    from core.data.hub_datasets import choices

    add_two_configs(dataset_hub)
    found = choices("acme/two-configs", endpoint=dataset_hub.url)
    assert (found.configs, found.config, found.splits) == (["easy", "hard"], None, [])  # no default: none listed
    found = choices("acme/two-configs", "easy", endpoint=dataset_hub.url)
    assert (found.config, found.splits, found.rows) == (
        "easy",
        ["train", "validation"],
        {"train": 40, "validation": 10},
    )
    found = choices(SQL_DATASET, endpoint=dataset_hub.url)
    assert (found.configs, found.config, found.splits) == (["default"], "default", ["train"])

    with pytest.raises(TuneDeckError) as err:
        load(dataset_hub, "acme/two-configs")
    assert err.value.message == "acme/two-configs has 2 configs and none is the default: easy, hard"
    assert err.value.hint == "choose one with --config NAME, e.g. easy"
    with pytest.raises(TuneDeckError) as err:
        load(dataset_hub, "acme/two-configs", "medium", ui="tui")
    assert err.value.message == "acme/two-configs has no config 'medium': easy, hard"
    assert err.value.hint.startswith("choose one in the config list under the id")
    with pytest.raises(TuneDeckError) as err:
        load(dataset_hub, "acme/two-configs", "easy", "test")
    assert err.value.message == "acme/two-configs (config easy) has no split 'test'; it has: train, validation"
    assert "--hf-split" in err.value.hint
    source = load(dataset_hub, "acme/two-configs", "hard")  # two files, one split
    assert len(source) == 150 and source.details["split"] == "train"
    source = load(dataset_hub, "acme/two-configs", "easy", "validation")
    assert len(source) == 10 and source.details["config"] == "easy"


def test_not_found_private_and_gated_each_say_what_to_do(dataset_hub, monkeypatch):
    files = {"README.md": SQL_CARD, SQL_FILE: json.dumps(sql_rows(20))}
    dataset_hub.state.add_dataset("acme/private-sql", files, private=True)
    dataset_hub.state.add_dataset("acme/gated-sql", files, gated=True)

    with pytest.raises(TuneDeckError) as err:
        load(dataset_hub, "nobody/missing")
    assert err.value.message == f"nobody/missing was not found on {dataset_hub.url} (HTTP 404)"
    assert "spelling" in err.value.hint and f"{dataset_hub.url}/datasets" in err.value.hint

    with pytest.raises(TuneDeckError) as err:
        load(dataset_hub, "acme/private-sql")
    assert "HTTP 401" in err.value.message and "private" in err.value.message
    assert "hf auth login" in err.value.hint and "HF_TOKEN" in err.value.hint

    with pytest.raises(TuneDeckError) as err:  # gated, not logged in: ask for access where, then log in
        load(dataset_hub, "acme/gated-sql")
    assert err.value.message == "acme/gated-sql is gated: ask for access on its dataset page, then log in"
    assert f"open {dataset_hub.url}/datasets/acme/gated-sql" in err.value.hint and "hf auth login" in err.value.hint

    monkeypatch.setenv("HF_TOKEN", OTHER_TOKEN)  # logged in, access not granted
    with pytest.raises(TuneDeckError) as err:
        load(dataset_hub, "acme/gated-sql")
    assert "no access to it yet (HTTP 403)" in err.value.message
    assert f"{dataset_hub.url}/datasets/acme/gated-sql" in err.value.hint
    assert not dataset_hub.state.gets(SQL_FILE)  # refused before any data was asked for

    monkeypatch.setenv("HF_TOKEN", GOOD_TOKEN)  # the fix: a login that has access
    assert len(load(dataset_hub, "acme/gated-sql")) == 20
    assert len(load(dataset_hub, "acme/private-sql")) == 20
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(TuneDeckError, match="token was rejected"):
        load(dataset_hub, "acme/private-sql")


def test_a_connection_dropped_mid_file_resumes_with_a_range_request(dataset_hub):
    dataset_hub.state.drop_once.add(SQL_FILE)
    assert len(load(dataset_hub)) == SQL_ROWS
    gets = dataset_hub.state.gets(SQL_FILE)
    assert len(gets) == 2 and "Range" not in gets[0]
    assert gets[1]["Range"].startswith("bytes=") and gets[1]["Range"] != "bytes=0-"


def test_a_download_cancelled_mid_file_leaves_nothing_half_registered_and_a_retry_works(dataset_hub, tmp_path):
    from core.data.build import BuildSpec, build

    release = dataset_hub.state.hold[SQL_FILE] = threading.Event()  # half the file, then wait for the test
    cancel, events, outcome = threading.Event(), [], {}
    out = tmp_path / "sql"

    def run():
        try:
            build(
                BuildSpec(source=SQL_DATASET, out=str(out), split="100,25,25"),
                hub={"endpoint": dataset_hub.url, "emit": events.append, "cancel": cancel},
            )
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    assert dataset_hub.state.holding.wait(60), "the download never started"
    deadline = time.monotonic() + 30
    while not any(isinstance(e, ev.DownloadProgress) and e.done for e in events):
        assert time.monotonic() < deadline, "no progress shown while the file arrived"
        time.sleep(0.02)
    size = len(dataset_hub.state.datasets[SQL_DATASET].files[SQL_FILE])
    shown = [e for e in events if isinstance(e, ev.DownloadProgress)][-1]
    assert 0 < shown.done < shown.total == size and shown.files_done == 0
    cancel.set()  # the stand-in is still holding the rest of the file: a stalled link
    worker.join(5)
    assert not worker.is_alive() and isinstance(outcome.get("error"), Cancelled)
    release.set()  # the abandoned download thread now gets bytes, notices the cancel, and ends

    snap = snapshot(tmp_path)
    assert not (snap / SQL_FILE).exists() and not out.exists()
    deadline = time.monotonic() + 10
    while list((tmp_path / "hf-cache").rglob("*.incomplete")):  # the partial file is removed
        assert time.monotonic() < deadline, "a partial download was left behind"
        time.sleep(0.05)
    assert not list((tmp_path / "hf-datasets").rglob("*.arrow"))  # nothing prepared either

    manifest = build(BuildSpec(source=SQL_DATASET, out=str(out), split="100,25,25"), hub={"endpoint": dataset_hub.url})
    assert manifest["counts"] == {"train": 100, "valid": 25, "test": 25}
    assert (snap / SQL_FILE).read_bytes() == dataset_hub.state.datasets[SQL_DATASET].files[SQL_FILE]


def test_unreachable_endpoint_full_disk_and_dataset_scripts(dataset_hub):
    from core.data import hub_datasets

    said = []
    with pytest.raises(TuneDeckError) as err:
        hub_datasets.load(SQL_DATASET, endpoint="http://127.0.0.1:9")  # nothing listens on port 9
    assert err.value.message.startswith(f"cannot reach http://127.0.0.1:9 to read {SQL_DATASET}")
    assert "--endpoint https://hf-mirror.com" in err.value.hint
    assert len(load(dataset_hub)) == SQL_ROWS
    copy = hub_datasets.load(SQL_DATASET, endpoint="http://127.0.0.1:9", progress=lambda m, *a: said.append(m))
    assert len(copy) == SQL_ROWS and copy.details["offline"]  # as load_dataset does offline: the cached copy
    assert "cannot be reached: using the copy" in said[-1]

    dataset_hub.state.add_dataset("acme/huge", {"README.md": SQL_CARD, "huge.json": json.dumps(sql_rows(10))})
    dataset_hub.state.claimed_sizes["huge.json"] = 10**15  # the hub says 1 PB: no disk has that free
    with pytest.raises(TuneDeckError) as err:
        load(dataset_hub, "acme/huge")
    assert "not enough disk space for acme/huge" in err.value.message and "HF_HUB_CACHE" in err.value.hint
    assert not dataset_hub.state.gets("huge.json")

    dataset_hub.state.add_dataset(
        "acme/scripted", {"README.md": SQL_CARD, "scripted.py": "import os\n", "data.json": "[]"}
    )
    with pytest.raises(TuneDeckError) as err:
        load(dataset_hub, "acme/scripted")
    assert "dataset script (scripted.py)" in err.value.message and "trust_remote_code" in err.value.message
    assert not [p for m, p, h in dataset_hub.state.requests if "acme/scripted/resolve" in p]  # nothing fetched


def test_a_sample_streams_instead_of_downloading_the_split(dataset_hub, tmp_path):
    from core.data.build import BuildSpec, build
    from core.data.hub_datasets import STREAM_ABOVE, should_stream

    add_two_configs(dataset_hub)
    manifest = build(
        BuildSpec(source="acme/two-configs", config="hard", out=str(tmp_path / "s"), split="40,5,5", stream=True),
        hub={"endpoint": dataset_hub.url},
    )
    assert manifest["streamed"] is True and manifest["counts"] == {"train": 40, "valid": 5, "test": 5}
    assert manifest["source_rows"] == 60  # the 50 asked for and a few spare, not the split's 150
    assert not snapshot(tmp_path, "acme/two-configs").joinpath("hard").exists()  # read, not cached

    big = {"data/train.parquet": STREAM_ABOVE + 1}
    assert should_stream(1000, list(big), big, None)
    assert not should_stream(None, list(big), big, None)  # no sample: everything is needed
    assert not should_stream(1000, list(big), big, False)
    assert not should_stream(1000, ["all.json"], {"all.json": STREAM_ABOVE + 1}, None)  # a JSON list is read whole


def test_the_cli_builds_the_seed_with_a_progress_line_and_names_its_flags(dataset_hub, tmp_path, capsys):
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_TOKEN")}
    # (HF_ENDPOINT too: nothing in the child may fall back to the real hub)
    env.update(TUNEDECK_HOME=str(tmp_path / "home"), HF_ENDPOINT=dataset_hub.url)

    out = tmp_path / "sql"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui",
            "data",
            "build",
            SQL_DATASET,
            "--split",
            "100,25,25",
            "--out",
            str(out),
            "--endpoint",
            dataset_hub.url,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    size = len(dataset_hub.state.datasets[SQL_DATASET].files[SQL_FILE])
    from core.models.model_info import format_size

    assert f"{SQL_DATASET}: {format_size(size)} / {format_size(size)} (100%)" in proc.stdout
    assert "files 1/1" in proc.stdout and "wrote" in proc.stdout
    assert json.loads((out / "tunedeck.json").read_text())["hf_split"] == "train"

    add_two_configs(dataset_hub)  # a failure, in-process: the same main() the console script runs
    from tui.cli import main

    assert main(["data", "inspect", "acme/two-configs", "--endpoint", dataset_hub.url]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "error: acme/two-configs has 2 configs and none is the default: easy, hard" in err
    assert "fix: choose one with --config NAME" in err
