"""Helpers shared by the headless commands."""

from __future__ import annotations

import sys


def engine_printing():
    """An engine whose progress and training events print as plain lines."""
    from core import events as ev
    from core.engine import Engine

    def show(event):
        if isinstance(event, ev.Progress):
            print(f"... {event.message}", flush=True)
        elif isinstance(event, ev.TrainStarted):
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
