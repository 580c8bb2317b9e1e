"""Real LoRA training of the demo model through core (no mocks)."""

import json
import threading
from pathlib import Path

import pytest

from core.runtime import events as ev
from core.runtime.errors import TuneDeckError
from core.runtime.worker import THREAD_NAME
from core.training.settings import demo_settings


@pytest.mark.slow
def test_train_then_generate(engine, demo_model, sample_data, recorder, tmp_path):
    adapters = tmp_path / "run" / "adapters"
    settings = demo_settings(
        demo_model, sample_data, str(adapters), iters=40, steps_per_report=5, steps_per_eval=20, save_every=20
    )
    job = engine.train(settings, tmp_path / "run")
    result = job.result(timeout=300)
    assert result.iterations == 40 and not result.stopped_early

    reports = recorder.of(ev.TrainReport, job)
    assert [r.iteration for r in reports] == list(range(5, 41, 5))
    first, last = reports[0].train_loss, reports[-1].train_loss
    assert last < first - 0.8, (first, last)  # clearly learning
    vals = recorder.of(ev.ValReport, job)
    assert vals[0].iteration == 0 and vals[-1].val_loss < vals[0].val_loss
    saved = recorder.of(ev.CheckpointSaved, job)
    assert [s.iteration for s in saved] == [20, 40]  # 40: the final one, for extending the run
    # Validated after the steps it names, as the checkpoints count them (the
    # trainer's own figure for 20 is that of 19 steps), and the final adapter.
    assert [v.iteration for v in vals] == [0, 20, 40]
    assert recorder.threads == {THREAD_NAME}  # every event came from the one MLX thread

    assert (adapters / "adapters.safetensors").is_file()
    assert (tmp_path / "run" / "checkpoints" / "0000020" / "adapters.safetensors").is_file()
    cfg = json.loads((adapters / "adapter_config.json").read_text())
    assert cfg["fine_tune_type"] == "lora" and cfg["lora_parameters"]["rank"] == 32
    assert not [p for p in adapters.iterdir() if p.name.startswith(".")]  # no temp files left

    gen = engine.generate(demo_model, str(adapters), [{"role": "user", "content": "Which team has the highest goals?"}])
    done = gen.result(timeout=120)
    tokens = "".join(e.text for e in recorder.of(ev.Token, gen))
    assert tokens == done.text and done.generation_tokens > 0
    assert done.stop_reason in ("eos", "max_tokens")


def test_stop_keeps_the_adapter_of_the_last_step(engine, demo_model, sample_data, recorder, tmp_path):
    adapters = tmp_path / "adapters"
    settings = demo_settings(
        demo_model, sample_data, str(adapters), iters=5000, steps_per_report=2, steps_per_eval=10000, save_every=10000
    )
    stop_once = threading.Event()

    def stopper(event):
        if isinstance(event, ev.TrainReport) and event.iteration >= 4 and not stop_once.is_set():
            stop_once.set()
            job.cancel()

    engine.add_listener(stopper)
    try:
        job = engine.train(settings)
        result = job.result(timeout=300)
    finally:
        engine.remove_listener(stopper)
    assert result.stopped_early and 4 <= result.iterations < 5000
    assert (adapters / "adapters.safetensors").is_file()
    (finished,) = recorder.of(ev.JobFinished, job)  # the one end, carrying the result
    assert finished.result == result and not recorder.of(ev.JobCancelled, job)


def test_bad_data_fails_with_file_and_line(engine, demo_model, sample_data, recorder, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    lines = Path(sample_data, "train.jsonl").read_text().splitlines()[:20]
    lines[6] = lines[6][:-5]  # cut a line short: invalid JSON on line 7
    (data / "train.jsonl").write_text("\n".join(lines) + "\n")
    (data / "valid.jsonl").write_text("\n".join(lines[:5]) + "\n")
    job = engine.train(demo_settings(demo_model, str(data), str(tmp_path / "a"), iters=2))
    with pytest.raises(TuneDeckError):
        job.result(timeout=60)
    failed = recorder.of(ev.JobFailed, job)[0]
    assert failed.where == "data/train.jsonl:7"
    assert "invalid JSON" in failed.message and failed.hint
    assert not (tmp_path / "a" / "adapters.safetensors").exists()


def test_nan_loss_stops_with_a_suggestion(engine, demo_model, sample_data, recorder, tmp_path):
    # A learning rate near float32's limit overflows the weights to inf in a step.
    # Checkpoints every step, reports every 5: a NaN must never be saved.
    job = engine.train(
        demo_settings(
            demo_model,
            sample_data,
            str(tmp_path / "a"),
            iters=30,
            learning_rate=1e38,
            fine_tune_type="full",
            steps_per_report=5,
            save_every=1,
        )
    )
    with pytest.raises(TuneDeckError):
        job.result(timeout=120)
    failed = recorder.of(ev.JobFailed, job)[0]
    assert "NaN" in failed.message and "learning rate" in failed.hint

    def all_saved_finite():
        import mlx.core as mx

        return [
            bool(mx.isfinite(v).all().item())
            for f in (tmp_path / "a").glob("*.safetensors")
            for v in mx.load(str(f)).values()
        ]

    assert all(engine.worker.call(all_saved_finite))


def test_missing_model_folder(engine, sample_data, tmp_path):
    job = engine.generate(str(tmp_path / "nope"), None, [{"role": "user", "content": "hi"}])
    with pytest.raises(TuneDeckError, match="model folder not found"):
        job.result(timeout=30)


def test_refuses_to_overwrite_an_existing_adapter(engine, demo_model, sample_data, tmp_path):
    ad = tmp_path / "ad"
    engine.train(demo_settings(demo_model, sample_data, str(ad), iters=2, steps_per_report=1)).result(timeout=120)
    before = (ad / "adapter_config.json").read_text()
    with pytest.raises(TuneDeckError, match="already holds a trained adapter"):
        engine.train(demo_settings(demo_model, sample_data, str(ad), iters=2, num_layers=1)).result(timeout=60)
    assert (ad / "adapter_config.json").read_text() == before


def test_too_few_validation_rows_for_the_batch(engine, demo_model, sample_data, tmp_path):
    with pytest.raises(TuneDeckError, match="valid.jsonl has 100 examples but the batch size is 200"):
        engine.train(demo_settings(demo_model, sample_data, str(tmp_path / "a"), iters=2, batch_size=200)).result(
            timeout=60
        )


def test_model_folder_without_tokenizer(engine, demo_model, sample_data, tmp_path):
    import shutil

    broken = tmp_path / "m"
    shutil.copytree(demo_model, broken)
    (broken / "tokenizer.json").unlink()
    with pytest.raises(TuneDeckError, match="has no tokenizer"):
        engine.train(demo_settings(str(broken), sample_data, str(tmp_path / "a"), iters=2)).result(timeout=60)
    with pytest.raises(TuneDeckError, match="has no tokenizer"):
        engine.generate(str(broken), None, [{"role": "user", "content": "hi"}]).result(timeout=60)
