"""Fault suite: bad configs and bad model folders. Each gets a message that
names the problem (with file:line where there is one), never a traceback,
in bounded time and memory; a model's own Python code never runs."""

from __future__ import annotations

import json
import shutil
import time
import tracemalloc

import pytest
from ui_helpers import at_step

from core.models.model_folder import check_model_folder
from core.runtime.errors import TuneDeckError
from core.training.settings import load_yaml

SECONDS = 10  # generous bounds, not benchmarks
PEAK_BYTES = 64 * 2**20

BOMB = "".join(
    f"{a}: &{a} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
    for p, a in zip([None, *"abcdefgh"], "abcdefghi")
)  # 9^9 "lol"s from ~400 bytes

CONFIGS = [
    # (name, text, expected message, line or None)
    ("unknown key", "model: m\nlearning_rat: 1e-5\n", "unknown key 'learning_rat'", 2),
    ("wrong type", "iters: ten\n", "iters should be int, not str", 1),
    ("out of range", "batch_size: -4\n", "batch_size must be at least 1 (got -4)", 1),
    ("val_batches 0", "val_batches: 0\n", "val_batches must be -1 (the whole validation set) or at least 1", 1),
    ("duplicate key", "iters: 10\nbatch_size: 2\niters: 20\n", "duplicate key 'iters' (lines 1 and 3)", 3),
    ("duplicate nested", "lora_parameters:\n  rank: 8\n  rank: 16\n", "duplicate key 'rank' (lines 2 and 3)", 3),
    ("YAML bomb", BOMB, "anchors and aliases (&name, *name) are not allowed", 1),
    ("deep nesting", "x: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 20 levels", 1),
    ("too many values", "x: [" + ", ".join(["1"] * 6000) + "]\n", "more than 5,000 values", 1),
    ("NUL byte", "iters: 1\x00\n", "the character '\\x00' (U+0000) is not allowed", 1),
    (
        "bad betas",
        "optimizer: adamw\noptimizer_config:\n  adamw:\n    betas: [0.9, 1.5]\n",
        "adamw betas must be two numbers in [0, 1) (got [0.9, 1.5])",
        4,
    ),
    ("betas not a list", "optimizer_config:\n  adam:\n    betas: fast\n", "adam betas must be two numbers", 3),
    ("negative seed", "seed: -1\n", "seed must be a whole number from 0 to 4294967295", 1),
    ("seed too large", "seed: 99999999999\n", "seed must be a whole number from 0 to 4294967295", 1),
    (
        "schedule arguments",
        "lr_schedule:\n  name: cosine_decay\n  arguments: 1e-5\n",
        "lr_schedule arguments must be a list of numbers",
        3,
    ),
    (
        "negative warmup",
        "lr_schedule:\n  name: cosine_decay\n  arguments: [1e-5, 100]\n  warmup: -5\n",
        "lr_schedule warmup must be a whole number of steps >= 0",
        4,
    ),
    (
        "unknown schedule key",
        "lr_schedule:\n  name: cosine_decay\n  arguments: [1e-5, 100]\n  warm_up: 5\n",
        "unknown lr_schedule key 'warm_up'",
        1,
    ),
    ("huge integer", "iters: " + "9" * 5000 + "\n", "a number of more than 4300 digits", None),
    ("lora keys", "lora_parameters:\n  keys: 5\n", "lora_parameters keys should be a list of layer names", 1),
    ("remote code", "trust_remote_code: true\n", "TuneDeck never runs a model's own Python code", 1),
    (
        "python tag",
        "model: !!python/object/apply:os.system ['touch /tmp/pwned']\n",
        "could not determine a constructor",
        1,
    ),
]


