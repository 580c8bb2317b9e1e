"""Asking before loading a model while a run trains.

A run trains in a process of its own, and on a Mac the CPU and GPU share
one memory: a chat model, an evaluation or a fuse loaded beside it takes
memory the run may need (it slows down, or stops for lack of memory). So
a screen asks first, once per run: y loads it anyway, n or Esc does not.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.screen import Screen

from core.runtime import paths
from core.training.run_folders import is_locked
from tui.screens.results_dialogs import ConfirmDialog


def training_now(app) -> list[str]:
    """The run folders trained now: those this app follows (a run just
    started may not hold its lock yet) and any other process's. Asked on
    the UI thread, so only each run's lock is probed (``running_runs``
    would read every run's log)."""
    root = paths.runs_dir()
    locked = [str(p) for p in sorted(root.iterdir()) if is_locked(p)] if root.is_dir() else []
    followed = [job.state["run_dir"] for job in app.engine.followed_runs() if job.state.get("run_dir")]
    return list(dict.fromkeys([*followed, *locked]))


def not_agreed(screen: Screen) -> list[str]:
    """The runs training now that the user has not yet agreed, on ``screen``, to load beside."""
    agreed = screen.__dict__.setdefault("_memory_agreed", set())
    return [r for r in training_now(screen.app) if r not in agreed]


def ask_before_loading(screen: Screen, what: str, go: Callable[[], None], no: Callable[[], None] | None = None) -> None:
    """Call ``go()`` at once when no run trains, or when the user already
    said yes on this screen for each run training; otherwise after a y
    (``no()`` after an n or Esc)."""
    runs = not_agreed(screen)
    if not runs:
        go()
        return
    names = ", ".join(Path(r).name for r in runs)
    trains = f"{len(runs)} runs train now ({names})" if len(runs) > 1 else f"The run {names} trains now"

    def answered(yes: bool | None) -> None:
        if yes:
            screen.__dict__["_memory_agreed"].update(runs)
            go()
        elif no is not None:
            no()

    screen.app.push_screen(
        ConfirmDialog(
            "A run is training: load a model too?",
            f"{trains}. Loading {what} takes memory beside it (on a Mac the GPU shares the same memory): "
            "the run may slow down, or stop for lack of memory.\n\nLoad it anyway?",
            keys="y loads it · n or Esc does not",
        ),
        answered,
    )
