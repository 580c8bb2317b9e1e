"""Judge and ship on the demo model: eval vs the real mlx_lm CLI, fuse +
verify, atomic fuse, LM Studio layout (with a GGUF beside it), GGUF for llama."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.evaluation.judge import EVAL_FILE, EvalSettings, JudgeResult, load_results, results_dir
from core.runtime import events as ev
from core.runtime.errors import Cancelled, TuneDeckError


@pytest.fixture(scope="module")
def tuned(engine, demo_model, sample_data, tmp_path_factory):
    """A run folder (as training writes it) with a 20-iteration adapter."""
    from core.training.settings import demo_settings

    run = tmp_path_factory.mktemp("run")
    adapters = run / "adapters"
    engine.train(
        demo_settings(demo_model, sample_data, str(adapters), iters=20, steps_per_eval=100, save_every=100)
    ).result(timeout=300)
    (run / "events.jsonl").write_text("")  # marks a run folder
    return str(adapters)


@pytest.fixture(scope="module")
def fused(engine, demo_model, tuned, tmp_path_factory):
    out = tmp_path_factory.mktemp("fused-parent") / "fused"
    result = engine.fuse(demo_model, tuned, str(out)).result(timeout=300)
    return str(out), result


def _mlx_lm_test(model, data, adapter):
    cmd = [
        sys.executable,
        "-m",
        "mlx_lm",
        "lora",
        "--model",
        model,
        "--data",
        data,
        "--test",
        "--adapter-path",
        adapter,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r"Test loss ([\d.]+), Test ppl ([\d.]+)\.", proc.stdout)
    assert found, proc.stdout[-2000:]
    return found.group(1), found.group(2)


@pytest.mark.slow
def test_eval_matches_mlx_lm_lora_test(engine, demo_model, sample_data, tuned, recorder):
    job = engine.evaluate(EvalSettings(model=demo_model, data=sample_data, adapter=tuned, task_examples=3))
    result = job.result(timeout=300)
    rows = {r.label: r for r in result.rows}
    assert [e.label for e in recorder.of(ev.EvalResult, job)] == ["base", "tuned"]
    for label, adapter in (("base", ""), ("tuned", tuned)):
        loss, ppl = _mlx_lm_test(demo_model, sample_data, adapter)
        assert (f"{rows[label].test_loss:.3f}", f"{rows[label].test_ppl:.3f}") == (loss, ppl), label
    assert rows["tuned"].test_loss < rows["base"].test_loss  # 20 iterations already help
    assert rows["base"].loss_examples == 100
    task = rows["tuned"].task
    assert task["n"] == 3 and task["sql_n"] == 3 and len(task["answers"]) == 3
    # Progress with done/total for the loss batches (25 of 4 examples).
    loss_steps = [p for p in recorder.of(ev.Progress, job) if p.message == "tuned: test loss"]
    assert loss_steps[-1].done == loss_steps[-1].total == 25
    # Saved in the run folder (it holds events.jsonl), readable later.
    assert Path(result.saved_to) == Path(tuned).parent / EVAL_FILE
    assert load_results(tuned) == {"kind": "eval", **json.loads(json.dumps(result.as_record()))}


def test_eval_record_keeps_its_layout():
    """eval.json's layout is the one older TuneDeck versions wrote (and read):
    the typed result's record has exactly those keys, in that order."""
    row = ev.EvalResult(
        job_id=7, label="tuned", model="m", adapter="a", test_loss=1.5, test_ppl=4.48, loss_examples=9, task=None
    )
    result = JudgeResult(
        created="2026-01-01 00:00:00",
        model="m",
        adapter="a",
        adapter_choice="last",
        adapter_iteration=20,
        adapter_record={"path": "a"},
        data="d",
        batch_size=4,
        test_batches=-1,
        task_examples=0,
        rows=[row],
        saved_to="a/eval.json",
    )
    record = result.as_record()
    assert list(record) == [
        "created",
        "model",
        "adapter",
        "adapter_choice",
        "adapter_iteration",
        "adapter_record",
        "data",
        "batch_size",
        "test_batches",
        "task_examples",
        "rows",
    ]
    assert record["rows"] == [
        {
            "label": "tuned",
            "model": "m",
            "adapter": "a",
            "test_loss": 1.5,
            "test_ppl": 4.48,
            "loss_examples": 9,
            "task": None,
        }
    ]
    assert list(record["rows"][0]) == ["label", "model", "adapter", "test_loss", "test_ppl", "loss_examples", "task"]


def test_eval_results_go_beside_a_bare_adapter(tmp_path):
    (tmp_path / "ad").mkdir()
    assert results_dir(tmp_path / "ad") == tmp_path / "ad"
    # A config.yaml of the user's own (an mlx-lm project) does not make a run folder.
    (tmp_path / "config.yaml").write_text("model: x\n")
    assert results_dir(tmp_path / "ad") == tmp_path / "ad"
    (tmp_path / "tunedeck_run.json").write_text('{"kind": "run"}\n')
    assert results_dir(tmp_path / "ad") == tmp_path


