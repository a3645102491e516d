"""Settings of the registry service: the shared ones plus its own, env prefix `GONGYI_REGISTRY_`."""

from __future__ import annotations

from typing import ClassVar

from shared.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    service: ClassVar[str] = "registry"

    # Jurisdictions whose district / county civil-affairs offices file community groups (the
    # Shenzhen preset: "4403"); elsewhere street offices and townships file (DOMAIN.md §1).
    county_filing_prefixes: tuple[str, ...] = ()
    # Rows imported per transaction (each row stays atomic: organization, legal representative,
    # outbox and audit rows together).
    import_chunk_rows: int = 1000
