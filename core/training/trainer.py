"""LoRA training through mlx-lm's own trainer, reported as plain events.

We call ``mlx_lm.tuner.trainer.train`` with its two seams: a
``training_callback`` (turned into ``TrainReport`` events) and an
``iterate_batches`` wrapper. The wrapper is also where a step is known to be
complete (the trainer asks for the next batch only after the last step), so
it checks the stop flag there, writes checkpoints atomically and validates
(``ValReport``: the trainer's own validation runs before a step, one
iteration off the checkpoints). Each run lives in its own folder (``core.training.run_folders``: config.yaml,
events.jsonl, adapters/, best/, checkpoints/ with optimizer state), and a
stopped or crashed run resumes from its newest checkpoint with the iteration
count, optimizer state, data position and dropout RNG continuing (see
docs/training.md). We never call ``mlx_lm.lora.run`` (it replaces the callback)
and never parse mlx-lm's stdout.

Runs on the MLX worker thread only.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import types
from dataclasses import asdict
from pathlib import Path

from core.data.check import check_folder
from core.data.folder import read_manifest
from core.models.model_folder import check_model_folder, load_model
from core.runtime import events as ev
from core.runtime.atomic import atomic_dir, atomic_path, write_json, write_text
from core.runtime.awake import keep_awake
from core.runtime.errors import Cancelled, TuneDeckError, writing
from core.runtime.targets import ADAPTER, RUN, check_name, inspect, read_marker, refusal
from core.training.batching import length_grouped_batches
from core.training.group import Group, join_group
from core.training.group_launch import SAME_HOSTS, check_batch_for_group, launched_rank
from core.training.result import TrainResult
from core.training.run_folders import (
    ADAPTERS,
    BEST,
    CHECKPOINTS,
    CONFIG,
    KEEP_CHECKPOINTS,
    LOCK,
    MANIFEST_COPY,
    PROCESS_LOG,
    STATUS,
    STOP_REQUEST,
    EventLog,
    RunLock,
    beat,
    checkpoint_dirs,
    holder,
    is_locked,
    is_run_dir,
    latest_checkpoint,
    new_run_dir,
    sweep_leftovers,
)
from core.training.settings import TrainSettings, build_optimizer, check_settings, dump_yaml, load_yaml

# Imported where used, not at module level (import cost, 2 cores): mlx (runs on the worker), mlx_lm ~3 s, numpy ~0.3 s

ADAPTER_FILE = "adapters.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
HEARTBEAT_SECONDS = 2.0  # at most this often run.json gets the latest iteration (display only)


def validate_run(s: TrainSettings, resuming: bool = False, processes: int = 1) -> None:
    """Every check a run makes before it writes anything (the memory probe
    makes them too); ``processes``: how many train it together."""
    check_settings(s, deep=True)
    check_batch_for_group(s.batch_size, processes)
    check_model_folder(s.model)
    if not resuming:
        _check_new_adapter_folder(s.adapter_path)
    report = check_folder(s.data, mask_prompt=s.mask_prompt)
    if not report.ok:
        first = next(p for p in report.problems if p.severity == "error")
        more = f" (and {report.errors - 1} more; run `tunedeck data check {s.data}`)" if report.errors > 1 else ""
        raise TuneDeckError(first.message + more, first.fix, where=first.where)
    n_train = report.splits["train"].rows
    if n_train < s.batch_size:
        raise TuneDeckError(
            f"train.jsonl has {n_train} examples but the batch size is {s.batch_size}",
            "lower the batch size or add examples",
            where=report.splits["train"].path,
        )
    valid = report.splits.get("valid")
    if valid is not None and 0 < valid.rows < s.batch_size:
        raise TuneDeckError(
            f"valid.jsonl has {valid.rows} examples but the batch size is {s.batch_size}",
            "lower the batch size or add validation examples",
            where=valid.path,
        )


def _all_finite(model) -> bool:
    import mlx.core as mx
    from mlx.utils import tree_flatten

    return all(mx.isfinite(v).all().item() for _, v in tree_flatten(model.trainable_parameters()))


def quiet_mlx_lm_console() -> None:
    # mlx-lm's trainer draws a rich progress bar on its shared console. In the
    # TUI that would paint over the screen, and headless we print our own
    # lines, so silence that console (rich's documented ``quiet`` switch).
    # Its file must not be the terminal either: a live display on a terminal
    # takes over sys.stdout/stderr, and a quiet one would swallow every line
    # we print (progress, "stopping…") for the whole run.
    from mlx_lm.cli_ui import make_console

    console = make_console()
    console.quiet = True
    if console.file.isatty():
        console.file = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (the console keeps it)


def save_adapter(model, path: Path) -> None:
    """Write the trainable weights atomically (temp file + rename)."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    weights = dict(tree_flatten(model.trainable_parameters()))
    with atomic_path(path, suffix=".safetensors") as tmp:
        mx.save_safetensors(str(tmp), weights)


