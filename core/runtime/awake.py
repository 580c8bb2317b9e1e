"""Keep a Mac awake while a run trains: an hour-long run must not stop
because the lid timer or idle sleep kicked in over SSH.

macOS's own ``caffeinate -i -w PID`` holds an "prevent idle sleep" power
assertion until PID exits, so even a SIGKILL of the run releases it; we
also end it when the run ends. Nothing is changed anywhere else, and on
other systems nothing is done.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

CAFFEINATE = "caffeinate"


@contextlib.contextmanager
def keep_awake(platform: str = sys.platform) -> Iterator[str]:
    """Yields what was done, in words ("" when nothing was)."""
    tool = shutil.which(CAFFEINATE) if platform == "darwin" else None
    proc = None
    if tool:
        try:
            proc = subprocess.Popen(
                [tool, "-i", "-w", str(os.getpid())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            proc = None
    try:
        yield f"keeping the Mac awake while it trains ({CAFFEINATE}, pid {proc.pid})" if proc else ""
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
