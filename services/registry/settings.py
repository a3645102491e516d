"""Settings of the registry service: the shared ones plus its own, env prefix `GONGYI_REGISTRY_`."""

from __future__ import annotations

from typing import ClassVar

from shared.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    service: ClassVar[str] = "registry"
