import threading

import pytest

from core.runtime import events as ev
from core.runtime.errors import Cancelled, TuneDeckError
from core.runtime.worker import THREAD_NAME, MLXWorker


def test_jobs_run_in_order_on_one_long_lived_thread():
    seen = []
    worker = MLXWorker()
    jobs = [
        worker.submit("j", lambda ctx, i=i: seen.append((i, threading.current_thread().name, threading.get_ident())))
        for i in range(5)
    ]
    for job in jobs:
        job.result(timeout=10)
    assert [s[0] for s in seen] == list(range(5))
    assert {s[1] for s in seen} == {THREAD_NAME}
    assert len({s[2] for s in seen}) == 1


def test_events_errors_and_cancel():
    got = []
    worker = MLXWorker(got.append)

    def fails(ctx):
        raise TuneDeckError("bad thing", "do this", where="f.jsonl:3")

    with pytest.raises(TuneDeckError):
        worker.submit("f", fails).result(timeout=10)
    failed = [e for e in got if isinstance(e, ev.JobFailed)][0]
    assert (failed.message, failed.hint, failed.where) == ("bad thing", "do this", "f.jsonl:3")

    started = threading.Event()

    def loops(ctx):
        started.set()
        while True:
            ctx.check_cancelled()

    job = worker.submit("loop", loops)
    started.wait(5)
    job.cancel()
    with pytest.raises(Cancelled):
        job.result(timeout=10)
    assert any(isinstance(e, ev.JobCancelled) and e.job_id == job.id for e in got)


def test_unexpected_error_is_logged_not_shown_as_traceback(tunedeck_home):
    got = []
    worker = MLXWorker(got.append)
    with pytest.raises(ZeroDivisionError):
        worker.submit("boom", lambda ctx: 1 / 0).result(timeout=10)
    failed = [e for e in got if isinstance(e, ev.JobFailed)][0]
    assert failed.message == "ZeroDivisionError: division by zero"
    assert "Traceback" not in failed.message
    log = (tunedeck_home / "logs" / "tunedeck.log").read_text()
    assert "Traceback" in log and "ZeroDivisionError" in log
