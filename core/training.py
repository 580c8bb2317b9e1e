"""LoRA training through mlx-lm's own trainer, reported as plain events.

We call ``mlx_lm.tuner.trainer.train`` with its two seams: a
``training_callback`` (turned into ``TrainReport`` / ``ValReport`` events)
and an ``iterate_batches`` wrapper. The wrapper is also where a step is known
to be complete (the trainer asks for the next batch only after evaluating
the last one), so it checks the stop flag there and writes checkpoints
atomically. We never call ``mlx_lm.lora.run`` (it replaces the callback)
and never parse mlx-lm's stdout.

Runs on the MLX worker thread only.
"""

from __future__ import annotations

import math
import time
import types
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from core import events as ev
from core.atomic import atomic_path, write_json
from core.batching import length_grouped_batches
from core.data_check import check_folder
from core.errors import Cancelled, TuneDeckError
from core.model_folder import check_model_folder

ADAPTER_FILE = "adapters.safetensors"


@dataclass
class TrainSettings:
    """The subset of ``mlx_lm.lora`` options TuneDeck drives; same key names,
    so the saved ``adapter_config.json`` / YAML is valid for mlx-lm too."""

    model: str
    data: str
    adapter_path: str
    fine_tune_type: str = "lora"
    num_layers: int = 16
    batch_size: int = 4
    iters: int = 100
    learning_rate: float = 1e-5
    lora_parameters: dict = field(default_factory=lambda: {"rank": 8, "scale": 20.0, "dropout": 0.0})
    max_seq_length: int = 2048
    mask_prompt: bool = False
    steps_per_report: int = 10
    steps_per_eval: int = 200
    val_batches: int = 25
    save_every: int = 100
    seed: int = 0
    grad_checkpoint: bool = False
    grad_accumulation_steps: int = 1
    optimizer: str = "adam"
    group_by_length: bool = True  # TuneDeck's batcher (core/batching.py); False = mlx-lm's own

    @classmethod
    def from_dict(cls, data: dict) -> "TrainSettings":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def mlx_lm_config(self) -> dict:
        """Keys as ``mlx_lm.lora -c`` and ``load_adapters`` expect them."""
        cfg = asdict(self)
        cfg["train"] = True
        cfg["optimizer_config"] = {self.optimizer: {}}
        cfg["lr_schedule"] = None
        return cfg


def demo_settings(model: str, data: str, adapter_path: str, **overrides) -> TrainSettings:
    """Settings that show the demo model learning in well under a minute."""
    base = dict(model=model, data=data, adapter_path=adapter_path, num_layers=-1,
                batch_size=4, iters=100, learning_rate=1e-3, steps_per_report=5,
                steps_per_eval=25, val_batches=5, save_every=50,
                lora_parameters={"rank": 32, "scale": 20.0, "dropout": 0.0})
    base.update(overrides)
    return TrainSettings(**base)


def _validate(s: TrainSettings) -> None:
    if s.iters < 1:
        raise TuneDeckError(f"iterations must be at least 1 (got {s.iters})", "set iters to 1 or more")
    if s.batch_size < 1:
        raise TuneDeckError(f"batch size must be at least 1 (got {s.batch_size})", "set batch_size to 1 or more")
    if not (s.learning_rate > 0 and math.isfinite(s.learning_rate)):
        raise TuneDeckError(f"learning rate must be a positive number (got {s.learning_rate})",
                            "try 1e-5 for real models, 1e-3 for the demo model")
    if s.fine_tune_type not in ("lora", "dora", "full"):
        raise TuneDeckError(f"unknown fine-tune type {s.fine_tune_type!r}", "use lora, dora or full")
    check_model_folder(s.model)
    if (Path(s.adapter_path) / ADAPTER_FILE).exists():
        raise TuneDeckError(f"{s.adapter_path} already holds a trained adapter",
                            "choose a new adapter folder (or delete that one) so it is not overwritten")
    report = check_folder(s.data)
    if not report.ok:
        first = next(p for p in report.problems if p.severity == "error")
        more = f" (and {report.errors - 1} more; run `tunedeck data check {s.data}`)" if report.errors > 1 else ""
        raise TuneDeckError(first.message + more, first.fix, where=first.where)
    n_train = report.splits["train"].rows
    if n_train < s.batch_size:
        raise TuneDeckError(f"train.jsonl has {n_train} examples but the batch size is {s.batch_size}",
                            "lower the batch size or add examples", where=report.splits["train"].path)
    valid = report.splits.get("valid")
    if valid is not None and 0 < valid.rows < s.batch_size:
        raise TuneDeckError(f"valid.jsonl has {valid.rows} examples but the batch size is {s.batch_size}",
                            "lower the batch size or add validation examples", where=valid.path)


