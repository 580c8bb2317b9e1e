"""Will these settings fit? Run a few real training steps and measure.

The steps go through mlx-lm's own trainer (same compiled step, same
gradient checkpointing) on the *longest* examples of the train split,
padded and cut the way training does, so the peak is the worst batch a run
will meet. MLX's peak-memory counter is reset first and read after.

The peak is judged by the one verdict in ``core.runtime.memory`` against its
budget: on Metal the GPU's recommended working set (what macOS lets a process
keep wired), read from MLX here; elsewhere 75% of the machine's RAM.

Runs on the MLX worker thread only.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from core.runtime import events as ev
from core.runtime.errors import TuneDeckError
from core.runtime.memory import FITS, TIGHT, UNKNOWN_MEMORY_BYTES, WONT_FIT, budget, judge, total_memory
from core.training.settings import build_optimizer
from core.training.trainer import KeepLayerCall, prepare_model, quiet_mlx_lm_console, validate_run

# Imported where used, not at module level (import cost, 2 cores): mlx (runs on the worker), mlx_lm ~3 s

STEPS = 2


@dataclass
class MemoryReport:
    peak_bytes: int
    limit_bytes: int
    limit_source: str
    steps: int
    longest_tokens: int
    verdict: str  # core.runtime.memory: fits | tight | won't fit
    suggestions: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return self.verdict != WONT_FIT

    def summary(self) -> str:
        gb = 1e9
        text = (
            f"peak {self.peak_bytes / gb:.2f} GB of {self.limit_bytes / gb:.1f} GB "
            f"({self.limit_source}) over {self.steps} steps on the longest batch "
            f"({self.longest_tokens} tokens): "
        )
        text += {FITS: "fits", TIGHT: "fits, but tightly", WONT_FIT: "does NOT fit"}[self.verdict]
        if self.suggestions:
            text += "; try " + ", or ".join(self.suggestions)
        return text

    def as_dict(self) -> dict:
        return {
            "peak_bytes": self.peak_bytes,
            "limit_bytes": self.limit_bytes,
            "limit_source": self.limit_source,
            "steps": self.steps,
            "longest_tokens": self.longest_tokens,
            "verdict": self.verdict,
            "fits": self.fits,
            "suggestions": self.suggestions,
            "summary": self.summary(),
        }


def memory_limit() -> tuple[int, str]:
    """The budget (``core.runtime.memory``) in bytes, and where the number comes from."""
    import mlx.core as mx

    try:
        info = mx.device_info()
    except Exception:
        info = {}
    wanted = info.get("max_recommended_working_set_size")
    if wanted:
        return int(wanted), "Metal recommended working set"
    return int(budget(total_memory() or UNKNOWN_MEMORY_BYTES)), "75% of system RAM"


def suggestions(s, peak: int, limit: int, longest: int) -> list[str]:
    """What would bring the peak down, cheapest change first."""
    out = []
    if not s.grad_checkpoint:
        out.append("gradient checkpointing (grad_checkpoint: true)")
    if s.batch_size > 1:
        smaller = max(1, s.batch_size // 2)
        out.append(
            f"batch size {smaller} (with grad_accumulation_steps {s.grad_accumulation_steps * 2} "
            "to keep the effective batch)"
        )
    if s.num_layers < 0 or s.num_layers > 4:
        out.append("fewer layers (num_layers 4)")
    if min(longest, s.max_seq_length) > 512:
        out.append(f"a shorter max_seq_length ({min(longest, s.max_seq_length) // 2})")
    if peak > limit and not out:
        out.append("a smaller or 4-bit quantized base model (QLoRA)")
    return out


def run_memory_check(ctx, s) -> MemoryReport:
    import mlx.core as mx
    from mlx_lm.tuner.datasets import CacheDataset
    from mlx_lm.tuner.trainer import TrainingArgs, iterate_batches, train

    validate_run(s, resuming=True)  # same checks as a run; writes nothing
    quiet_mlx_lm_console()
    model, _, train_set, _ = prepare_model(ctx, s)
    ctx.progress("finding the longest examples")
    data = CacheDataset(train_set)
    # Token counts (mlx-lm's own itemlen counts characters or keys).
    lengths = []
    for i in range(len(data)):
        lengths.append(len(data[i][0]))
        if i % 500 == 0:
            ctx.check_cancelled()
    order = sorted(range(len(data)), key=lengths.__getitem__)
    longest = [data[i] for i in order[-s.batch_size :]]
    longest_tokens = lengths[order[-1]]
    ctx.check_cancelled()

    def batches(dataset, batch_size, max_seq_length, loop=False, seed=None, comm_group=None):
        # The same batch again and again: the worst case, shaped by mlx-lm.
        while True:
            yield from iterate_batches(longest, batch_size, max_seq_length, loop=False, comm_group=comm_group)
            ctx.check_cancelled()

    ctx.progress(f"running {STEPS} training steps at these settings")
    with tempfile.TemporaryDirectory() as tmp, KeepLayerCall(model):
        args = TrainingArgs(
            batch_size=s.batch_size,
            iters=STEPS,
            steps_per_report=STEPS,
            steps_per_eval=10**9,
            steps_per_save=10**9,
            max_seq_length=s.max_seq_length,
            grad_checkpoint=s.grad_checkpoint,
            grad_accumulation_steps=s.grad_accumulation_steps,
            adapter_file=str(Path(tmp) / "a.safetensors"),
        )
        mx.clear_cache()
        mx.reset_peak_memory()
        try:
            train(
                model=model,
                optimizer=build_optimizer(s),
                train_dataset=data,
                val_dataset=None,
                args=args,
                iterate_batches=batches,
            )
        except ValueError as exc:
            raise TuneDeckError(f"mlx-lm refused the settings: {exc}", "check batch size and data") from exc
        peak = int(mx.get_peak_memory())
    limit, source = memory_limit()
    verdict = judge(peak, limit)
    report = MemoryReport(
        peak_bytes=peak,
        limit_bytes=limit,
        limit_source=source,
        steps=STEPS,
        longest_tokens=longest_tokens,
        verdict=verdict,
        suggestions=suggestions(s, peak, limit, longest_tokens) if verdict != FITS else [],
    )
    ctx.emit(ev.MemoryChecked(peak_gb=peak / 1e9, limit_gb=limit / 1e9, fits=report.fits, verdict=report.summary()))
    return report