def reseed(seed: int, iteration: int) -> None:
    """Re-seed MLX's RNG (LoRA dropout) from (seed, iteration) before every
    step, so a resumed run draws the same noise as an unbroken one (MLX's
    key cannot be assigned back into its global state directly)."""
    import mlx.core as mx

    mx.random.seed((seed * 1_000_003 + iteration) % 2**32)


def prepare_model(ctx, s: TrainSettings):
    """Load the base, the data, and wrap the layers to train (mlx-lm's way).
    Returns (model, tokenizer, train_set, valid_set)."""
    import mlx.core as mx
    import numpy as np
    from mlx_lm.tuner.datasets import ChatDataset, CompletionsDataset, load_local_dataset
    from mlx_lm.tuner.utils import linear_to_lora_layers

    ctx.progress("loading model")
    np.random.seed(s.seed)
    mx.random.seed(s.seed)
    model, tokenizer = load_model(s.model)
    ctx.check_cancelled()
    ctx.progress("loading data")
    try:
        train_set, valid_set, _ = load_local_dataset(
            Path(s.data), tokenizer, types.SimpleNamespace(mask_prompt=s.mask_prompt)
        )
    except ValueError as exc:
        if "masking" in str(exc):
            raise TuneDeckError(str(exc), "turn off prompt masking, or use chat/completions data") from exc
        raise TuneDeckError(f"mlx-lm could not read the data: {exc}", f"run `tunedeck data check {s.data}`") from exc
    if isinstance(train_set, (ChatDataset, CompletionsDataset)) and not tokenizer.has_chat_template:
        raise TuneDeckError(
            f"{s.model} has no chat template, but the data is chat/completions",
            "use text-format data, or a model with a chat template (an Instruct model)",
        )

    n_layers = len(model.layers)
    if s.num_layers > n_layers:
        raise TuneDeckError(
            f"asked to train {s.num_layers} layers but the model has {n_layers}",
            f"use {n_layers} or fewer (-1 means all)",
        )
    model.freeze()
    num_layers = n_layers if s.num_layers < 0 else s.num_layers
    if s.fine_tune_type == "full":
        for layer in model.layers[-num_layers:]:
            layer.unfreeze()
    else:
        linear_to_lora_layers(model, num_layers, s.lora_parameters, use_dora=s.fine_tune_type == "dora")
    return model, tokenizer, train_set, valid_set


class KeepLayerCall:
    """mlx-lm's grad checkpointing patches the layer *class* for the whole
    process; undo it after a run so later runs get what they ask for."""

    def __init__(self, model):
        self.cls = type(model.layers[0])
        self.call = self.cls.__call__

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cls.__call__ = self.call


