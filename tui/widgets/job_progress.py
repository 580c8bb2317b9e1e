"""A job's progress bar. It follows the job's ``Progress`` events (or a
count set directly) and keeps the clock, so the rate and the time left are
worked out here, by ``core.runtime.eta``, not by each screen."""

from __future__ import annotations

import time

from textual.reactive import reactive
from textual.widgets import ProgressBar

from core.runtime import events as ev
from core.runtime.eta import eta_seconds


class JobProgress(ProgressBar):
    """Idle it is empty, not pulsing. ``start_clock`` when the job is asked
    for; ``span`` when it says how far it goes; ``advance`` or ``show`` as it
    reports."""

    event: reactive[ev.Progress | None] = reactive(None, init=False)

    def __init__(self, **kwargs) -> None:
        super().__init__(total=1, show_eta=False, **kwargs)
        self.started = time.monotonic()
        self.first = 0.0  # the count the job started at (a resumed run's step)

    def start_clock(self) -> None:
        self.started = time.monotonic()

    def span(self, total: float, at: float = 0) -> None:
        self.first = at
        self.update(total=total, progress=at)

    def advance(self, done: float) -> None:
        self.update(progress=done)

    def show(self, event: ev.Progress) -> None:
        self.event = event

    def watch_event(self, event: ev.Progress | None) -> None:
        if event is not None and event.total:
            self.update(total=event.total, progress=event.done or 0)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def eta(self) -> float | None:
        """Seconds left at this job's rate so far; None before there is one."""
        return eta_seconds(self.progress - self.first, (self.total or 0) - self.first, self.elapsed)
