"""The service's parts, built once by the composition root and reachable from routes and jobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.notifications.handlers.deps import Deps
from services.notifications.handlers.dispatch import Dispatcher, Senders
from services.notifications.handlers.fanout import FanOut
from services.notifications.handlers.notify import Notifier
from services.notifications.handlers.reminders import Reminders

if TYPE_CHECKING:
    from shared.runtime import Runtime

RESOURCE = "notifications"


@dataclass
class Wiring:
    deps: Deps
    notifier: Notifier
    senders: Senders
    dispatcher: Dispatcher
    fan_out: FanOut
    reminders: Reminders

    async def aclose(self) -> None:
        await self.senders.webhooks.aclose()


def wiring_of(runtime: Runtime) -> Wiring:
    wiring: Wiring = runtime.resources[RESOURCE]
    return wiring
