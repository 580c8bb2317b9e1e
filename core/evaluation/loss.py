"""Test loss and perplexity: exactly what ``mlx_lm.lora --test`` reports.

Same pieces as ``mlx_lm.lora.evaluate_model``: the test split loaded by
mlx-lm's ``load_local_dataset``, wrapped in ``CacheDataset`` and scored by
``mlx_lm.tuner.trainer.evaluate`` (token-weighted mean cross-entropy over
the batches; perplexity = exp(loss)). ``test_batches=-1`` scores them all.
Runs on the MLX worker thread only.
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass
from pathlib import Path

from core.runtime.errors import Cancelled, TuneDeckError

# Imported where used, not at module level (import cost, 2 cores): mlx_lm ~3 s, numpy ~0.3 s


@dataclass
class LossResult:
    test_loss: float
    test_ppl: float
    batches: int
    examples: int


def load_test_split(model_tokenizer, data: str, mask_prompt: bool = False):
    """The test split as mlx-lm builds it (same tokenisation as training)."""
    from mlx_lm.tuner.datasets import load_local_dataset

    folder = Path(data)
    if not (folder / "test.jsonl").is_file():
        raise TuneDeckError(
            f"{folder} has no test.jsonl, so there is nothing to evaluate on",
            "build the data again with a test split (three split parts, e.g. 80%,10%,10%)",
        )
    try:
        _, _, test = load_local_dataset(folder, model_tokenizer, types.SimpleNamespace(mask_prompt=mask_prompt))
    except ValueError as exc:
        raise TuneDeckError(
            f"mlx-lm could not read the test split: {exc}", f"run `tunedeck data check {data}`"
        ) from exc
    if len(test) == 0:
        raise TuneDeckError(f"{folder / 'test.jsonl'} is empty", "add test examples")
    return test


def test_loss(
    ctx, model, test_set, label: str, batch_size: int = 4, test_batches: int = -1, max_seq_length: int = 2048
) -> LossResult:
    """mlx-lm's ``evaluate`` on ``test_set``; progress per batch, cancellable."""
    import numpy as np
    from mlx_lm.tuner.datasets import CacheDataset
    from mlx_lm.tuner.trainer import evaluate

    if len(test_set) < batch_size:
        raise TuneDeckError(
            f"the test split has {len(test_set)} examples but the batch size is {batch_size}",
            "lower the batch size or add test examples",
        )
    n_batches = len(test_set) // batch_size
    if test_batches != -1:
        n_batches = min(n_batches, test_batches)
    done = [0]

    def step():
        done[0] += 1
        ctx.progress(f"{label}: test loss", done[0], n_batches)
        if ctx.cancelled:
            raise Cancelled()

    # mlx_lm.lora seeds numpy with --seed (default 0) before anything; the
    # batch order only matters when test_batches limits the batches.
    np.random.seed(0)
    ctx.progress(f"{label}: test loss", 0, n_batches)
    loss = evaluate(
        model=model,
        dataset=CacheDataset(test_set),
        batch_size=batch_size,
        num_batches=test_batches,
        max_seq_length=max_seq_length,
        progress_callback=step,
    )
    return LossResult(
        test_loss=loss,
        test_ppl=math.exp(loss) if loss < 700 else math.inf,
        batches=n_batches,
        examples=n_batches * batch_size,
    )
