"""Composition root of the notifications service: `build_runtime(settings, **kw)` + `create_app(...)`.

Besides the relay, the consumer and the scheduler every service runs, the notifications worker runs
the sender (handlers.dispatch) inside its scheduler's passes: `run_due()` runs due jobs, then
claims and sends due deliveries. Tests drive both with `stack.settle()` and a fixed clock;
production wakes the scheduler whenever a commit created deliveries.
"""

from __future__ import annotations

import asyncio
from datetime import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from services.notifications import api
from services.notifications.consumers import CONSUMES, HANDLED_TYPES
from services.notifications.events import PUBLISHES
from services.notifications.handlers import facts
from services.notifications.handlers.deps import Deps
from services.notifications.handlers.dispatch import Dispatcher, Senders
from services.notifications.handlers.fanout import FanOut
from services.notifications.handlers.notify import Notifier, SubscriptionCache
from services.notifications.handlers.reminders import Reminders
from services.notifications.handlers.senders import (
    EmailSender,
    LoggingSmsGateway,
    Resolver,
    SmsGateway,
    WebhookSender,
    system_resolver,
)
from services.notifications.handlers.wiring import RESOURCE, Wiring
from services.notifications.models import NotificationsModel
from services.notifications.settings import NotificationsSettings
from shared.app import create_service_app
from shared.runtime import Runtime
from shared.scheduler import Recurring, Scheduler

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
TITLE = "Gongyi Notifications"
DESCRIPTION = "通知 — inbox, email, SMS and signed webhooks for every party"
Settings = NotificationsSettings


class SendingScheduler(Scheduler):
    """The scheduler whose every pass also runs the sender.

    Running for real (`run`), a pass that found only a few deliveries waits `gather_s` before the
    next one, so deliveries created by a stream of consumer commits are claimed and recorded in
    batches rather than one transaction pair each; driven step by step (tests) it never waits.
    """

    def __init__(self, *, dispatcher: Dispatcher, max_sends: int = 2000, gather_s: float = 0.02, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dispatcher = dispatcher
        self.max_sends = max_sends
        self.gather_s = gather_s
        self._recurring_ready = False
        self._live = False

    async def run(self, stopping: asyncio.Event) -> None:
        self._live = True
        await super().run(stopping)

    async def run_due(self, limit: int = 100) -> int:
        if not self._recurring_ready:
            await self.ensure_recurring()
            self._recurring_ready = True
        ran = await super().run_due(limit)
        sent = 0
        while sent < self.max_sends and (n := await self.dispatcher.run_once()) > 0:
            sent += n
            if self._live and n < self.dispatcher.batch_size // 2:
                await asyncio.sleep(self.gather_s)
        return ran + sent


class NotificationsRuntime(Runtime):
    def __init__(self, *args: Any, wiring: Wiring | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wiring: Wiring | None = wiring

    def build_scheduler(self) -> Scheduler:
        assert self.wiring is not None
        return SendingScheduler(
            dispatcher=self.wiring.dispatcher,
            infra=self.infra,
            uow_factory=self.uow,
            clock_now=self.clock.now,
            handlers=self._jobs,
            recurring=self._recurring,
            poll_interval_s=self.settings.scheduler_poll_interval_s,
            gather_s=self.settings.dispatch_gather_s,  # type: ignore[attr-defined]
            metrics=self.metrics,
        )

    def wake_sender(self) -> None:
        if self.scheduler is not None:
            self.scheduler.wake()


def build_runtime(
    settings: NotificationsSettings | None = None,
    *,
    sms_gateway: SmsGateway | None = None,
    resolver: Resolver | None = None,
    **kwargs: Any,
) -> Runtime:
    settings = settings or NotificationsSettings()
    runtime = NotificationsRuntime(
        settings,
        metadata=NotificationsModel.metadata,
        migrations=MIGRATIONS,
        publishes=PUBLISHES,
        **kwargs,
    )
    deps = Deps(
        settings=settings,
        cipher=runtime.cipher,
        calendar=lambda: runtime.calendar.calendar,
        wake=runtime.wake_sender,
    )
    subscriptions = SubscriptionCache(settings.subscription_cache_s)
    deps.subscriptions_changed = subscriptions.invalidate
    notifier = Notifier(deps)
    senders = Senders(
        webhooks=WebhookSender(settings, resolver=resolver or system_resolver),
        email=EmailSender(settings) if settings.email_enabled else None,
        sms=(sms_gateway or LoggingSmsGateway()) if settings.sms_gateway != "off" else None,
    )
    dispatcher = Dispatcher(
        deps=deps, notifier=notifier, senders=senders, uow_factory=runtime.uow, now=runtime.clock.now
    )
    fan_out = FanOut(deps, notifier, subscriptions)
    reminders = Reminders(deps, notifier)
    wiring = Wiring(deps, notifier, senders, dispatcher, fan_out, reminders)
    runtime.wiring = wiring
    runtime.resources[RESOURCE] = wiring

    runtime.add_consumer("", topics=CONSUMES, handlers=dict.fromkeys(HANDLED_TYPES, fan_out))
    for job, handler in reminders.jobs.items():
        runtime.add_job(job, handler)
    runtime.add_recurring(Recurring(facts.ANNUAL_REPORT, time(settings.reminder_hour, 0)))
    runtime.add_recurring(Recurring(facts.DIGEST, time(settings.digest_hour, 0)))
    runtime.add_recurring(Recurring(facts.PRUNE, time(3, 30)))
    return runtime


def create_app(
    settings: NotificationsSettings | None = None,
    *,
    role: str = "api",
    standalone: bool = True,
    runtime: Runtime | None = None,
    **kwargs: Any,
) -> FastAPI:
    runtime = runtime or build_runtime(settings, **kwargs)
    return create_service_app(
        runtime, title=TITLE, description=DESCRIPTION, routers=[api.router], role=role, standalone=standalone
    )