def _write_adapter_folder(model, folder: Path, config: dict, extra: dict | None = None) -> None:
    """adapters.safetensors + adapter_config.json (+ optimizer state and
    state.json for a checkpoint), renamed into place as one folder (the run's
    own best/ or checkpoint, so an older one there is replaced)."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    with atomic_dir(folder, replace=True) as tmp:
        mx.save_safetensors(str(tmp / ADAPTER_FILE), dict(tree_flatten(model.trainable_parameters())))
        (tmp / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
        if extra:
            mx.save_safetensors(str(tmp / OPTIMIZER_FILE), dict(tree_flatten(extra["optimizer"].state)))
            (tmp / "state.json").write_text(json.dumps(extra["state"], indent=2) + "\n")


def _restore_optimizer(optimizer, model, path: Path) -> None:
    import mlx.core as mx
    from mlx.utils import tree_map_with_path

    saved = mx.load(str(path))
    optimizer.init(model.trainable_parameters())
    missing = []

    def pick(name, current):
        if name in saved:
            return saved[name]
        missing.append(name)
        return current

    optimizer.state = tree_map_with_path(pick, optimizer.state)
    if missing:
        raise TuneDeckError(
            f"the checkpoint's optimizer state does not match the model ({missing[0]} missing)",
            "the run's config.yaml was changed after the run; restore it or start a new run",
            where=str(path),
        )


def _check_new_adapter_folder(path: str) -> None:
    """A new run's adapter folder must be new or empty: training writes
    adapter_config.json and adapters.safetensors there, and a user's own
    must never be overwritten."""
    found = inspect(path, ADAPTER)
    if found.state in ("missing", "empty"):
        return
    if (Path(path) / ADAPTER_FILE).exists():
        raise TuneDeckError(
            f"{path} already holds a trained adapter",
            "choose a new adapter folder (or delete that one) so it is not overwritten",
        )
    err = refusal(found, ADAPTER)
    err.hint = "give the adapter path a new or empty folder (or leave it out: the run folder gets one)"
    raise err


def _absolute(path: str) -> str:
    """A path as given, made absolute against the current folder (no link
    resolving), so a resume from any folder finds the same files."""
    return os.path.abspath(os.path.expanduser(path)) if path else path


def portable(s: TrainSettings, run_dir: Path) -> TrainSettings:
    """The settings as stored inside the run: an adapter path inside the run
    folder relative to it, so a copied or moved run resumes into itself (and
    ``mlx_lm.lora -c config.yaml`` run from the run folder writes there too)."""
    out = TrainSettings.from_dict(asdict(s))
    try:
        out.adapter_path = Path(s.adapter_path).relative_to(run_dir).as_posix()
    except ValueError:
        pass  # an adapter folder outside the run (--adapter-path): kept absolute
    return out


def _refuse_taken(run_dir: Path) -> None:
    if is_run_dir(run_dir):
        raise TuneDeckError(
            f"{run_dir} already holds a run",
            f"resume it (`tunedeck train --resume {run_dir}`) or choose a new folder",
        )
    # What taking the lock writes, and what starting the run process does (its output, a stop asked early).
    ours = (LOCK, STATUS, PROCESS_LOG, STOP_REQUEST)
    if run_dir.exists() and (not run_dir.is_dir() or any(p.name not in ours for p in run_dir.iterdir())):
        # A run writes config.yaml, adapters/, ... there: never over someone's files.
        raise TuneDeckError(f"{run_dir} already exists and is not a run folder", "give --out a new (or empty) folder")


def check_new_run(s: TrainSettings, run_dir: str | Path | None = None, processes: int = 1) -> Path:
    """Every refusal of a new run, before anything is written: its folder
    (default: a new one under the runs folder) and its settings, made
    absolute in place (the adapter goes to ``s.adapter_path``, default
    RUN_DIR/adapters). Returns the run folder."""
    run_dir = Path(_absolute(str(run_dir))) if run_dir else new_run_dir(s.model)
    check_name(run_dir)
    _refuse_taken(run_dir)
    s.model, s.data = _absolute(s.model), _absolute(s.data)
    s.adapter_path = _absolute(s.adapter_path) or str(run_dir / ADAPTERS)
    validate_run(s, processes=processes)
    return run_dir


def run_training(ctx, s: TrainSettings, run_dir: str | Path | None = None, hosts: list | None = None) -> TrainResult:
    """Start a new run in ``run_dir`` (see ``check_new_run``) and train it
    here; under ``mlx.launch``, this process's share of it (``hosts``: where
    each rank runs, for the start record)."""
    group = join_group()
    if not group.writer:
        return _train_peer(ctx, s, run_dir, group)
    if group.size > 1 and not run_dir:
        raise _no_run_dir()
    run_dir = check_new_run(s, run_dir, group.size)
    with RunLock(run_dir):
        _refuse_taken(run_dir)  # again, holding the lock: another process may have started it meanwhile
        return _run(ctx, s, run_dir, None, group, hosts)


def _no_run_dir() -> TuneDeckError:
    # Each process would make a run folder of its own.
    return TuneDeckError(
        "a run of several processes needs its run folder named",
        "start it with `tunedeck train --processes N` (or --hosts/--hostfile), or pass --out RUN_DIR",
    )


class QuietContext:
    """The job's context for a rank other than 0: it reports nothing (rank 0 does)."""

    def __init__(self, ctx):
        self._ctx = ctx

    def __getattr__(self, name):
        return getattr(self._ctx, name)

    def progress(self, message: str, done: float | None = None, total: float | None = None) -> None:
        pass

    def emit(self, event) -> None:
        pass