def _all_finite(model) -> bool:
    import mlx.core as mx
    from mlx.utils import tree_flatten

    return all(mx.isfinite(v).all().item() for _, v in tree_flatten(model.trainable_parameters()))


def _quiet_mlx_lm_console() -> None:
    # mlx-lm's trainer draws a rich progress bar on its shared console. In the
    # TUI that would paint over the screen, and headless we print our own
    # lines, so silence that console (rich's documented ``quiet`` switch).
    from mlx_lm.cli_ui import make_console

    make_console().quiet = True


def save_adapter(model, path: Path) -> None:
    """Write the trainable weights atomically (temp file + rename)."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    weights = dict(tree_flatten(model.trainable_parameters()))
    with atomic_path(path, suffix=".safetensors") as tmp:
        mx.save_safetensors(str(tmp), weights)


def run_training(ctx, s: TrainSettings) -> dict:
    """Train; returns a summary dict. Emits TrainStarted/Report/... events."""
    import mlx.core as mx
    import mlx.optimizers as optim
    import numpy as np
    from mlx.utils import tree_flatten
    from mlx_lm import load
    from mlx_lm.tuner.datasets import CacheDataset, ChatDataset, CompletionsDataset, load_local_dataset
    from mlx_lm.tuner.trainer import TrainingArgs, TrainingCallback, iterate_batches, train
    from mlx_lm.tuner.utils import linear_to_lora_layers

    _validate(s)
    _quiet_mlx_lm_console()
    adapter_dir = Path(s.adapter_path)
    adapter_dir.mkdir(parents=True, exist_ok=True)
    adapter_file = adapter_dir / ADAPTER_FILE

    ctx.progress("loading model")
    np.random.seed(s.seed)
    mx.random.seed(s.seed)
    model, tokenizer = load(s.model)
    ctx.check_cancelled()
    ctx.progress("loading data")
    try:
        train_set, valid_set, _ = load_local_dataset(Path(s.data), tokenizer, types.SimpleNamespace(mask_prompt=s.mask_prompt))
    except ValueError as exc:
        if "masking" in str(exc):
            raise TuneDeckError(str(exc), "turn off prompt masking, or use chat/completions data") from exc
        raise TuneDeckError(f"mlx-lm could not read the data: {exc}",
                            f"run `tunedeck data check {s.data}`") from exc
    if isinstance(train_set, (ChatDataset, CompletionsDataset)) and not getattr(tokenizer, "chat_template", None):
        raise TuneDeckError(f"{s.model} has no chat template, but the data is chat/completions",
                            "use text-format data, or a model with a chat template (an Instruct model)")

    n_layers = len(model.layers)
    if s.num_layers > n_layers:
        raise TuneDeckError(f"asked to train {s.num_layers} layers but the model has {n_layers}",
                            f"use {n_layers} or fewer (-1 means all)")
    model.freeze()
    num_layers = n_layers if s.num_layers < 0 else s.num_layers
    if s.fine_tune_type == "full":
        for layer in model.layers[-num_layers:]:
            layer.unfreeze()
    else:
        linear_to_lora_layers(model, num_layers, s.lora_parameters, use_dora=s.fine_tune_type == "dora")
    write_json(adapter_dir / "adapter_config.json", s.mlx_lm_config())

    total = sum(v.size for _, v in tree_flatten(model.parameters()))
    trainable = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    ctx.emit(ev.TrainStarted(run_dir=str(adapter_dir), iters=s.iters, start_iteration=0,
                             trainable_parameters=int(trainable), total_parameters=int(total),
                             train_examples=len(train_set)))

    state = {"completed": 0, "diverged": None, "last_saved": 0, "stopped_at": None}

    class Reporter(TrainingCallback):
        def on_train_loss_report(self, info):
            loss = float(info["train_loss"])
            if not math.isfinite(loss):
                state["diverged"] = int(info["iteration"])
                return
            ctx.emit(ev.TrainReport(
                iteration=int(info["iteration"]), train_loss=loss,
                learning_rate=float(info["learning_rate"]),
                iterations_per_second=float(info["iterations_per_second"]),
                tokens_per_second=float(info["tokens_per_second"]),
                trained_tokens=int(info["trained_tokens"]),
                peak_memory_gb=float(info["peak_memory"])))

        def on_val_loss_report(self, info):
            loss = float(info["val_loss"])
            if not math.isfinite(loss):
                state["diverged"] = int(info["iteration"])
                return
            ctx.emit(ev.ValReport(iteration=int(info["iteration"]), val_loss=loss))

    def batches(dataset, batch_size, max_seq_length, loop=False, seed=None, comm_group=None):
        if loop and s.group_by_length:  # training batches; validation stays mlx-lm's
            inner = length_grouped_batches(dataset, batch_size, max_seq_length, loop=True, seed=s.seed,
                                           comm_group=comm_group)
        else:
            inner = iterate_batches(dataset, batch_size, max_seq_length, loop=loop, seed=seed, comm_group=comm_group)
        if not loop:  # validation: pass through untouched
            yield from inner
            return
        for step, batch in enumerate(inner):
            # The trainer asks for batch ``step`` (0-based) only after it has
            # run and evaluated ``step`` optimizer steps: a safe save point.
            state["completed"] = step
            if step and step % s.save_every == 0 and state["diverged"] is None:
                if not _all_finite(model):  # never keep a NaN checkpoint
                    state["diverged"] = step
                    return
                path = adapter_dir / f"{step:07d}_adapters.safetensors"
                save_adapter(model, path)
                save_adapter(model, adapter_file)
                state["last_saved"] = step
                ctx.emit(ev.CheckpointSaved(iteration=step, path=str(path)))
            if ctx.cancelled:
                state["stopped_at"] = step
                return
            if state["diverged"] is not None:
                return
            yield batch

    # The trainer's own saves go to a temp file we rename into place after a
    # clean finish; its periodic saves are off (ours above are atomic).
    args = TrainingArgs(batch_size=s.batch_size, iters=s.iters, val_batches=s.val_batches,
                        steps_per_report=s.steps_per_report, steps_per_eval=s.steps_per_eval,
                        steps_per_save=s.iters + 1, max_seq_length=s.max_seq_length,
                        grad_checkpoint=s.grad_checkpoint,
                        grad_accumulation_steps=s.grad_accumulation_steps,
                        adapter_file=str(adapter_dir / ".final.tmp.safetensors"))
    optimizers = {"adam": optim.Adam, "adamw": optim.AdamW, "sgd": optim.SGD, "adafactor": optim.Adafactor}
    if s.optimizer not in optimizers:
        raise TuneDeckError(f"unknown optimizer {s.optimizer!r}", f"use one of {', '.join(optimizers)}")
    optimizer = optimizers[s.optimizer](learning_rate=s.learning_rate)
    ctx.check_cancelled()  # a stop pressed while loading: no untrained adapter
    ctx.progress("training")
    started = time.perf_counter()
    train(model=model, optimizer=optimizer, train_dataset=CacheDataset(train_set),
          val_dataset=CacheDataset(valid_set) if len(valid_set) else None, args=args,
          iterate_batches=batches, training_callback=Reporter())
    tmp_final = adapter_dir / ".final.tmp.safetensors"
    if state["diverged"] is None and not _all_finite(model):
        state["diverged"] = state["completed"] or s.iters
    if state["diverged"] is not None:
        tmp_final.unlink(missing_ok=True)
        kept = f"the adapter from iteration {state['last_saved']} is kept" if state["last_saved"] else "no adapter was kept"
        raise TuneDeckError(
            f"loss became NaN/inf at iteration {state['diverged']}; training stopped ({kept})",
            f"lower the learning rate (now {s.learning_rate:g}; try {s.learning_rate / 10:g})")
    if state["stopped_at"] == 0:  # stopped before the first step: nothing to keep
        tmp_final.unlink(missing_ok=True)
        raise Cancelled()
    stopped = state["stopped_at"] is not None
    iterations = state["stopped_at"] if stopped else s.iters
    tmp_final.replace(adapter_file)  # rename: atomic
    ctx.emit(ev.TrainFinished(adapter_path=str(adapter_dir), iterations=iterations, stopped_early=stopped))
    return {"adapter_path": str(adapter_dir), "iterations": iterations, "stopped_early": stopped,
            "seconds": time.perf_counter() - started}
