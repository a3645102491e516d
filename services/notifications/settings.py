"""Settings of the notifications service: the shared ones plus its own, env prefix `GONGYI_NOTIFICATIONS_`."""

from __future__ import annotations

from typing import ClassVar

from shared.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    service: ClassVar[str] = "notifications"
