"""Settings of the grants service: the shared ones plus its own, env prefix `GONGYI_GRANTS_`."""

from __future__ import annotations

from typing import ClassVar

from shared.settings import ServiceSettings


class GrantsSettings(ServiceSettings):
    service: ClassVar[str] = "grants"

    # Only for an organization grants has never seen (ARCHITECTURE.md): the registry's standing.
    registry_base_url: str = "http://127.0.0.1:8000"
    registry_timeout_s: float = 2.0

    # Open data (EVENTS.md "Open data projections"): OCDS publication is refused until a
    # registered ocid prefix is configured; the publisher and the bureaus are the deployment's.
    ocds_prefix: str | None = None
    giving_prefix: str = "gongyi"
    public_base_url: str = "http://127.0.0.1:8000"
    publisher_name: str = "民政局"
    publisher_scheme: str = "CN-USCI"
    publisher_uid: str | None = None
    buyer_name: str = "民政局"
    buyer_scheme: str = "CN-USCI"
    buyer_uid: str = "11440100000000000X"
    funder_name: str = "财政局"
    funder_scheme: str = "CN-USCI"
    funder_uid: str = "11440100000000001X"
