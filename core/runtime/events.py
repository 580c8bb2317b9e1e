"""Plain event objects the engine reports through (no UI types here).

The worker thread emits these; the TUI wraps each in a Textual message and
the CLI prints them. Every event carries the id of the job that made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(kw_only=True)
class Event:
    job_id: int = 0


@dataclass(kw_only=True)
class JobStarted(Event):
    name: str


@dataclass(kw_only=True)
class Progress(Event):
    """A step of a long job; later ones replace earlier ones on screen."""

    message: str
    done: float | None = None
    total: float | None = None


@dataclass(kw_only=True)
class TrainStarted(Event):
    run_dir: str
    iters: int
    start_iteration: int
    trainable_parameters: int
    total_parameters: int
    train_examples: int
    model: str = ""  # the base model folder and the data folder this run trains on
    data: str = ""
    # Under mlx.launch: how many processes train it together, and where rank r runs (hosts[r]).
    processes: int = 1
    hosts: list = field(default_factory=list)


@dataclass(kw_only=True)
class TrainReport(Event):
    iteration: int
    train_loss: float
    learning_rate: float
    iterations_per_second: float
    tokens_per_second: float
    trained_tokens: int
    peak_memory_gb: float


@dataclass(kw_only=True)
class ValReport(Event):
    iteration: int
    val_loss: float


@dataclass(kw_only=True)
class CheckpointSaved(Event):
    iteration: int
    path: str


@dataclass(kw_only=True)
class ModelLoaded(Event):
    model: str
    adapter: str | None
    parameters: int


@dataclass(kw_only=True)
class Token(Event):
    text: str  # the next piece of the answer: one token's text or several (coalesced, see core/chat/generation.py)


@dataclass(kw_only=True)
class GenerationFinished(Event):
    text: str
    prompt_tokens: int
    generation_tokens: int
    tokens_per_second: float
    time_to_first_token: float
    stop_reason: str  # eos | max_tokens | stopped


@dataclass(kw_only=True)
class JobFinished(Event):
    """A job's one end when it succeeded; ``result`` is what it returned (a
    training job's ``core.training.result.TrainResult``, a fuse's ``FuseResult``…)."""

    name: str
    result: Any = None


@dataclass(kw_only=True)
class JobFailed(Event):
    name: str
    message: str
    hint: str = ""
    where: str = ""
    log_path: str = ""

    @property
    def located(self) -> str:
        """The message with its ``file:line`` in front, when there is one."""
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass(kw_only=True)
class JobCancelled(Event):
    name: str


TERMINAL = (JobFinished, JobFailed, JobCancelled)


# -- run lifecycle ------------------------------------------------
@dataclass(kw_only=True)
class BestAdapterSaved(Event):
    """A new lowest validation loss: RUN_DIR/best holds that adapter."""

    iteration: int
    val_loss: float
    path: str


@dataclass(kw_only=True)
class MemoryChecked(Event):
    peak_gb: float
    limit_gb: float
    fits: bool
    verdict: str


@dataclass(kw_only=True)
class DownloadProgress(Progress):
    """Bytes of a model download (``done``/``total`` are bytes this run)."""

    repo_id: str = ""
    bytes_per_second: float = 0.0
    eta_seconds: float | None = None
    files_done: int = 0
    files_total: int = 0


# -- judge and ship (evaluate, fuse, export) ---------------------------------


@dataclass(kw_only=True)
class EvalResult(Event):
    """One row of the base-vs-tuned table (``task`` is None when not scored)."""

    label: str  # base | tuned
    model: str
    adapter: str | None
    test_loss: float
    test_ppl: float
    loss_examples: int
    task: dict | None = None


@dataclass(kw_only=True)
class FuseVerified(Event):
    """One verification prompt: fused model vs adapter-on-base (greedy)."""

    index: int
    prompt: str
    expected: str
    got: str
    match: bool
