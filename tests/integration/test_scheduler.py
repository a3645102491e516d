"""Timers over `scheduled_jobs`: due-time, idempotent scheduling, retries, recurring jobs."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from sqlalchemy import select

from shared.scheduler import Recurring
from tests.support import probe


@pytest.fixture(params=["postgres", "sqlite"])
async def stack(stack_factory, request):
    return await stack_factory(("probe",), db=request.param, modules={"probe": probe})


async def job_rows(runtime):
    jobs = runtime.infra.scheduled_jobs
    async with runtime.uow(readonly=True) as uow:
        return (await uow.conn.execute(select(jobs.c.job, jobs.c.key, jobs.c.status, jobs.c.attempts)
                                       .order_by(jobs.c.id))).all()


async def job_effects(runtime):
    return [(key, n) for event_id, key, n, _ in await probe.applied(runtime) if event_id.startswith("job:")]


async def test_a_job_runs_once_when_due_and_scheduling_it_twice_changes_nothing(stack):
    runtime = stack.runtimes["probe"]
    due = stack.clock.now() + timedelta(hours=2)
    for _ in range(2):
        async with runtime.uow() as uow:
            uow.schedule("probe.note", "n1", due)
            await uow.commit()
    await stack.settle()
    assert await job_effects(runtime) == []
    stack.clock.advance(timedelta(hours=2))
    await stack.settle()
    stack.clock.advance(timedelta(days=1))
    await stack.settle()
    assert await job_effects(runtime) == [("n1", -1)]
    assert [(job, status) for job, _, status, _ in await job_rows(runtime)] == [("probe.note", "done")]
    published = await stack.bus.read_all(runtime.settings.topic(probe.TOPIC))
    assert len(published) == 1, "the job's event went out through the outbox"


async def test_a_failing_job_rolls_back_its_effects_retries_with_backoff_and_is_given_up(stack):
    runtime = stack.runtimes["probe"]
    async with runtime.uow() as uow:
        uow.schedule("probe.fail", "f1", stack.clock.now())
        await uow.commit()
    await stack.prepare()
    scheduler = runtime.scheduler
    scheduler.max_attempts = 3
    assert await scheduler.run_due() == 1  # attempted, failed
    assert (await job_rows(runtime))[0][2:] == ("pending", 1)
    assert await scheduler.run_due() == 0, "not again before its backoff"
    for _ in range(2):
        stack.clock.advance(timedelta(hours=2))
        await scheduler.run_due()
    assert (await job_rows(runtime))[0][2:] == ("failed", 3)
    assert await job_effects(runtime) == [], "a failed run leaves nothing behind"


async def test_a_recurring_job_keeps_exactly_one_pending_occurrence(stack):
    runtime = stack.runtimes["probe"]
    runtime.add_recurring(Recurring("probe.note", time(1, 0), key="daily"))
    await stack.prepare()
    await runtime.scheduler.ensure_recurring()
    await runtime.scheduler.ensure_recurring()
    assert [s for _, _, s, _ in await job_rows(runtime)] == ["pending"]
    stack.clock.advance(timedelta(days=3))  # a jump over three due times runs it once
    await stack.settle()
    assert await job_effects(runtime) == [("daily", -1)]
    assert [s for _, _, s, _ in await job_rows(runtime)] == ["done", "pending"]
