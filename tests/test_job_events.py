"""A screen gets every event of the jobs it starts, even of a job that ends
before the screen has been told its id."""

from __future__ import annotations

import asyncio

from ui_helpers import wait_for

from core.runtime import events as ev
from core.runtime.errors import TuneDeckError
from tui.app import make_app


def _fails_at_once(ctx):
    raise TuneDeckError("the folder is not there", "choose another")


def test_a_job_that_fails_before_it_is_tracked_still_reports_to_its_screen():
    async def run():
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            app.go("train")
            await pilot.pause()
            screen, seen, others = app.screen, [], []
            screen.handle_event = seen.append
            other = app.engine.worker.submit("other", _fails_at_once)  # nobody tracks this one
            for _ in range(20):
                # The worst case: the job has run and failed before track() is called.
                job = app.engine.worker.submit("probe", _fails_at_once)
                job.future.exception()
                screen.track(job)
            other.future.exception()
            await wait_for(pilot, lambda: sum(isinstance(e, ev.JobFailed) for e in seen) == 20, 30)
            others[:] = [e for e in seen if e.job_id == other.id]
            return seen, others

    seen, others = asyncio.run(run())
    failed = [e for e in seen if isinstance(e, ev.JobFailed)]
    assert len(failed) == 20 and all(e.message == "the folder is not there" for e in failed)
    assert not others  # another job's events stay out
