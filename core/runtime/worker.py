"""The one long-lived thread that runs every MLX call.

MLX streams are thread-local in recent releases, and a model loaded on one
thread must be used on that thread. So the engine owns a single-thread
executor; every load, train, evaluate, fuse and generate is a *job* submitted
to it. Jobs report through plain ``core.runtime.events`` objects handed to one
``on_event`` callback (called on the worker thread: the TUI turns them into
Textual messages with the thread-safe ``post_message``). A job is cancelled
with a ``threading.Event`` it checks between steps.

The thread is a daemon that lives until the process exits and is never
joined: when a thread that ran MLX generation ends, MLX's thread-local
stream teardown can abort the process ("terminate called without an active
exception"), which ``ThreadPoolExecutor``'s join-at-exit triggers.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from core.runtime import events as ev
from core.runtime.errors import Cancelled, TuneDeckError, explain
from core.runtime.log import log_exception

THREAD_NAME = "tunedeck-mlx"


@dataclass
class JobContext:
    """What a job function gets: its id, a cancel flag and an emitter."""

    job_id: int
    name: str
    cancel_event: threading.Event
    _emit: Callable[[ev.Event], None]
    state: dict = field(default_factory=dict)

    def emit(self, event: ev.Event) -> None:
        event.job_id = self.job_id
        self._emit(event)

    def progress(self, message: str, done: float | None = None, total: float | None = None) -> None:
        self.emit(ev.Progress(message=message, done=done, total=total))

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled()


@dataclass
class Job:
    id: int
    name: str
    cancel_event: threading.Event
    future: Future
    state: dict = field(default_factory=dict)  # shared with the job's JobContext

    def cancel(self, reason: str = "") -> None:
        """Ask the job to stop; ``reason`` (e.g. "SIGTERM") is what a run's
        stop record says (the first one given wins)."""
        if reason:
            self.state.setdefault("cancel_reason", reason)
        self.cancel_event.set()

    @property
    def done(self) -> bool:
        return self.future.done()

    def result(self, timeout: float | None = None) -> Any:
        """The job's return value; raises what the job raised."""
        return self.future.result(timeout)


class MLXWorker:
    def __init__(
        self,
        on_event: Callable[[ev.Event], None] | None = None,
        *,
        thread_name: str = THREAD_NAME,
        ids: Iterator[int] | None = None,
    ):
        # thread_name/ids let the engine run a second queue (network downloads)
        # whose job ids never collide with this one's.
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=thread_name, daemon=True)
        self._thread_started = False
        self._start_lock = threading.Lock()
        self._closed = False
        self._jobs: list[Job] = []  # submitted and not yet done
        self._ids = ids if ids is not None else count(1)
        self._listeners: list[Callable[[ev.Event], None]] = []
        if on_event is not None:
            self._listeners.append(on_event)

    def _loop(self) -> None:
        while True:
            future, fn, args, kwargs = self._queue.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # the future carries it to the caller
                future.set_exception(exc)

    def _submit(self, fn, *args, **kwargs) -> Future:
        if self._closed:
            raise RuntimeError("the MLX worker is shut down")
        with self._start_lock:
            if not self._thread_started:
                self._thread.start()
                self._thread_started = True
        future: Future = Future()
        self._queue.put((future, fn, args, kwargs))
        return future

    def add_listener(self, fn: Callable[[ev.Event], None]) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[ev.Event], None]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _dispatch(self, event: ev.Event) -> None:
        for fn in list(self._listeners):
            try:
                fn(event)
            except Exception:  # a broken listener must not kill the job
                log_exception("event listener failed")

    def sibling(self, thread_name: str) -> MLXWorker:
        """A second queue on a thread of its own whose events reach this one's
        listeners and whose job ids come from this one's counter, so a screen
        tracking ids never confuses the two."""
        return MLXWorker(self._dispatch, thread_name=thread_name, ids=self._ids)

    @property
    def started(self) -> bool:
        """Whether its thread runs yet (nothing was ever submitted: nothing is loaded)."""
        return self._thread_started

    def on_worker_thread(self) -> bool:
        return threading.current_thread() is self._thread

    @property
    def busy(self) -> bool:
        return any(not job.done for job in self._jobs)

    def submit(self, name: str, fn: Callable[..., Any], *args, **kwargs) -> Job:
        """Queue ``fn(ctx, *args, **kwargs)`` on the MLX thread."""
        job_id = next(self._ids)
        cancel = threading.Event()
        ctx = JobContext(job_id, name, cancel, self._dispatch)

        def run():
            if cancel.is_set():
                ctx.emit(ev.JobCancelled(name=name))
                raise Cancelled()
            ctx.emit(ev.JobStarted(name=name))
            try:
                result = fn(ctx, *args, **kwargs)
            except Cancelled:
                ctx.emit(ev.JobCancelled(name=name))
                raise
            except TuneDeckError as exc:
                ctx.emit(ev.JobFailed(name=name, message=exc.message, hint=exc.hint, where=exc.where))
                raise
            except Exception as exc:
                known = explain(exc)  # a full disk, a missing path…: said as such, no traceback
                if known is not None:
                    ctx.emit(ev.JobFailed(name=name, message=known.message, hint=known.hint, where=known.where))
                    raise
                path = log_exception(f"job {name} failed")
                ctx.emit(
                    ev.JobFailed(
                        name=name,
                        message=f"{type(exc).__name__}: {exc}".strip(),
                        hint=f"This looks like a bug or an unsupported setup; details are in {path or 'no log'}",
                        log_path=path,
                    )
                )
                raise
            ctx.emit(ev.JobFinished(name=name, result=result))
            return result

        job = Job(job_id, name, cancel, self._submit(run), ctx.state)
        self._jobs = [j for j in self._jobs if not j.done] + [job]
        return job

    def call(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """Run ``fn(*args)`` on the MLX thread and wait (no events)."""
        if self.on_worker_thread():
            return fn(*args, **kwargs)
        return self._submit(fn, *args, **kwargs).result()

    def shutdown(self, timeout: float | None = 10.0, reason: str = "") -> None:
        """Refuse new jobs, ask the running one to stop, and wait for it.

        The thread itself is left parked (see the module docstring)."""
        self._closed = True
        for job in self._jobs:
            job.cancel(reason)
        deadline = None if timeout is None else time.monotonic() + timeout
        for job in self._jobs:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                job.future.exception(left)
            except Exception:
                pass
