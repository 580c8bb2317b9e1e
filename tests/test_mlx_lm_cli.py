"""External client check: the real mlx_lm CLI accepts our model and data."""

import subprocess
import sys


def test_mlx_lm_lora_cli_trains_on_demo_model_and_sample(demo_model, sample_data, tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "mlx_lm",
        "lora",
        "--model",
        demo_model,
        "--data",
        sample_data,
        "--train",
        "--iters",
        "3",
        "--batch-size",
        "2",
        "--num-layers",
        "2",
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


def test_mlx_lm_accepts_tunedeck_adapter_config(engine, demo_model, sample_data, tmp_path):
    """An adapter TuneDeck trained loads in mlx-lm's own --test path."""
    from core.training.settings import demo_settings

    engine.train(demo_settings(demo_model, sample_data, str(tmp_path / "ad"), iters=2, steps_per_report=1)).result(
        timeout=120
    )
    cmd = [
        sys.executable,
        "-m",
        "mlx_lm",
        "lora",
        "--model",
        demo_model,
        "--data",
        sample_data,
        "--test",
        "--test-batches",
        "2",
        "--batch-size",
        "2",
        "--adapter-path",
        str(tmp_path / "ad"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
