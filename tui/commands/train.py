"""``tunedeck train`` and ``tunedeck runs``: training headless, plain lines.

Flags are named like ``mlx_lm.lora``'s; ``-c config.yaml`` reads the same
YAML it does. Precedence is mlx-lm's: flags, then the file, then defaults
for the model (the demo model keeps its fast demo settings).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from tui.commands.common import count, engine_printing, stop_exit_code, wait


def _flag_type(spec):
    """The argparse ``type`` for a knob: counts are checked as they are
    parsed, so a message names the flag (-1 = all, as in mlx-lm)."""
    if spec.kind is int and spec.low is not None:
        if spec.all_value is not None:
            return count(int(spec.low), all_value=spec.all_value)
        return count(int(spec.low))
    return spec.kind


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train headless (new run, --resume, or --memory-check)",
        description="Train headless, printing plain progress lines. Flags are named like "
        "mlx_lm.lora's; -c reads the same YAML.",
    )
    p.add_argument("-c", "--config", help="YAML config (the keys mlx_lm.lora -c accepts)")
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (default: a new one under TUNEDECK_HOME/runs)")
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue a stopped or crashed run from its latest "
        "checkpoint (--iters extends a finished one; --adapter-path gives a copied run whose "
        "adapter folder is outside it a new one)",
    )
    p.add_argument(
        "--detach",
        action="store_true",
        help="train in the background: print the run folder and return once training has begun "
        "(tunedeck runs watch RUN follows it, tunedeck runs stop RUN stops it)",
    )
    g = p.add_argument_group(
        "several processes or Macs (through mlx.launch; docs/multi-mac.md)",
        "each process trains its share of every batch; the run folder lives with the first",
    )
    g.add_argument("--processes", type=count(1), metavar="N", help="train in N processes (on one machine, or per host)")
    g.add_argument("--hosts", metavar="IP,IP", help="train on these hosts, one process each (the first: this Mac)")
    g.add_argument("--hostfile", metavar="FILE", help="mlx.launch's hostfile (as `mlx.distributed_config` writes it)")
    g.add_argument("--backend", choices=["ring", "mpi", "jaccl"], help="mlx.launch's backend (default ring)")
    p.add_argument(
        "--memory-check",
        action="store_true",
        help="run a few real steps at these settings and say whether they fit in memory",
    )
    p.add_argument("--preset", choices=["quick", "thorough"], help="start from a preset")
    p.add_argument(
        "--lr-schedule",
        choices=["constant", "cosine", "linear"],
        help="learning-rate schedule (cosine/linear with warm-up)",
    )
    p.add_argument("--save-config", metavar="PATH", help="write the resulting YAML config and exit")
    p.add_argument(
        "--overwrite", action="store_true", help="with --save-config: replace a config TuneDeck wrote there before"
    )
    from core.training.settings import TrainSettings

    # The knobs' own flags, named like mlx_lm.lora's (dest: the key's last part).
    for spec in TrainSettings.knobs():
        if not spec.cli:
            continue
        if spec.kind is bool:
            p.add_argument(spec.flag, action="store_true", default=None, help=spec.help)
        else:
            p.add_argument(spec.flag, type=_flag_type(spec), help=spec.help)
    p.set_defaults(func=run)

    r = sub.add_parser(
        "runs",
        help="list training runs (status, iterations, validation loss); watch or stop one",
        description="List training runs. `runs watch RUN` follows one in plain lines until it ends "
        "(with its exit status); `runs stop RUN` stops it cleanly (its checkpoint is kept).",
    )
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.add_argument("--dir", help="runs folder (default TUNEDECK_HOME/runs)")
    r.set_defaults(func=list_runs)
    what = r.add_subparsers(dest="runs_command", metavar="{watch,stop}")
    w = what.add_parser("watch", help="follow a run in plain lines until it ends (Ctrl-C stops watching only)")
    w.add_argument("run", metavar="RUN", help="a run folder, or a run name from `tunedeck runs`")
    w.set_defaults(func=watch_run)
    t = what.add_parser("stop", help="stop a run cleanly at its next completed step, and wait for it")
    t.add_argument("run", metavar="RUN", help="a run folder, or a run name from `tunedeck runs`")
    t.set_defaults(func=stop_run)


def settings_from_args(args: argparse.Namespace):
    """TrainSettings from flags > config file > model defaults."""
    from core.runtime.errors import TuneDeckError
    from core.training.settings import TrainSettings, apply_preset, default_settings, load_yaml, schedule_for

    from_file = load_yaml(args.config) if args.config else {}
    given = [k for k in TrainSettings.knobs() if k.cli and getattr(args, k.path[-1]) is not None]
    flags = {k.key: getattr(args, k.key) for k in given if len(k.path) == 1}
    merged = {**from_file, **flags}
    if not merged.get("model") or not merged.get("data"):
        raise TuneDeckError(
            "say which model and data to train on", "pass --model and --data, or a config with model: and data: keys"
        )
    s = default_settings(merged["model"], merged["data"], merged.get("adapter_path", ""))
    if args.preset:
        apply_preset(s, args.preset)
    base = TrainSettings.from_dict({**vars(s), **merged})
    for spec in given:
        if len(spec.path) > 1:  # --rank: one key of lora_parameters, the rest kept
            spec.set(base, getattr(args, spec.path[-1]))
    if args.lr_schedule:
        base.lr_schedule = schedule_for(args.lr_schedule, base.learning_rate, base.iters)
    return base


def _extra_lines(event) -> None:
    from core.runtime import events as ev

    if isinstance(event, ev.BestAdapterSaved):
        print(f"iter {event.iteration}: best validation loss so far, saved {event.path}", flush=True)
    elif isinstance(event, ev.TrainStarted) and event.start_iteration:
        print(f"resuming at iteration {event.start_iteration} of {event.iters}", flush=True)


def run(args) -> int:
    from core.runtime.errors import TuneDeckError
    from core.training.group_launch import group_spec, launched_rank

    if launched_rank() or "MLX_HOSTFILE" in os.environ:
        # Each rank would start a run process (and a run) of its own.
        raise TuneDeckError(
            "tunedeck train is not to be started by mlx.launch: it starts mlx.launch itself",
            "run `tunedeck train ... --processes N` (or --hosts/--hostfile) without mlx.launch",
        )
    group = group_spec(args.processes, args.hosts, args.hostfile, args.backend)
    engine = engine_printing()
    engine.add_listener(_extra_lines)
    if args.resume:
        return _follow_run(
            engine,
            engine.resume_run(args.resume, iters=args.iters, adapter_path=args.adapter_path, group=group),
            args,
        )
    settings = settings_from_args(args)
    if args.save_config:
        from core.training.settings import check_settings, save_yaml

        check_settings(settings)
        print(f"wrote {save_yaml(settings, args.save_config, overwrite=args.overwrite)}")
        return 0
    if args.memory_check:
        if group is not None:
            raise TuneDeckError(
                "--memory-check measures one process", "leave out --processes/--hosts/--hostfile to check memory"
            )
        report = wait(engine.memory_check(settings))
        print(f"memory check: {report.summary()}")
        return 0 if report.fits else 2
    return _follow_run(engine, engine.start_run(settings, args.out, group), args)


def _follow_run(engine, job, args) -> int:
    """The run trains in its own process; this one prints it. Ctrl-C or
    SIGTERM stops the run cleanly; a hang-up leaves it training."""
    from core.runtime.errors import Cancelled, TuneDeckError
    from core.training.group_launch import SAME_HOSTS

    if args.detach:
        return _detach_once_begun(engine, job)
    try:
        result = wait(job, last=True, hangup=engine.detach_runs)
    except Cancelled:
        if not job.state.get("detach"):
            raise
        run = job.state.get("run_dir", "")
        print(f"the terminal hung up: the run trains on; follow it with `tunedeck runs watch {run}`", flush=True)
        return stop_exit_code()
    except TuneDeckError as exc:
        flags = _group_flags(args)
        run = job.state.get("run_dir")
        if not flags or not run or not exc.hint.endswith(SAME_HOSTS):
            raise
        # A group run's failure that can resume says so (SAME_HOSTS): here, the command that does.
        raise TuneDeckError(exc.message, f"{exc.hint}: `tunedeck train --resume {run} {flags}`", exc.where) from None
    return _finished(result)


def _group_flags(args) -> str:
    """The group flags this command was given, to say again in a resume."""
    import shlex

    given = [(f, getattr(args, a, None)) for f, a in (("--hostfile", "hostfile"), ("--hosts", "hosts"))]
    given += [("--processes", args.processes), ("--backend", args.backend)]
    return " ".join(f"{flag} {shlex.quote(str(value))}" for flag, value in given if value)


def _detach_once_begun(engine, job) -> int:
    import threading

    from core.runtime import events as ev
    from core.runtime.errors import Cancelled

    begun = threading.Event()
    engine.add_listener(lambda e: begun.set() if isinstance(e, ev.TrainStarted) and e.job_id == job.id else None)
    while not begun.wait(0.1):
        if job.done:
            job.result()  # it failed before training began: raises what it says
    engine.detach_runs()
    try:
        job.result()
    except Cancelled:
        pass
    run = job.state["run_dir"]
    print(f"training in the background: {run}")
    print(f"  follow it: tunedeck runs watch {run}")
    print(f"  stop it:   tunedeck runs stop {run}")
    return 0


def _finished(result) -> int:
    how = "stopped" if result.stopped_early else "finished"
    print(
        f"{how} after {result.iterations} iterations of {result.model} on {result.data}; "
        f"adapter in {result.adapter_path}"
    )
    if result.best_path:
        print(f"best validation loss {result.best_val_loss:.3f}: {result.best_path}")
    print(f"run folder: {result.run_dir}")
    # Stopped by a signal: 128 + its number (Ctrl-C 130, SIGTERM 143, SIGHUP 129)
    # like any interrupted command, so `train && fuse` stops too.
    return stop_exit_code() if result.stopped_early else 0


def _exit_status(result) -> int:
    """A followed run's exit status, as its own process ended: 0 finished,
    128 + the signal that stopped it (a stop asked by a viewer is a SIGTERM)."""
    import signal

    if not result.stopped_early:
        return 0
    sig = getattr(signal, result.reason, None) if result.reason.startswith("SIG") else None
    return 128 + int(sig or signal.SIGTERM)


def watch_run(args) -> int:
    from core.runtime.errors import Cancelled
    from core.training.launcher import find_run
    from core.training.run_folders import run_info

    run = find_run(args.run, args.dir)
    info = run_info(run)
    if info.status != "running":
        print(f"{info.name} is not training: {info.status} at {info.iteration}/{info.iters}")
        if info.message:
            print(f"  {info.message}")
        return {"finished": 0, "stopped": 130, "new": 0}.get(info.status, 1)
    engine = engine_printing()
    engine.add_listener(_extra_lines)
    job = engine.attach_run(run)
    print(f"watching {info.name} (Ctrl-C stops watching; `tunedeck runs stop {info.name}` stops the run)", flush=True)

    try:
        result = wait(job, leave=engine.detach_runs)  # Ctrl-C ends the watching, never the run
    except Cancelled:
        print("stopped watching; the run trains on", flush=True)
        return stop_exit_code()
    _finished(result)
    return _exit_status(result)


def stop_run(args) -> int:
    from core.runtime.errors import Cancelled
    from core.training.follow import session_offset
    from core.training.launcher import find_run, request_stop
    from core.training.run_folders import run_info

    run = find_run(args.run, args.dir)
    if not request_stop(run, "tunedeck runs stop"):
        info = run_info(run)
        print(f"{info.name} is not training ({info.status} at {info.iteration}/{info.iters}): nothing to stop")
        return 1
    print(f"stopping {run.name}: its current step finishes and is saved first…", flush=True)
    engine = engine_printing()
    job = engine.attach_run(run, offset=session_offset(run))
    try:
        result = job.result()
    except Cancelled:  # it stopped before its first step
        print(f"stopped {run.name} before its first step; nothing new was saved")
        return 0
    _finished(result)
    print(f"resume it with `tunedeck train --resume {result.run_dir}`")
    return 0


def list_runs(args) -> int:
    from core.training.run_folders import list_runs as find

    runs = find(args.dir)
    if args.json:
        print(json.dumps([r.as_dict() for r in runs], indent=2))
        return 0
    if not runs:
        print("no runs yet (tunedeck train ... starts one)")
        return 0
    print(f"{'run':<32} {'status':<9} {'iters':>11} {'val loss':>8} data")
    for r in runs:
        val = f"{r.last_val_loss:.3f}" if r.last_val_loss is not None else "-"
        data = Path(r.data).name if r.data else "-"
        print(f"{r.name[:32]:<32} {r.status:<9} {f'{r.iteration}/{r.iters}':>11} {val:>8} {data[:16]}")
    if any(r.status == "running" for r in runs):
        print("follow a running one: tunedeck runs watch RUN · stop it: tunedeck runs stop RUN")
    return 0