def _bounded(fn):
    """Run ``fn``; return its exception, after asserting time and memory bounds."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        fn()
    except Exception as exc:  # noqa: BLE001
        raised = exc
    else:
        raised = None
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert seconds < SECONDS and peak < PEAK_BYTES, (seconds, peak)
    return raised


@pytest.mark.parametrize("name,text,message,line", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_bad_config_is_refused_with_file_line_and_fix(tmp_path, name, text, message, line):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    err = _bounded(lambda: load_yaml(path))
    assert isinstance(err, TuneDeckError), repr(err)
    assert message in err.message and err.hint
    assert err.where == (f"{path}:{line}" if line else str(path))


def test_oversized_and_non_utf8_configs(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.truncate(50 * 2**20)  # 50 MB (sparse): refused before it is read
    err = _bounded(lambda: load_yaml(big))
    assert isinstance(err, TuneDeckError) and "is 50.0 MB: far too large for a training config" in err.message
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("model: m\ndata: caf\xe9\n".encode("latin-1"))
    err = _bounded(lambda: load_yaml(latin))
    assert isinstance(err, TuneDeckError) and err.where == f"{latin}:2"
    assert "not UTF-8: byte 0xe9 at byte 18 (line 2, column 10)" in err.message
    (tmp_path / "dir.yaml").mkdir()
    assert "is not a file" in str(_bounded(lambda: load_yaml(tmp_path / "dir.yaml")))


def test_schedule_and_optimizer_are_built_as_training_will(tmp_path):
    # Checks only mlx can make (argument counts, parameter names), on the worker.
    from core.training.settings import TrainSettings, check_settings

    def refused(**kw):
        with pytest.raises(TuneDeckError) as err:
            check_settings(TrainSettings(model="", data="", **kw), deep=True)
        return err.value.message

    assert "cosine_decay takes (init, decay_steps, end), not 5" in refused(
        lr_schedule={"name": "cosine_decay", "arguments": [1e-5, 100, 0, 4, 5]}
    )
    assert "unknown lr_schedule 'nope'" in refused(lr_schedule={"name": "nope", "arguments": [1e-5]})
    assert "adamw takes betas, eps, weight_decay" in refused(
        optimizer="adamw", optimizer_config={"adamw": {"beta": [0.9, 0.99]}}
    )
    check_settings(
        TrainSettings(
            model="",
            data="",
            optimizer="adam",
            lr_schedule={"name": "cosine_decay", "arguments": [1e-5, 100], "warmup": 10},
        ),
        deep=True,
    )


def test_cli_says_what_is_wrong_with_a_config_without_a_traceback(cli, tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    proc = cli("train", "-c", bomb)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"error: {bomb}:1: not valid YAML (anchors and aliases" in proc.stderr


# -- model folders -------------------------------------------------------------------
def _copy(demo_model, tmp_path, name):
    folder = tmp_path / name
    shutil.copytree(demo_model, folder)
    return folder


def _no_config(f):
    (f / "config.json").unlink()


def _broken_json(f):
    (f / "config.json").write_text('{"model_type": "qwen2", "hidden_size": 64,\n')


def _unsupported(f):
    cfg = json.loads((f / "config.json").read_text())
    (f / "config.json").write_text(json.dumps({**cfg, "model_type": "made_up_arch"}))


def _truncated(f):
    weights = f / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _no_tokenizer(f):
    (f / "tokenizer.json").unlink()


def _only_bin(f):
    (f / "model.safetensors").rename(f / "pytorch_model.bin")


def _missing_shard(f):
    (f / "model.safetensors").rename(f / "model-00001-of-00002.safetensors")
    (f / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})
    )


MODEL_FOLDERS = [
    ("no config.json", _no_config, "has no config.json"),
    ("broken config.json", _broken_json, "config.json is not valid JSON"),
    ("unsupported architecture", _unsupported, "the installed mlx-lm has no model type 'made_up_arch'"),
    ("truncated safetensors", _truncated, "model.safetensors in"),
    ("no tokenizer", _no_tokenizer, "has no tokenizer"),
    ("only a .bin", _only_bin, "has only pytorch_model.bin weights; mlx-lm reads *.safetensors"),
    ("missing shard", _missing_shard, "lacks 1 weight file(s) its index lists"),
]


@pytest.mark.parametrize("name,breaks,message", MODEL_FOLDERS, ids=[c[0] for c in MODEL_FOLDERS])
def test_broken_model_folder_is_named_before_loading(demo_model, engine, tmp_path, name, breaks, message):
    folder = _copy(demo_model, tmp_path, "broken")
    breaks(folder)
    err = _bounded(lambda: check_model_folder(folder))
    assert isinstance(err, TuneDeckError) and message in err.message and err.hint
    # Loading it for chat says the same, and no adapter means no adapter hint.
    started = time.perf_counter()
    with pytest.raises(TuneDeckError) as loaded:
        engine.load_chat_model(str(folder)).result(timeout=60)
    assert time.perf_counter() - started < SECONDS
    assert message in loaded.value.message and "trained on" not in loaded.value.hint


def test_a_truncated_safetensors_is_called_cut_short(demo_model, tmp_path):
    folder = _copy(demo_model, tmp_path, "cut")
    _truncated(folder)
    with pytest.raises(TuneDeckError, match=r"is cut short \([\d,]+ of [\d,]+ bytes\)") as err:
        check_model_folder(folder)
    assert "download the model again" in err.value.hint


def test_an_adapter_that_does_not_fit_gets_the_adapter_hint(demo_model, engine, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(
        json.dumps(
            {"fine_tune_type": "lora", "num_layers": 2, "lora_parameters": {"rank": 4, "scale": 20.0, "dropout": 0.0}}
        )
    )

    def write_wrong_shapes():
        import mlx.core as mx

        mx.save_safetensors(
            str(adapter / "adapters.safetensors"), {"model.layers.0.self_attn.q_proj.lora_a": mx.zeros((13, 4))}
        )

    engine.worker.call(write_wrong_shapes)
    with pytest.raises(TuneDeckError) as err:
        engine.load_chat_model(demo_model, str(adapter)).result(timeout=60)
    assert f"the adapter in {adapter} does not fit tunedeck-demo" in err.value.message
    assert err.value.hint == "use the adapter with the base model it was trained on"


def test_doctor_says_a_missing_model_is_missing(cli, tmp_path):
    proc = cli("doctor", "--offline", "--model", tmp_path / "nope")
    assert proc.returncode == 1 and "ready to train" not in proc.stdout.replace("NOT ready to train", "")
    assert f"[FAIL] Model folder: model folder not found: {tmp_path / 'nope'}" in proc.stdout


def test_remote_code_never_runs(demo_model, engine, tmp_path):
    """A folder whose config and tokenizer ask for their own Python code:
    the code would leave a marker file if it ran; it never does."""
    folder = _copy(demo_model, tmp_path, "remote")
    marker = tmp_path / "remote-code-ran"
    code = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
    for name in ("modeling_evil.py", "configuration_evil.py", "tokenization_evil.py"):
        (folder / name).write_text(code)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["auto_map"] = {"AutoConfig": "configuration_evil.EvilConfig", "AutoModelForCausalLM": "modeling_evil.Evil"}
    (folder / "config.json").write_text(json.dumps(cfg))
    tok = json.loads((folder / "tokenizer_config.json").read_text())
    tok["auto_map"] = {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}
    tok["tokenizer_class"] = "EvilTokenizer"
    (folder / "tokenizer_config.json").write_text(json.dumps(tok))
    try:
        engine.load_chat_model(str(folder)).result(timeout=60)
    except TuneDeckError as exc:  # refusing is fine; running the code is not
        assert "Traceback" not in str(exc)
    assert not marker.exists()


# -- counts: positive whole numbers (or all), said in the interface's words -----------
@pytest.mark.parametrize(
    "argv,flag",
    [
        (["eval", "--model", "m", "--data", "d", "--task-score", "-2"], "--task-score"),
        (["train", "--iters", "-5"], "--iters"),
        (["train", "--val-batches", "0"], "--val-batches"),
        (["data", "build", "sample", "--out", "o", "--sample", "0"], "--sample"),
        (["data", "inspect", "x.csv", "--rows", "abc"], "--rows"),
        (["chat", "--model", "m", "--max-tokens", "0"], "--max-tokens"),
    ],
    ids=lambda v: v if isinstance(v, str) else v[0],
)
def test_cli_counts_are_checked_and_the_flag_named(capsys, argv, flag):
    from tui.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"argument {flag}: must be a whole number of at least" in err


def test_tui_counts_are_refused_with_the_fields_name(demo_model, sample_data, tmp_path):
    import asyncio

    from core.data.sources import open_source
    from tui.screens.results import ResultsScreen

    async def run():
        async with at_step("train", model_path=demo_model, data_dir=sample_data) as (app, pilot, notes):
            await pilot.press("j")
            screen = app.screen
            assert isinstance(screen, ResultsScreen)
            screen.query_one("#task-n").value = "-2"
            await pilot.press("e")
            await pilot.pause(0.1)
            assert screen.job is None  # not "all examples", silently
            assert any("Task score: '-2' is not a count" in n.message for n in notes)
            app.pop_screen()
            app.go("data")
            await pilot.pause(0.2)
            data = app.screen
            csv = tmp_path / "qa.csv"
            csv.write_text("question,answer\nq1,a1\nq2,a2\n")
            data.source = open_source(str(csv))  # the fields are checked before any build starts
            data.query_one("#sample").value = "-3"
            data.action_write()
            await pilot.pause(0.1)
            assert "sample rows: '-3' is not a count" in str(data.query_one("#split-info").content)  # by the box
            assert "Building" not in str(data.query_one("#status").content)

    asyncio.run(run())