def test_eval_cancel_and_missing_test_split(engine, demo_model, sample_data, tuned, tmp_path):
    def cancel_on_first_batch(event):
        if isinstance(event, ev.Progress) and event.done:
            job.cancel()

    engine.add_listener(cancel_on_first_batch)
    try:
        job = engine.evaluate(EvalSettings(model=demo_model, data=sample_data, adapter=tuned))
        with pytest.raises(Cancelled):
            job.result(timeout=120)
    finally:
        engine.remove_listener(cancel_on_first_batch)
    shutil.copy(Path(sample_data) / "train.jsonl", tmp_path / "train.jsonl")
    with pytest.raises(TuneDeckError, match="no test.jsonl"):
        engine.evaluate(EvalSettings(model=demo_model, data=str(tmp_path))).result(timeout=120)


def test_fuse_verifies_and_loads_with_mlx_lm(engine, fused, recorder):
    out, result = fused
    assert result.verified and result.all_match, result.checks
    assert len(result.checks) == 3 and all(c.expected for c in result.checks)

    def load_fused():
        from mlx.utils import tree_flatten
        from mlx_lm import load

        model, _ = load(out)
        return [k for k, _ in tree_flatten(model.parameters())]

    names = engine.worker.call(load_fused)
    assert names and not [n for n in names if "lora" in n]
    assert json.loads((Path(out) / "tunedeck_fused.json").read_text())["dequantized"] is False
    assert not (Path(out) / "adapters.safetensors").exists()


def test_fuse_cancelled_while_writing_leaves_no_folder(engine, demo_model, tuned, tmp_path):
    out = tmp_path / "fused"

    def cancel_on_write(event):
        if isinstance(event, ev.Progress) and event.message.startswith("writing"):
            job.cancel()

    engine.add_listener(cancel_on_write)
    try:
        job = engine.fuse(demo_model, tuned, str(out), verify=False)
        with pytest.raises(Cancelled):
            job.result(timeout=120)
    finally:
        engine.remove_listener(cancel_on_write)
    assert list(tmp_path.iterdir()) == []  # neither the folder nor a temp one

    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(TuneDeckError, match="already exists"):
        engine.fuse(demo_model, tuned, str(out)).result(timeout=60)
    assert (out / "keep.txt").read_text() == "mine"


def test_lmstudio_export_layout(engine, fused, tuned, tmp_path, monkeypatch):
    out, _ = fused
    monkeypatch.setenv("LMSTUDIO_MODELS_DIR", str(tmp_path / "lms"))
    result = engine.export_lmstudio(out, name="sql-demo").result(timeout=60)
    target = tmp_path / "lms" / "tunedeck" / "sql-demo"
    assert result.path == str(target)
    assert result.files == len([p for p in Path(out).iterdir() if p.is_file() and not p.name.startswith(".")])
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        assert (target / name).is_file()
    assert list(target.glob("*.safetensors"))
    assert sorted(p.name for p in (tmp_path / "lms").iterdir()) == ["tunedeck"]  # no temp left
    with pytest.raises(TuneDeckError, match="already exists"):
        engine.export_lmstudio(out, name="sql-demo").result(timeout=60)
    with pytest.raises(TuneDeckError, match="fuse it first"):
        engine.export_lmstudio(tuned).result(timeout=60)
    with pytest.raises(TuneDeckError, match="cannot be a folder name"):
        engine.export_lmstudio(out, name="../escape").result(timeout=60)


