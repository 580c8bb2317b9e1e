"""What a training job returns: the same whether the run trained in this
process (``core.training.trainer``) or is followed from its folder
(``core.training.follow``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainResult:
    adapter_path: str
    iterations: int  # the iteration it ended at
    stopped_early: bool
    model: str  # the base model folder and the data folder it trained on
    data: str
    seconds: float  # this session's training time
    run_dir: str
    best_path: str | None  # RUN_DIR/best: the lowest validation loss so far, when there is one
    best_val_loss: float | None
    start_iteration: int  # where this session began (a resume: its checkpoint)
    reason: str = ""  # why it stopped, when it did ("SIGTERM", ...)
