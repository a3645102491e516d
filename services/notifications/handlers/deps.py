"""What the notifications handlers need from the runtime, handed over once by the composition root."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from services.notifications.settings import NotificationsSettings
from shared.pii import FieldCipher
from shared.workdays import WorkingCalendar


@dataclass
class Deps:
    settings: NotificationsSettings
    cipher: FieldCipher
    calendar: Callable[[], WorkingCalendar]  # read at use: the runtime refreshes it
    wake: Callable[[], None] = lambda: None  # nudges the sender after a commit created deliveries
    subscriptions_changed: Callable[[], None] = lambda: None  # drops the cached active subscriptions
    jitter: Callable[[], float] = field(default=random.random)  # retry jitter; tests may fix it

    @property
    def sms_enabled(self) -> bool:
        return self.settings.sms_gateway != "off"

    def recipient_hash(self, sub: str) -> str:
        """A stable, keyed hash of a recipient for Message-IDs: the `sub` itself never leaves."""
        return self.cipher.blind_index(sub, scope="notifications/message-id")[:20]
