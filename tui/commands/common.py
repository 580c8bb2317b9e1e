"""Helpers shared by the headless commands."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from concurrent.futures import TimeoutError as FutureTimeout

# The signals that stop a headless job cleanly: Ctrl-C, `kill`, and a hang-up
# (the SSH link dropped, the tmux session killed). Exit status 128 + number.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
OVERWRITE_HELP = "replace an earlier TuneDeck {what} there (anything else is never replaced)"
_stopped_by: list[int] = []  # the first stop signal of this process

_NO_ALL = object()


def count(minimum: int = 1, all_value=_NO_ALL):
    """An argparse ``type``: a whole number of at least ``minimum``, or (when
    ``all_value`` is given) ``all`` / ``-1``, which give ``all_value``.
    argparse puts the flag's name in front of the message."""

    def parse(text: str):
        word = text.strip().lower()
        if all_value is not _NO_ALL and word in ("all", "-1"):
            return all_value
        try:
            n = int(word)
        except ValueError:
            n = None
        if n is None or n < minimum:
            rule = f"a whole number of at least {minimum}" + (", or all" if all_value is not _NO_ALL else "")
            raise argparse.ArgumentTypeError(f"must be {rule} (got {text!r})")
        return n

    parse.__name__ = "count"
    return parse


SEED = count(0)  # numpy's seeds are 0 … 2**32-1; the upper bound is checked with the other settings


class ByteProgressLine:
    """Download progress (models and hub datasets) as a plain line: rewritten in
    place on a terminal, one line per 10% (and at the end) when piped, so logs
    stay readable."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.step = (-1, False)
        self.last = 0.0
        self.open = False  # a terminal line is waiting for its newline

    def show(self, event) -> None:
        import time

        from core.models.model_info import format_size
        from core.runtime.eta import clock

        frac = (event.done or 0) / event.total if event.total else 1.0
        eta = f", ETA {clock(event.eta_seconds)}" if event.eta_seconds is not None and frac < 1 else ""
        line = (
            f"{event.repo_id}: {format_size(event.done) if event.done else '0 B'} / "
            f"{format_size(event.total)} ({frac:.0%}), {format_size(event.bytes_per_second)}/s{eta}, "
            f"files {event.files_done}/{event.files_total}"
        )
        if self.tty:
            now = time.monotonic()
            if now - self.last >= 0.2 or frac >= 1:
                self.last = now
                print("\r" + line.ljust(79), end="", flush=True)
                self.open = True
        else:
            # (10% step, all files in): the last line then says files N/N
            step = (int(frac * 10), frac >= 1 and event.files_done == event.files_total)
            if step > self.step:
                self.step = step
                print(line, flush=True)

    def end(self) -> None:
        if self.open:
            print(flush=True)
            self.open = False


def engine_printing():
    """An engine whose progress and training events print as plain lines."""
    from core.runtime import events as ev
    from core.runtime.engine import Engine

    bytes_line = ByteProgressLine()

    def show(event):
        if isinstance(event, ev.DownloadProgress):
            bytes_line.show(event)
            return
        bytes_line.end()  # anything else starts on its own line
        if isinstance(event, ev.Progress):
            print(f"... {event.message}", flush=True)
        elif isinstance(event, ev.TrainStarted):
            print(f"training {event.model} on {event.data}", flush=True)
            if event.processes > 1:
                hosts = ", ".join(dict.fromkeys(event.hosts))
                print(f"in {event.processes} processes" + (f" on {hosts}" if hosts else ""), flush=True)
            print(
                f"training {event.trainable_parameters:,}/{event.total_parameters:,} parameters, "
                f"{event.train_examples} examples, {event.iters} iterations",
                flush=True,
            )
        elif isinstance(event, ev.TrainReport):
            print(
                f"iter {event.iteration}: train loss {event.train_loss:.3f}, "
                f"{event.tokens_per_second:.0f} tok/s, peak {event.peak_memory_gb:.2f} GB",
                flush=True,
            )
        elif isinstance(event, ev.ValReport):
            print(f"iter {event.iteration}: val loss {event.val_loss:.3f}", flush=True)
        elif isinstance(event, ev.CheckpointSaved):
            print(f"iter {event.iteration}: saved {event.path}", flush=True)

    return Engine(show)


def stop_exit_code() -> int:
    """128 + the signal that stopped this process's job (130 for Ctrl-C,
    143 for SIGTERM, 129 for SIGHUP), as shells report a killed command."""
    return 128 + (_stopped_by[0] if _stopped_by else signal.SIGINT)


def _say(text: str) -> None:
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass  # no terminal any more


def _detach_terminal(ttys: list[int]) -> None:
    """After a hang-up the terminal is gone: writes to it would fail (EIO),
    so what still prints goes nowhere instead (a redirected log keeps it)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in ttys:
        os.dup2(devnull, fd)
    os.close(devnull)


def wait(job, last: bool = False, hangup=None, leave=None):
    """The job's result; a TuneDeckError propagates.

    Ctrl-C, SIGTERM and SIGHUP ask the job to stop cleanly (a training run
    finishes its step and saves a checkpoint) and wait for it; another one
    meanwhile only says "already stopping": leaving mid-step would abort the
    MLX thread. The handlers only note the signal; this loop acts on it.
    ``last``: the command ends after this job (training), so once a stop was
    asked for the handlers stay, and a late Ctrl-C cannot cut its closing
    lines short. ``hangup``: called instead of stopping the job when the
    terminal hangs up (a run process trains on without it); ``leave``:
    called instead of stopping it for every stop signal (watching a run
    ends the watching, never the run).
    """
    if threading.current_thread() is not threading.main_thread():
        return job.result()
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: received.append(signum)) for sig in STOP_SIGNALS}
    ttys = [fd for fd in (1, 2) if os.isatty(fd)]  # now: a hung-up terminal no longer says it is one
    handled = 0

    def act() -> None:
        nonlocal handled
        while handled < len(received):
            signum, handled = received[handled], handled + 1
            name = signal.Signals(signum).name
            if signum == signal.SIGHUP:
                _detach_terminal(ttys)
            if leave is not None:
                _stopped_by.append(signum)
                leave()
                continue
            if signum == signal.SIGHUP and hangup is not None:
                _stopped_by.append(signum)
                hangup()
                continue
            if handled == 1:
                _stopped_by.append(signum)
                job.cancel(name)
                _say(f"stopping ({name}): the current step finishes and is saved first…")
            else:
                _say(f"already stopping ({name} again): waiting for the current step to be saved…")

    try:
        while True:
            try:
                return job.result(timeout=0.1)
            except FutureTimeout:
                pass
            finally:
                act()  # also when the job has just ended: what came meanwhile is answered
    finally:
        if not (last and received):
            for sig, handler in previous.items():
                signal.signal(sig, handler)