def _train_peer(ctx, s: TrainSettings, run_dir, group: Group) -> TrainResult:
    """Rank 1.. of a group run: the same training on its share of every
    batch, from rank 0's checkpoint when resuming; it writes nothing (rank 0
    alone validates the data and owns the run folder)."""
    if not run_dir:
        raise _no_run_dir()
    check_batch_for_group(s.batch_size, group.size)
    with keep_awake():  # a Mac that sleeps drops out of the group
        return _train(QuietContext(ctx), s, Path(run_dir), None, None, group)


def check_resumable(run_dir: str | Path) -> Path:
    """A run folder that no process trains now (the deeper checks need its lock)."""
    run_dir = Path(_absolute(str(run_dir)))
    if not (run_dir / CONFIG).is_file() or not is_run_dir(run_dir):
        raise TuneDeckError(
            f"{run_dir} is not a TuneDeck run folder (a run has {CONFIG} and events.jsonl)",
            "pass a folder from `tunedeck runs`",
        )
    if is_locked(run_dir):
        raise TuneDeckError(
            f"{run_dir} is being trained by another process{holder(run_dir)}",
            "wait for that run to finish, or stop it where it runs; then resume it",
        )
    return run_dir


def _resume_adapter_folder(run_dir: Path, stored: str, given: str | None) -> str:
    """Where a resumed run writes its adapter: never into another run's."""
    if given:
        given = _absolute(given)
        _check_new_adapter_folder(given)
        return given
    if not stored:
        return str(run_dir / ADAPTERS)
    path = Path(stored)
    if not path.is_absolute():
        return str(run_dir / path)
    if path.parent != run_dir and path.name == ADAPTERS and (is_run_dir(path.parent) or not path.parent.exists()):
        # Stored absolute by an older TuneDeck: the adapters of the run this
        # one was copied or moved from. This run has its own.
        return str(run_dir / ADAPTERS)
    marker = read_marker(path, ADAPTER) or {}
    owner = marker.get("run")
    if owner and is_run_dir(owner) and not os.path.samefile(owner, run_dir):
        raise TuneDeckError(
            f"{run_dir.name} writes its adapter to {path}, which belongs to the run {owner} "
            "(this run looks like a copy of it)",
            f"give this copy its own adapter folder: `tunedeck train --resume {run_dir} --adapter-path NEW_FOLDER`",
        )
    return str(path)


