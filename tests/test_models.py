"""Model downloads through the real huggingface_hub code path, against a
stand-in hub on 127.0.0.1 (tests/hub_standin.py); cache scan; curated list;
doctor's endpoint, token and model checks; the ``models`` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import hub_standin
import pytest
from hub_standin import GOOD_TOKEN, REPO, USER, WEIGHTS

from core.runtime import events as ev
from core.runtime import paths
from core.runtime.errors import Cancelled, TuneDeckError

hub = hub_standin.hub  # the stand-in hub fixture, served on 127.0.0.1


def download(hub, repo=REPO, **kw):
    from core.models.hub import download_model

    return download_model(repo, endpoint=hub.url, **kw)


def test_download_reports_progress_and_lands_in_the_cache(hub, engine, recorder, tmp_path):
    job = engine.download_model(REPO, endpoint=hub.url)
    path = job.result(timeout=60)
    assert path.startswith(str(tmp_path / "hf-cache" / "models--tunedeck--demo-remote" / "snapshots"))
    names = sorted(os.listdir(path))
    assert {"config.json", WEIGHTS, "tokenizer.json", "tokenizer_config.json"} <= set(names)
    assert "README.md" not in names  # only the files mlx-lm needs
    progress = recorder.of(ev.DownloadProgress, job)
    assert progress, "no progress events"
    last = progress[-1]
    size = sum(os.path.getsize(os.path.join(path, n)) for n in names)
    assert last.done == last.total == size
    assert last.files_done == last.files_total == len(names)
    assert "tunedeck-download" in recorder.threads or any(t.startswith("ThreadPool") for t in recorder.threads)
    assert recorder.of(ev.JobFinished, job)[0].result == path


def test_a_dropped_connection_resumes_with_a_range_request(hub):
    hub.state.drop_once.add(WEIGHTS)
    path = download(hub)
    gets = hub.state.gets(WEIGHTS)
    assert len(gets) == 2 and "Range" not in gets[0]
    assert gets[1]["Range"].startswith("bytes=") and gets[1]["Range"] != "bytes=0-"
    original = hub.state.repos[REPO].files[WEIGHTS]
    assert (path / WEIGHTS).read_bytes() == original


def test_cancel_then_download_again_resumes_without_refetching(hub):
    from core.models.model_info import cached_models

    hub.state.delay = 0.05  # slow weights, so the cancel lands mid-file
    cancel = threading.Event()

    def on_progress(event):
        # Past all the small files (~56 kB) and a few chunks into the weights.
        if isinstance(event, ev.DownloadProgress) and (event.done or 0) > 200_000:
            cancel.set()

    with pytest.raises(Cancelled):
        download(hub, on_progress=on_progress, cancel=cancel)
    [partial] = cached_models()
    assert not partial.complete and "download again" in partial.problem  # listed, never selectable
    kept = set(os.listdir(partial.path))
    assert WEIGHTS not in kept and {"config.json", "tokenizer.json"} <= kept
    hub.state.delay = 0
    hub.state.requests.clear()
    path = download(hub)
    refetched = {p.rsplit("/", 1)[-1] for m, p, h in hub.state.requests if m == "GET" and "/resolve/" in p}
    assert WEIGHTS in refetched
    assert not kept & refetched  # finished files are kept, not fetched again
    [done] = cached_models()
    assert done.complete and done.path == str(path)


def test_not_found_and_login_errors_say_what_to_do(hub):
    with pytest.raises(TuneDeckError) as err:
        download(hub, repo="nobody/missing-model")
    assert "was not found" in err.value.message and "404" in err.value.message
    assert "spelling" in err.value.hint

    hub.state.add_folder("acme/private-model", _demo_dir(hub), private=True)
    with pytest.raises(TuneDeckError) as err:
        download(hub, repo="acme/private-model")
    assert "401" in err.value.message and "login" in err.value.message
    assert "hf auth login" in err.value.hint and "HF_TOKEN" in err.value.hint

    path = download(hub, repo="acme/private-model", token=GOOD_TOKEN)  # a login fixes it
    assert (path / WEIGHTS).is_file()

    with pytest.raises(TuneDeckError) as err:
        download(hub, repo=REPO, token="hf_wrong")
    assert "token was rejected" in err.value.message


def _demo_dir(hub):
    from core.runtime import paths

    return paths.demo_model_dir()


def test_gated_no_network_and_disk_full_messages(hub, tmp_path):
    hub.state.add_folder("acme/gated-model", _demo_dir(hub), gated=True)
    with pytest.raises(TuneDeckError) as err:
        download(hub, repo="acme/gated-model")
    assert "gated" in err.value.message and "accept" in err.value.hint

    from core.models.hub import download_model

    with pytest.raises(TuneDeckError) as err:
        download_model(REPO, endpoint="http://127.0.0.1:9")  # nothing listens on port 9
    assert "cannot reach http://127.0.0.1:9" in err.value.message and "hf-mirror.com" in err.value.hint

    hub.state.claimed_sizes[WEIGHTS] = 10**15  # the hub says 1 PB: no disk has that free
    with pytest.raises(TuneDeckError) as err:
        download(hub)
    assert "not enough disk space" in err.value.message and "HF_HUB_CACHE" in err.value.hint
    from core.models.model_info import cached_models

    assert cached_models() == []  # nothing half-registered


def test_search_lists_only_models_mlx_lm_can_load(hub):
    from core.models.hub import search_models

    hub.state.add_folder("acme/demo-bert", _demo_dir(hub), downloads=7)
    hub.state.repos["acme/demo-bert"].config = {"model_type": "bert"}
    found = search_models("demo", endpoint=hub.url)
    assert [m.repo_id for m in found] == [REPO]
    assert found[0].downloads == 42 and found[0].parameters == 164_416 and found[0].size_bytes == 4 * 164_416
    assert search_models("no-such-thing", endpoint=hub.url) == []


def test_cache_scan_reads_name_size_params_arch(hub, demo_model):
    from core.models.model_info import cached_models, local_models

    path = download(hub)
    [info] = cached_models()
    assert (info.name, info.repo_id, info.path) == (REPO, REPO, str(path))
    assert info.model_type == "qwen2" and info.supported and info.complete and info.bits is None
    assert info.parameters == 164_416 and info.size_bytes > 600_000
    assert info.layers == 2 and info.hidden_size == 64
    assert info.estimate(16 * 2**30).verdict == "fits"
    assert any(m.source == "demo" and m.path == str(paths.demo_model_dir()) for m in local_models())


def test_mlx_lm_support_is_found_without_importing_mlx():
    code = (
        "import sys; from core.models.mlx_lm_support import mlx_lm_supports as s; "
        "print(s('qwen2'), s('llama'), s('mistral'), s('bert'), "
        "[m for m in sys.modules if m.split('.')[0] in ('mlx', 'mlx_lm')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True True True False []"


def test_memory_estimate_and_curated_list():
    from core.models.curated import CURATED, find
    from core.runtime.memory import FITS, TIGHT, WONT_FIT, judge, verdict

    assert verdict(4 * 2**30, 16 * 2**30) == FITS
    assert verdict(10 * 2**30, 16 * 2**30) == TIGHT
    assert verdict(14 * 2**30, 16 * 2**30) == WONT_FIT
    assert verdict(1, None) == "?"
    # One verdict for estimates and measured peaks: a probe's budget of 12 GiB (a 16 GiB Mac's
    # working set) judges a need as the estimate does on that machine.
    for need in (9.5, 9.7, 11.3, 11.5):
        assert judge(need * 2**30, 12 * 2**30) == verdict(need * 2**30, 16 * 2**30)
    assert [judge(n * 2**30, 12 * 2**30) for n in (9.5, 9.7, 11.5)] == [FITS, TIGHT, WONT_FIT]
    big, small = find("Qwen/Qwen2.5-7B-Instruct"), find("mlx-community/Qwen2.5-7B-Instruct-4bit")
    assert small.download_bytes < big.download_bytes / 3  # 4-bit weights (QLoRA)
    assert small.estimate(16 * 2**30).need_bytes < big.estimate(16 * 2**30).need_bytes
    assert big.estimate(8 * 2**30).verdict == WONT_FIT
    assert find("Qwen/Qwen2.5-0.5B-Instruct").estimate(8 * 2**30).verdict == FITS
    sizes = {c.repo_id for c in CURATED}
    assert {f"Qwen/Qwen2.5-{s}-Instruct" for s in ("0.5B", "1.5B", "3B", "7B")} <= sizes


def test_endpoint_setting_whoami_and_doctor_model_checks(hub, demo_model, monkeypatch):
    from core.models.hub import resolve_endpoint, save_endpoint
    from core.runtime import app_config
    from core.runtime.doctor import check_disk, check_hub, check_memory, check_token, model_for

    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    try:
        assert save_endpoint(hub.url) == hub.url
        assert resolve_endpoint() == (hub.url, "app settings")
        assert check_hub().status == "pass"
        with pytest.raises(TuneDeckError):
            save_endpoint("not a url")
        monkeypatch.setenv("HF_TOKEN", GOOD_TOKEN)
        token = check_token(verify=True)
        assert token.detail == f"logged in as {USER} (token from HF_TOKEN)"
        monkeypatch.setenv("HF_TOKEN", "hf_wrong_secret")
        token = check_token(verify=True)
        assert token.status == "warn" and "rejected" in token.detail and "secret" not in json.dumps(token.__dict__)
    finally:
        app_config.update(hf_endpoint=None)
    assert resolve_endpoint()[1] == "default"
    model = model_for(demo_model)
    assert "LoRA on tunedeck-demo needs" in check_memory(model).detail
    assert check_disk(model).status == "pass"


def tunedeck(*args, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "tui", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_models_cli_download_list_and_search(hub, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    proc = tunedeck("models", "download", REPO, "--endpoint", hub.url, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert any("100%" in line and "files 7/7" in line for line in lines), lines
    assert lines[-1].startswith(str(tmp_path / "hf-cache")) and os.path.isdir(lines[-1])

    proc = tunedeck("models", "--json", env=env)
    report = json.loads(proc.stdout)
    assert {"memory_bytes", "local", "curated"} <= set(report)
    [remote] = [m for m in report["local"] if m["repo_id"] == REPO]
    assert remote["parameters"] == 164_416 and remote["supported"] and remote["complete"]
    assert all(c["fit"] in ("fits", "tight", "won't fit", "?") for c in report["curated"])

    proc = tunedeck("models", "search", "demo", "--endpoint", hub.url, env=env)
    assert proc.returncode == 0 and proc.stdout.startswith(f"{REPO}  42 downloads")

    proc = tunedeck("models", "download", "nobody/missing", "--endpoint", hub.url, env=env)
    assert proc.returncode == 1 and "was not found" in proc.stderr and "Traceback" not in proc.stderr


def test_progress_and_cancel_come_every_mebibyte_not_every_10(hub, monkeypatch):
    import struct

    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 10 * 1024 * 1024)  # the library's default
    size = 3 * 1024 * 1024
    header = json.dumps({"w": {"dtype": "F32", "shape": [size // 4], "data_offsets": [0, size]}}).encode()
    hub.state.repos[REPO].files[WEIGHTS] = struct.pack("<Q", len(header)) + header + bytes(size)
    hub.state.delay = 0.01  # ~0.5 s for the 3 MiB, so the 0.1 s throttle lets each update through
    events = []
    download(hub, on_progress=events.append)
    progress = [e for e in events if isinstance(e, ev.DownloadProgress)]
    midway = {e.done for e in progress if 0 < e.done < progress[-1].total}
    assert len(midway) >= 2, midway  # one update per MiB read (10 MiB reads: none until the end)


def test_a_damaged_cache_entry_is_listed_and_a_download_repairs_it(hub):
    from core.models.model_info import cached_models

    path = download(hub)
    (path / WEIGHTS).resolve().unlink()  # the blob is gone, the snapshot's link dangles
    [info] = cached_models()
    assert info.repo_id == REPO and not info.complete and "damaged" in info.problem
    download(hub)
    [info] = cached_models()
    assert info.complete and info.parameters == 164_416


def test_a_typed_path_that_is_not_a_model_is_refused_without_reading_it_all(tmp_path):
    from core.models.model_info import inspect_folder

    (tmp_path / "notes.txt").write_text("x" * 5000)
    info = inspect_folder(tmp_path)
    assert not info.complete and "no config.json" in info.problem
    assert info.size_bytes == 0  # not sized: a typed "/" would walk the whole disk
    info = inspect_folder(tmp_path / "notes.txt")
    assert info.problem == f"{tmp_path / 'notes.txt'} is a file, not a model folder"


def test_search_and_endpoint_messages_name_what_was_being_done():
    from core.models.hub import explain, search_models

    err = explain(ConnectionRefusedError("Connection refused"), "qwen", "http://mirror", "search for 'qwen'")
    assert err.message == "cannot reach http://mirror to search for 'qwen' (Connection refused)"
    with pytest.raises(TuneDeckError, match="not an endpoint URL"):
        search_models("qwen", endpoint="not a url")


def test_mlx_lm_tables_are_read_from_the_installed_mlx_lm_not_copied():
    import mlx_lm.utils

    from core.models.mlx_lm_support import mlx_lm_constant, mlx_lm_supports, model_patterns

    assert mlx_lm_constant("MODEL_REMAPPING") == mlx_lm.utils.MODEL_REMAPPING
    assert model_patterns() == list(mlx_lm.utils.DEFAULT_ALLOW_PATTERNS)
    for model_type in mlx_lm.utils.MODEL_REMAPPING:  # every remapped type mlx-lm loads
        assert mlx_lm_supports(model_type), model_type
    assert not mlx_lm_supports("not_a_model_type")


def test_starting_settings_follow_the_weights_share_of_memory(tmp_path):
    from core.runtime.memory import ROOMY_WEIGHTS_SHARE, SNUG_WEIGHTS_SHARE
    from core.training.settings import default_settings

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "qwen2", "num_hidden_layers": 6}))
    (model / "model.safetensors").write_bytes(b"\0" * 1000)
    shapes = {}
    for share in (ROOMY_WEIGHTS_SHARE / 2, (ROOMY_WEIGHTS_SHARE + SNUG_WEIGHTS_SHARE) / 2, SNUG_WEIGHTS_SHARE * 2):
        s = default_settings(str(model), "data", "", memory_bytes=int(1000 / share))
        shapes[share] = (s.batch_size, s.num_layers, s.grad_checkpoint)
    assert list(shapes.values()) == [(4, 6, False), (2, 6, False), (1, 4, True)]  # layers capped at the model's 6
