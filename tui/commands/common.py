"""Helpers shared by the headless commands."""

from __future__ import annotations

import argparse
import sys

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


def engine_printing():
    """An engine whose progress and training events print as plain lines."""
    from core import events as ev
    from core.engine import Engine

    def show(event):
        if isinstance(event, ev.Progress):
            print(f"... {event.message}", flush=True)
        elif isinstance(event, ev.TrainStarted):
            print(f"training {event.model} on {event.data}", flush=True)
            print(f"training {event.trainable_parameters:,}/{event.total_parameters:,} parameters, "
                  f"{event.train_examples} examples, {event.iters} iterations", flush=True)
        elif isinstance(event, ev.TrainReport):
            print(f"iter {event.iteration}: train loss {event.train_loss:.3f}, "
                  f"{event.tokens_per_second:.0f} tok/s, peak {event.peak_memory_gb:.2f} GB", flush=True)
        elif isinstance(event, ev.ValReport):
            print(f"iter {event.iteration}: val loss {event.val_loss:.3f}", flush=True)
        elif isinstance(event, ev.CheckpointSaved):
            print(f"iter {event.iteration}: saved {event.path}", flush=True)

    return Engine(show)


def wait(job):
    """The job's result; a TuneDeckError propagates, Ctrl-C cancels cleanly."""
    try:
        return job.result()
    except KeyboardInterrupt:
        print("stopping…", file=sys.stderr)
        job.cancel()
        return job.result()