def resume_training(
    ctx,
    run_dir: str | Path,
    iters: int | None = None,
    adapter_path: str | None = None,
    peer_settings: TrainSettings | None = None,
    hosts: list | None = None,
) -> TrainResult:
    """Continue a stopped, crashed or failed run from its latest checkpoint
    (or extend a finished one with a larger ``iters``). ``adapter_path``: a
    new adapter folder (for a copied run whose adapter folder is elsewhere).
    Under ``mlx.launch`` the other ranks train with ``peer_settings`` (their
    machine has no run folder) from rank 0's checkpoint."""
    # The rank mlx.launch gave (no MLX needed yet): rank 0 takes the run's lock before anything slow.
    if launched_rank() != 0:
        group = join_group()
        if peer_settings is None:
            raise TuneDeckError(
                "this process of a group run was given no settings to resume with",
                f"resume group runs with `tunedeck train --resume {run_dir} --processes N` (or --hosts/--hostfile)",
            )
        return _train_peer(ctx, peer_settings, run_dir, group)
    run_dir = Path(_absolute(str(run_dir)))
    if not (run_dir / CONFIG).is_file() or not is_run_dir(run_dir):
        check_resumable(run_dir)  # says why not
    with RunLock(run_dir):  # refuses while another process trains it
        group = join_group()
        s = TrainSettings.from_dict(load_yaml(run_dir / CONFIG, deep=True))  # on the worker: mlx may be used
        if iters is not None:
            s.iters = iters
        s.adapter_path = _resume_adapter_folder(run_dir, s.adapter_path, adapter_path)
        validate_run(s, resuming=True, processes=group.size)
        sweep_leftovers(run_dir, s.adapter_path)  # what a killed writer left half-written
        ckpt = latest_checkpoint(run_dir)
        if ckpt is None:  # it ended before its first save: nothing to keep, so start it over
            ctx.progress("no checkpoint yet: starting again from iteration 0")
            return _run(ctx, s, run_dir, None, group, hosts)
        done = int(ckpt.name)
        if done >= s.iters:
            raise TuneDeckError(
                f"{run_dir.name} already completed {done} of {s.iters} iterations",
                f"pass a larger iteration count to train longer (e.g. --iters {done * 2})",
            )
        return _run(ctx, s, run_dir, ckpt, group, hosts)


def _record(log, kind: str, **data) -> None:
    """An end record; a full disk must not hide the error being recorded."""
    try:
        log.write(kind, **data)
    except (OSError, TuneDeckError):
        pass


def _run(
    ctx, s: TrainSettings, run_dir: Path, checkpoint: Path | None, group: Group, hosts: list | None = None
) -> TrainResult:
    """Train (holding the run's lock: callers take it); rank 0 of ``group``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / RUN.marker).is_file():  # new, or a run from before runs had a marker
        write_json(run_dir / RUN.marker, {"kind": RUN.name, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    write_text(run_dir / CONFIG, dump_yaml(portable(s, run_dir)))  # on resume: records a changed total
    if checkpoint is None:
        write_json(run_dir / MANIFEST_COPY, read_manifest(s.data))
    log = EventLog(run_dir)
    try:
        ctx = LoggedContext(ctx, log)
        with keep_awake() as kept:
            if kept:
                ctx.progress(kept)
            try:
                return _train(ctx, s, run_dir, checkpoint, log, group, hosts)
            except RuntimeError as exc:
                if group.size == 1:
                    raise
                raise _group_broke(exc, run_dir) from exc
    except Cancelled:
        _record(
            log,
            "stopped",
            iteration=int(checkpoint.name) if checkpoint else 0,
            message="stopped before the first step",
            reason=stop_reason(ctx),
        )
        raise
    except TuneDeckError as exc:
        _record(log, "failed", message=exc.message, hint=exc.hint)
        raise
    except Exception as exc:
        _record(log, "failed", message=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        log.close()


def _group_broke(exc: RuntimeError, run_dir: Path) -> TuneDeckError:
    """MLX's own words when a collective fails ("[ring] connection to a peer
    was lost"): another process of the run ended or its machine dropped out."""
    return TuneDeckError(
        f"another process of this run stopped answering ({exc}); rank 0 stopped too",
        f"its output is in {run_dir / PROCESS_LOG}; resume the run from its last checkpoint, {SAME_HOSTS}",
    )


class LoggedContext:
    """The job's context, with each progress step ("loading model"…) also
    written to the run's log: a viewer in another process reads it there."""

    def __init__(self, ctx, log: EventLog):
        self._ctx, self._log = ctx, log

    def __getattr__(self, name):
        return getattr(self._ctx, name)

    def progress(self, message: str, done: float | None = None, total: float | None = None) -> None:
        self._log.write("progress", message=message)
        self._ctx.progress(message, done, total)


