"""How long a job has left, worked out and written the same way everywhere
(downloads, dataset builds, training; the TUI and the CLI)."""

from __future__ import annotations


def eta_seconds(done: float, total: float, elapsed: float) -> float | None:
    """Seconds until ``total`` at the rate ``done`` took in ``elapsed``
    seconds; None before there is a rate to go by."""
    if done <= 0 or elapsed <= 0:
        return None
    return max(total - done, 0) / (done / elapsed)


def clock(seconds: float | None) -> str:
    """``mm:ss`` under an hour, ``1h05m`` beyond (an unknown time reads 00:00)."""
    seconds = int(max(seconds or 0, 0))
    if seconds < 3600:
        return f"{seconds // 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
