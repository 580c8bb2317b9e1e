"""Base vs tuned, side by side: test loss, perplexity and task score.

One job loads the base model once, scores it, applies the adapter in place
(``load_adapters``, as ``mlx_lm.lora --test --adapter-path`` does) and scores
again, emitting an ``EvalResult`` per row. The rows are saved as
``eval.json`` beside the adapter (``eval-best.json`` for a run's ``best/``)
so the TUI can show them later; the file says which adapter it judged
(last or best, its iteration and content hash: ``core.shipping.provenance``).
Runs on the MLX worker thread only.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from core.evaluation.loss import load_test_split, test_loss
from core.evaluation.task_score import read_examples, score_model
from core.models.model_folder import check_model_folder, load_model
from core.runtime import events as ev
from core.runtime.errors import TuneDeckError
from core.runtime.targets import EVAL_RECORD, claim, write_file
from core.shipping.provenance import adapter_choice, adapter_record
from core.training.run_folders import is_run_dir

# Imported where used, not at module level (import cost, 2 cores): mlx_lm ~3 s

EVAL_FILE = "eval.json"
EVAL_BEST_FILE = "eval-best.json"  # a run's best/ adapter, judged beside its last one


@dataclass
class EvalSettings:
    model: str
    data: str
    adapter: str | None = None
    task_examples: int | None = 0  # 0: no task score; None: the whole test split
    batch_size: int = 4  # mlx_lm.lora's default
    test_batches: int = -1  # -1: all
    max_seq_length: int = 2048
    include_base: bool = True


def row_record(row: ev.EvalResult) -> dict:
    """One row as eval.json holds it (the event's fields, without its job id)."""
    return {k: v for k, v in asdict(row).items() if k != "job_id"}


@dataclass(frozen=True)
class JudgeResult:
    """What an evaluation job returns; ``as_record()`` is what eval.json holds."""

    created: str
    model: str
    adapter: str | None
    adapter_choice: str | None  # last | best (None: no adapter, or not a run's)
    adapter_iteration: int | None
    adapter_record: dict | None  # core.shipping.provenance.adapter_record
    data: str
    batch_size: int
    test_batches: int
    task_examples: int  # how many examples the task score read (0: none)
    rows: list[ev.EvalResult] = field(default_factory=list)  # base, then tuned
    saved_to: str | None = None  # eval.json (None: no adapter, nothing saved)

    def as_record(self) -> dict:
        record = {k: getattr(self, k) for k in _RECORD_KEYS}
        record["rows"] = [row_record(r) for r in self.rows]
        return record


_RECORD_KEYS = (
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
)


def results_dir(adapter: str | Path) -> Path:
    """Where eval.json goes: the run folder when the adapter lives in one."""
    adapter = Path(adapter)
    parent = adapter.parent

    if is_run_dir(parent):
        return parent
    return adapter


def results_path(adapter: str | Path) -> Path:
    """The saved evaluation of this adapter: eval.json, or eval-best.json
    for a run's best/ (so judging one never replaces the other's)."""
    return results_dir(adapter) / (EVAL_BEST_FILE if adapter_choice(adapter) == "best" else EVAL_FILE)


def load_results(adapter: str | Path | None) -> dict | None:
    """A saved evaluation of this adapter, or None (missing or unreadable)."""
    if not adapter:
        return None
    try:
        data = json.loads(results_path(adapter).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("rows"), list) else None


def check_adapter(adapter: str | Path) -> None:
    folder = Path(adapter)
    if not (folder / "adapters.safetensors").is_file() or not (folder / "adapter_config.json").is_file():
        if (folder / "adapters" / "adapters.safetensors").is_file():  # a run folder
            raise TuneDeckError(
                f"{folder} is a run folder, not an adapter folder",
                f"use {folder / 'adapters'} (last step) or {folder / 'best'} (lowest validation loss)",
            )
        raise TuneDeckError(
            f"no trained adapter in {folder}",
            "train first, or point at a folder with adapters.safetensors and adapter_config.json",
        )


def _row(ctx, label, model, tokenizer, test_set, examples, s: EvalSettings, adapter) -> ev.EvalResult:
    loss = test_loss(ctx, model, test_set, label, s.batch_size, s.test_batches, s.max_seq_length)
    task = score_model(ctx, model, tokenizer, examples, label).to_dict() if examples else None
    row = ev.EvalResult(
        label=label,
        model=s.model,
        adapter=adapter,
        test_loss=loss.test_loss,
        test_ppl=loss.test_ppl,
        loss_examples=loss.examples,
        task=task,
    )
    ctx.emit(row)
    return row


def run_eval(ctx, s: EvalSettings) -> JudgeResult:
    from mlx_lm.tuner.utils import load_adapters

    if s.batch_size < 1:
        raise TuneDeckError(f"batch size must be at least 1 (got {s.batch_size})", "use 4 (mlx_lm.lora's default)")
    if s.test_batches == 0 or s.test_batches < -1:
        raise TuneDeckError(
            f"test batches must be -1 (all) or at least 1 (got {s.test_batches})",
            "use -1 to score the whole test split",
        )
    if s.task_examples is not None and (isinstance(s.task_examples, bool) or s.task_examples < 0):
        raise TuneDeckError(
            f"the task-score count must be 0 (none), a whole number of examples, or all (got {s.task_examples})",
            "give a count such as 50, or all for the whole test split",
        )
    check_model_folder(s.model)
    judged = None
    if s.adapter:
        check_adapter(s.adapter)
        judged = adapter_record(s.adapter)
    elif not s.include_base:
        raise TuneDeckError(
            "nothing to evaluate: no adapter and the base row is off", "give an adapter, or include the base model"
        )
    if not (Path(s.data) / "test.jsonl").is_file():  # before the (slow) model load
        raise TuneDeckError(
            f"{s.data} has no test.jsonl, so there is nothing to evaluate on",
            "build the data again with a test split (three split parts, e.g. 80%,10%,10%)",
        )
    if s.adapter:  # replaces only an earlier record of ours, never someone's eval.json
        claim(results_path(s.adapter), EVAL_RECORD, overwrite=True)
    # Read the task examples first: a data problem should fail before loading.
    examples = read_examples(s.data, s.task_examples) if s.task_examples != 0 else []
    ctx.progress(f"loading {Path(s.model).name}")
    model, tokenizer = load_model(s.model)
    test_set = load_test_split(tokenizer, s.data)
    ctx.check_cancelled()
    rows = []
    if s.include_base or not s.adapter:
        rows.append(_row(ctx, "base", model, tokenizer, test_set, examples, s, None))
    if s.adapter:
        ctx.progress("applying the adapter")
        try:
            load_adapters(model, s.adapter)
        except ValueError as exc:
            raise TuneDeckError(
                f"the adapter in {s.adapter} does not fit {Path(s.model).name}: {exc}",
                "evaluate the adapter with the base model it was trained on",
            ) from exc
        model.eval()
        rows.append(_row(ctx, "tuned", model, tokenizer, test_set, examples, s, s.adapter))
    result = JudgeResult(
        created=time.strftime("%Y-%m-%d %H:%M:%S"),
        model=s.model,
        adapter=s.adapter,
        adapter_choice=judged["choice"] if judged else None,
        adapter_iteration=judged["iteration"] if judged else None,
        adapter_record=judged,
        data=s.data,
        batch_size=s.batch_size,
        test_batches=s.test_batches,
        task_examples=len(examples),
        rows=rows,
    )
    if not s.adapter:
        return result
    path = results_path(s.adapter)
    record = {"kind": EVAL_RECORD.name, **result.as_record()}
    write_file(path, EVAL_RECORD, json.dumps(record, indent=2, ensure_ascii=False) + "\n", overwrite=True)
    return replace(result, saved_to=str(path))