def stop_reason(ctx) -> str:
    """Why the job was asked to stop ("SIGTERM", ...), for the stop record."""
    return ctx.state.get("cancel_reason") or "stop requested"


def _train(
    ctx, s: TrainSettings, run_dir: Path, checkpoint: Path | None, log, group: Group, hosts: list | None = None
) -> TrainResult:
    """One rank's training; only rank 0 (``group.writer``) writes and reports."""
    import numpy as np
    from mlx.utils import tree_flatten
    from mlx_lm.tuner.datasets import CacheDataset
    from mlx_lm.tuner.trainer import TrainingArgs, TrainingCallback, evaluate, iterate_batches, train
    from mlx_lm.utils import get_total_parameters

    quiet_mlx_lm_console()
    writer = group.writer
    adapter_dir = Path(s.adapter_path)
    if writer:
        adapter_dir.mkdir(parents=True, exist_ok=True)
    adapter_file = adapter_dir / ADAPTER_FILE
    model, _, train_set, valid_set = prepare_model(ctx, s)
    config = portable(s, run_dir).mlx_lm_config()
    if writer:
        write_json(adapter_dir / "adapter_config.json", config)
        try:
            adapter_dir.relative_to(run_dir)
        except ValueError:  # an adapter folder of its own: it records whose it is (see _resume_adapter_folder)
            write_json(adapter_dir / ADAPTER.marker, {"kind": ADAPTER.name, "run": str(run_dir)})
    optimizer = build_optimizer(s)

    start, saved = 0, {}
    if checkpoint is not None:
        ctx.progress(f"restoring checkpoint {checkpoint.name}")
        saved = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
        start = int(saved["iteration"])
        model.load_weights(str(checkpoint / ADAPTER_FILE), strict=False)
        _restore_optimizer(optimizer, model, checkpoint / OPTIMIZER_FILE)
        if not s.lr_schedule:  # a rate lowered in config.yaml (e.g. after NaN) wins
            optimizer.learning_rate = s.learning_rate
    # Only rank 0's machine holds the run folder: the others take its position and state.
    start = group.from_writer(start)
    if start:
        group.share_state(model, optimizer)

    beaten = [0.0]

    def emit(event, kind: str, **extra) -> None:
        if not writer:
            return
        # Logged first: whoever hears the event (the Runs list) reads it from the run's folder.
        data = {k: v for k, v in asdict(event).items() if k != "job_id"}
        if group.size == 1:  # a one-process run's records stay as they always were
            data.pop("processes", None)
            data.pop("hosts", None)
        log.write(kind, **data, **extra)
        if kind == "train" and time.monotonic() - beaten[0] >= HEARTBEAT_SECONDS:
            beaten[0] = time.monotonic()
            beat(run_dir, iteration=event.iteration, iters=s.iters, heartbeat=round(time.time(), 1))
        ctx.emit(event)

    # As mlx_lm.lora reports them: a quantized weight counts the parameters it packs, not its uint32 words.
    total = get_total_parameters(model)
    trainable = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))  # LoRA weights: never quantized
    emit(
        ev.TrainStarted(
            run_dir=str(run_dir),
            iters=s.iters,
            start_iteration=start,
            trainable_parameters=int(trainable),
            total_parameters=int(total),
            train_examples=len(train_set),
            model=s.model,
            data=s.data,
            processes=group.size,
            hosts=list(hosts or []),
        ),
        "start",
        adapter_path=str(adapter_dir),
    )

    state = {
        "completed": start,
        "diverged": None,
        "last_saved": start if checkpoint else 0,
        "stopped_at": None,
        "trained_tokens": int(saved.get("trained_tokens", 0)),
        "best": saved.get("best_val_loss"),
        "best_iteration": saved.get("best_iteration"),
        "saved_at": time.monotonic(),  # the wall clock of the last checkpoint (save_minutes)
    }
    tokens_before = state["trained_tokens"]

    def save_checkpoint(it: int) -> bool:
        if not _all_finite(model):  # never keep a NaN checkpoint
            state["diverged"] = it
            return False
        if not writer:
            state["last_saved"], state["saved_at"] = it, time.monotonic()
            return True
        folder = run_dir / CHECKPOINTS / f"{it:07d}"
        _write_adapter_folder(
            model,
            folder,
            config,
            {
                "optimizer": optimizer,
                "state": {
                    "iteration": it,
                    "trained_tokens": state["trained_tokens"],
                    "seed": s.seed,
                    "best_val_loss": state["best"],
                    "best_iteration": state["best_iteration"],
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                },
            },
        )
        for old in checkpoint_dirs(run_dir)[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(old, ignore_errors=True)
        save_adapter(model, adapter_file)
        state["last_saved"], state["saved_at"] = it, time.monotonic()
        emit(ev.CheckpointSaved(iteration=it, path=str(folder)), "checkpoint")
        return True

    class Reporter(TrainingCallback):
        def on_train_loss_report(self, info):
            loss = float(info["train_loss"])
            it = start + int(info["iteration"])
            if not math.isfinite(loss):
                state["diverged"] = it
                return
            state["trained_tokens"] = tokens_before + int(info["trained_tokens"])
            emit(
                ev.TrainReport(
                    iteration=it,
                    train_loss=loss,
                    learning_rate=float(info["learning_rate"]),
                    iterations_per_second=float(info["iterations_per_second"]),
                    tokens_per_second=float(info["tokens_per_second"]),
                    trained_tokens=state["trained_tokens"],
                    peak_memory_gb=float(info["peak_memory"]),
                ),
                "train",
            )

    # TuneDeck validates, not the trainer: the trainer evaluates *before* its
    # step N, so its figure for N is that of N-1 steps, one iteration off the
    # checkpoint of N. Here it is the weights after ``it`` steps: the session's
    # start, every steps_per_eval (as the checkpoints count), and the end.
    val_data = CacheDataset(valid_set) if len(valid_set) else None

    def validate(it: int) -> None:
        if val_data is None:
            return
        loss = float(
            evaluate(
                model=model,
                dataset=val_data,
                batch_size=s.batch_size,
                num_batches=s.val_batches,
                max_seq_length=s.max_seq_length,
                iterate_batches=batches,
            )
        )
        model.train()
        if not math.isfinite(loss):
            state["diverged"] = it
            return
        emit(ev.ValReport(iteration=it, val_loss=loss), "val")
        # Iteration 0 is the untouched base: not a result.
        if it > 0 and (state["best"] is None or loss < state["best"]):
            state["best"], state["best_iteration"] = loss, it
            if writer:
                _write_adapter_folder(model, run_dir / BEST, config)
            emit(ev.BestAdapterSaved(iteration=it, val_loss=loss, path=str(run_dir / BEST)), "best")

    def batches(dataset, batch_size, max_seq_length, loop=False, seed=None, comm_group=None):
        if not loop:  # validation: isolate its shuffle from the training order
            rng = np.random.get_state()
            try:
                yield from iterate_batches(
                    dataset, batch_size, max_seq_length, loop=loop, seed=seed, comm_group=comm_group
                )
            finally:
                np.random.set_state(rng)
            return
        # Training: the order depends on the seed alone, so a resume replays
        # it to the checkpoint's position (skipped batches are not trained).
        # TuneDeck's length-grouped batches by default (core/training/batching.py: far
        # less padding); both orders depend on the seed alone.
        make = length_grouped_batches if s.group_by_length else iterate_batches
        inner = make(dataset, batch_size, max_seq_length, loop=loop, seed=s.seed, comm_group=comm_group)
        for _ in range(start):
            next(inner)
        for step, batch in enumerate(inner):
            # The trainer asks for batch ``step`` (0-based) only after it has
            # run and evaluated ``step`` optimizer steps: a safe save point.
            it = start + step
            state["completed"] = it
            # Decided by the whole group (one sum per step): a stop asked of
            # rank 0 stops every rank here, and a wall-time save is taken by all.
            stop, clock_due = group.any(
                ctx.cancelled, s.save_minutes > 0 and time.monotonic() - state["saved_at"] >= s.save_minutes * 60
            )
            due = it % s.save_every == 0 or clock_due
            if step and due and state["diverged"] is None and not save_checkpoint(it):
                return
            if stop:
                if step and state["last_saved"] != it and state["diverged"] is None:
                    save_checkpoint(it)  # a clean stop: resumable from exactly here
                state["stopped_at"] = it
                return
            if state["diverged"] is not None:
                return
            if step == 0 or it % s.steps_per_eval == 0:
                validate(it)
                if state["diverged"] is not None:
                    return
            reseed(s.seed, it)  # dropout noise as a function of the step: resumable anywhere
            yield batch

    # The trainer's own saves go to a temp file we rename into place after a
    # clean finish; its periodic saves are off (ours above are atomic).
    tmp_final = adapter_dir / ".final.tmp.safetensors"
    args = TrainingArgs(
        batch_size=s.batch_size,
        iters=s.iters - start,
        val_batches=s.val_batches,
        steps_per_report=s.steps_per_report,
        steps_per_eval=s.steps_per_eval,
        steps_per_save=s.iters + 1,
        max_seq_length=s.max_seq_length,
        grad_checkpoint=s.grad_checkpoint,
        grad_accumulation_steps=s.grad_accumulation_steps,
        adapter_file=str(tmp_final),
    )
    ctx.check_cancelled()  # a stop pressed while loading: no untrained adapter
    ctx.progress("training")
    started = time.perf_counter()
    with KeepLayerCall(model), writing(adapter_dir):  # mlx-lm's own final save: a full disk named
        train(
            model=model,
            optimizer=optimizer,
            train_dataset=CacheDataset(train_set),
            val_dataset=None,
            args=args,
            iterate_batches=batches,
            training_callback=Reporter(),
        )
        if state["diverged"] is None and state["stopped_at"] is None:
            validate(s.iters)  # the final adapter's own figure
    if state["diverged"] is None and not _all_finite(model):
        state["diverged"] = state["completed"] or s.iters
    if state["diverged"] is not None:
        if writer:
            tmp_final.unlink(missing_ok=True)
        kept = (
            f"the adapter from iteration {state['last_saved']} is kept; resume from there with a lower rate"
            if state["last_saved"]
            else "no adapter was kept"
        )
        raise TuneDeckError(
            f"loss became NaN/inf at iteration {state['diverged']}; training stopped ({kept})",
            f"lower the learning rate (now {s.learning_rate:g}; try {s.learning_rate / 10:g})",
        )
    if state["stopped_at"] == start:  # stopped before this session's first step
        if writer:
            tmp_final.unlink(missing_ok=True)
        raise Cancelled()
    stopped = state["stopped_at"] is not None
    iterations = state["stopped_at"] if stopped else s.iters
    if writer:  # mlx-lm's trainer saves on rank 0 only
        tmp_final.replace(adapter_file)  # rename: atomic
    if not stopped and state["last_saved"] != iterations:
        save_checkpoint(iterations)  # lets a finished run be extended later
    if group.size > 1:  # every rank at the same step with the same weights, as data parallelism means
        agree = group.weights_agree(model)
        extra = {"ranks_agree": agree}
        if not agree:
            ctx.progress(f"warning: the {group.size} processes ended with different weights (rank 0's were saved)")
    else:
        extra = {}
    if writer:  # the end record (the job's own end, JobFinished, carries the same facts as its result)
        log.write(
            "stopped" if stopped else "finished",
            adapter_path=str(adapter_dir),
            iterations=iterations,
            stopped_early=stopped,
            model=s.model,
            data=s.data,
            iteration=iterations,
            **({"reason": stop_reason(ctx)} if stopped else {}),
            **extra,
        )
    best = run_dir / BEST
    return TrainResult(
        adapter_path=str(adapter_dir),
        iterations=iterations,
        stopped_early=stopped,
        model=s.model,
        data=s.data,
        seconds=time.perf_counter() - started,
        run_dir=str(run_dir),
        best_path=str(best) if best.is_dir() else None,
        best_val_loss=state["best"],
        start_iteration=start,
        reason=stop_reason(ctx) if stopped else "",
    )