def _llama_folder(demo_model: str, dst: Path) -> str:
    """A tiny Llama (an architecture mlx-lm writes GGUF for), demo tokenizer."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models import llama

    dst.mkdir()
    cfg = json.loads((Path(demo_model) / "config.json").read_text())
    cfg.update(model_type="llama", architectures=["LlamaForCausalLM"])
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(Path(demo_model) / name, dst / name)
    (dst / "config.json").write_text(json.dumps(cfg))
    mx.random.seed(0)
    weights = dict(tree_flatten(llama.Model(llama.ModelArgs.from_dict(cfg)).parameters()))
    mx.save_safetensors(str(dst / "model.safetensors"), weights)
    return str(dst)


def test_gguf_for_a_llama_model(engine, demo_model, tmp_path):
    folder = engine.worker.call(_llama_folder, demo_model, tmp_path / "llama")
    result = engine.export_gguf(folder, str(tmp_path / "out.gguf")).result(timeout=120)
    assert result.bytes > 0 and all(c.ok for c in result.checks)
    assert result.pre_tokenizer == "gpt-2"  # the demo tokenizer's own split rules, loaded as-is for llama

    def read():
        import mlx.core as mx

        weights, meta = mx.load(str(tmp_path / "out.gguf"), return_metadata=True)
        return sorted(weights), meta["general.architecture"]

    names, arch = engine.worker.call(read)  # MLX reads the file too
    assert arch == "llama" and "blk.0.attn_q.weight" in names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["llama", "out.gguf"]  # no temp left


def test_cli_eval_fuse_export(cli, demo_model, sample_data, tuned, fused, tmp_path):
    tunedeck = cli

    proc = tunedeck(
        "eval", "--model", demo_model, "--adapter", tuned, "--data", sample_data, "--task-score", "2", "--no-base"
    )
    assert proc.returncode == 0, proc.stderr
    assert re.search(
        r"^tuned: test loss [\d.]+, test ppl [\d.]+, exact \d+%, valid SQL \d+%, "
        r"exec match \d+% \(N=2\)$",
        proc.stdout,
        re.M,
    ), proc.stdout
    assert "\x1b[" not in proc.stdout

    out, _ = fused
    (tmp_path / "lms").mkdir()  # a chosen LM Studio folder must exist
    proc = tunedeck(
        "export",
        "--model",
        out,
        "--lmstudio",
        "--lmstudio-root",
        str(tmp_path / "lms"),
        "--name",
        "sql",
        "--with-gguf",
        "--gguf-type",
        "q8_0",
    )
    assert proc.returncode == 0, proc.stderr
    gguf_file = tmp_path / "lms" / "tunedeck" / "sql-GGUF" / "sql-q8_0.gguf"  # beside the MLX layout
    assert (tmp_path / "lms" / "tunedeck" / "sql" / "config.json").is_file() and gguf_file.is_file()
    assert f"wrote {gguf_file}" in proc.stdout and "pre-tokenizer 'qwen2'" in proc.stdout
    assert "checked: tokenization of" in proc.stdout and "runtime check skipped" in proc.stdout
    proc = tunedeck("export", "--model", out, "--gguf", str(gguf_file))
    assert proc.returncode == 1 and "already exists" in proc.stderr and "--overwrite" in proc.stderr

    proc = tunedeck("fuse", "--model", demo_model, "--adapter", tuned, "--out", out)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and "already exists" in proc.stderr


def test_fuse_on_a_quantized_base_reports_honestly(engine, demo_model, sample_data, tmp_path):
    """QLoRA: fusing into re-quantized weights may change answers (reported,
    not raised); --dequantize gives a full-precision model that matches."""
    from core.training.settings import demo_settings

    def quantize():
        from mlx_lm import convert

        convert(demo_model, str(tmp_path / "q4"), quantize=True, q_group_size=32, q_bits=4)

    engine.worker.call(quantize)
    adapters = str(tmp_path / "run" / "adapters")
    engine.train(
        demo_settings(str(tmp_path / "q4"), sample_data, adapters, iters=5, steps_per_eval=100, save_every=100)
    ).result(timeout=300)
    plain = engine.fuse(str(tmp_path / "q4"), adapters, str(tmp_path / "fused")).result(timeout=300)
    assert plain.quantized_base and "re-quantized" in plain.note
    assert len(plain.checks) == 3  # match or not, each prompt is reported
    exact = engine.fuse(str(tmp_path / "q4"), adapters, str(tmp_path / "fused-dq"), dequantize=True).result(timeout=300)
    assert exact.all_match and exact.note == ""
    config = json.loads((tmp_path / "fused-dq" / "config.json").read_text())
    assert "quantization" not in config and "quantization_config" not in config


def test_export_name_and_bad_eval_input(engine, demo_model, sample_data, tuned, tmp_path):
    """Every run's fused folder is called fused: the export is named after
    the run. Nonsense eval numbers and a run folder given as the adapter are
    refused with a fix before anything loads."""
    from core.shipping.gguf import unsupported
    from core.shipping.lmstudio import default_name

    (tmp_path / "run1" / "fused").mkdir(parents=True)
    assert default_name(tmp_path / "run1" / "fused") == "fused"  # not a run folder (yet)
    (tmp_path / "run1" / "events.jsonl").write_text("")
    assert default_name(tmp_path / "run1" / "fused") == "run1"
    assert default_name(tmp_path / "run1") == "run1"
    assert unsupported(demo_model) is None and unsupported(tmp_path) is None  # qwen2; no config: export says

    for kw, match in (
        ({"batch_size": 0}, "batch size must be at least 1"),
        ({"test_batches": 0}, "test batches must be -1"),
    ):
        with pytest.raises(TuneDeckError, match=match):
            engine.evaluate(EvalSettings(model=demo_model, data=sample_data, adapter=tuned, **kw)).result(60)
    with pytest.raises(TuneDeckError, match="is a run folder") as err:
        engine.evaluate(EvalSettings(model=demo_model, data=sample_data, adapter=str(Path(tuned).parent))).result(60)
    assert "adapters" in err.value.hint and "best" in err.value.hint
    with pytest.raises(TuneDeckError, match="no test.jsonl"):
        engine.evaluate(EvalSettings(model=demo_model, data=str(tmp_path), adapter=tuned)).result(60)
