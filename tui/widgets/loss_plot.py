"""The loss plot: train and validation curves, painted at most every
``REPAINT_EVERY`` seconds however fast the reports come."""

from __future__ import annotations

import time

from textual.message import Message
from textual_plotext import PlotextPlot

from core.runtime import events as ev

Points = list[tuple[int, float]]


def whole_ticks(last: int, intervals: int = 5) -> list[int]:
    """0 to ``last`` in round whole steps (1, 2, 5, 10, 20, 25, 50, ...):
    plotext's own ticks fall between iterations (8.8, 17.5, 26.2)."""
    scale = 1
    while True:
        for step in (scale, 2 * scale, (5 * scale) // 2 if scale >= 10 else 0, 5 * scale):
            if step and last <= step * intervals:
                return list(range(0, last + 1, step))
        scale *= 10


def draw_curves(plot: PlotextPlot, series: list[tuple[str, Points, Points]], planned: int = 0) -> None:
    """Paint ``(name, train, val)`` curves on ``plot``."""
    plt = plot.plt
    plt.clear_data()
    # Iterations start at 0; plotext centres a lone point (the base's
    # validation loss at 0) on -1..1, so the axis runs to the last point,
    # or to the planned total before there is one.
    last = max((x for _, train, val in series for x, _ in (*train, *val)), default=0)
    end = last or planned or 1
    plt.xlim(0, end)
    plt.xticks(whole_ticks(int(end)))
    for name, train, val in series:
        prefix = f"{name} " if name else ""
        if train:
            xs, ys = zip(*train)
            plt.plot(xs, ys, label=f"{prefix}train", marker="braille")
        if val:
            xs, ys = zip(*val)
            plt.plot(xs, ys, label=f"{prefix}valid", marker="braille")
    plt.xlabel("iteration")
    plot.refresh()


class LossPlot(PlotextPlot):
    """One run's curve as it trains. Every point is kept; ``Painted`` says a
    timed repaint happened, with the latest report not shown yet."""

    # Repainting the plot costs the UI thread milliseconds; on a small model
    # reports arrive many times a second, and painting each one took measurable
    # speed from training (bench: TUI-attached ratio). So paint at most every
    # REPAINT_EVERY seconds; ``flush`` shows the final state at once.
    REPAINT_EVERY = 0.75

    class Painted(Message):
        def __init__(self, report: ev.TrainReport) -> None:
            super().__init__()
            self.report = report

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.train_pts: Points = []
        self.val_pts: Points = []
        self.planned = 0  # the run's total iterations: the axis before any point
        self._latest: ev.TrainReport | None = None  # the report not painted yet
        self._timer = None
        self._last_paint = 0.0

    def on_mount(self) -> None:
        self.plt.title("loss")

    def reset(self, train: Points = (), val: Points = ()) -> None:
        self.train_pts, self.val_pts = list(train), list(val)

    def add_report(self, report: ev.TrainReport) -> None:
        self.train_pts.append((report.iteration, report.train_loss))
        self._latest = report
        self.paint_soon()

    def add_val(self, iteration: int, loss: float) -> None:
        self.val_pts.append((iteration, loss))
        self.paint_soon()

    def draw(self) -> None:
        draw_curves(self, [("", self.train_pts, self.val_pts)], self.planned)

    def paint_soon(self) -> None:
        """Paint now, or once when REPAINT_EVERY has passed since the last."""
        if self._timer is not None:
            return
        wait = self._last_paint + self.REPAINT_EVERY - time.monotonic()
        if wait <= 0:
            self._timed_paint()
        else:
            self._timer = self.set_timer(wait, self._timed_paint)

    def _timed_paint(self) -> None:
        report = self.flush()
        if report is not None:
            self.post_message(self.Painted(report))

    def flush(self) -> ev.TrainReport | None:
        """Paint now (a pending timer is dropped); returns the report that
        had not been shown, for the caller to show beside the plot."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._last_paint = time.monotonic()
        self.draw()
        report, self._latest = self._latest, None
        return report
