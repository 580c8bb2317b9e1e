"""Token lengths, truncation counts and the masked preview, with mlx-lm's own classes."""

import os
import subprocess
import sys

from core.data.token_stats import histogram, text_histogram


def test_token_report_counts_truncation_and_masks_the_prompt(engine, demo_model, sample_data):
    report = engine.data_tokens(sample_data, demo_model, max_seq_length=110, mask_prompt=True, limit=200).result(
        timeout=120
    )
    train = report.splits["train"]
    assert report.format == "chat" and train.rows == 1000 and len(train.lengths) == 200
    assert train.over == sum(n > 110 for n in train.lengths) and 0 < train.over < 200
    kinds = [s.kind for s in report.preview]
    assert kinds[:2] == ["prompt", "trained"]
    prompt, trained = report.preview[0].text, report.preview[1].text
    assert "SCHEMA" in prompt and "<|im_start|>assistant" in prompt  # the generation prompt is masked
    assert "SELECT" in trained and "SCHEMA" not in trained
    masked, learned = report.preview_tokens
    assert masked > learned > 0


def test_histogram_bins_cover_every_length():
    lengths = [5, 6, 7, 50, 51, 100]
    bins = histogram(lengths, bins=5, max_seq_length=60)
    assert sum(c for _, _, c in bins) == len(lengths) and bins[0][0] == 5 and bins[-1][1] >= 100
    lines = text_histogram(lengths, max_seq_length=60, bins=5)
    assert lines[-1].startswith("!") and not lines[0].startswith("!")


def test_cli_check_with_model_prints_histogram(demo_model, sample_data):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui",
            "data",
            "check",
            sample_data,
            "--model",
            demo_model,
            "--max-seq-length",
            "120",
            "--mask-prompt",
            "--limit",
            "100",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "ready to train" in out and "train: 100 of 1,000 rows" in out
    assert "over 120" in out and "--- MASKED ---" in out and "--- TRAINED ---" in out
