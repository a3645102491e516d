"""Settings of the grants service: the shared ones plus its own, env prefix `GONGYI_GRANTS_`."""

from __future__ import annotations

from typing import ClassVar

from shared.settings import ServiceSettings


class GrantsSettings(ServiceSettings):
    service: ClassVar[str] = "grants"
