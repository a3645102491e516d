"""Settings every service shares, read from the environment (pydantic-settings).

Contract:
- A service subclasses `ServiceSettings` and sets `service` and `env_prefix` (`GONGYI_<SVC>_`).
  Every field can be given with the service prefix or, as a fallback shared by all services,
  with the bare `GONGYI_` prefix (`GONGYI_GRANTS_DATABASE_URL` wins over `GONGYI_DATABASE_URL`).
- Nothing is read at import time: call `Settings()` (or pass values) in a composition root.
- Outside development and test, placeholder secrets, development signing keys and a missing
  identity provider are refused at construction (ValidationError), so a misconfigured production
  process never starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "development", "dev"})
DEV_SECRET = "change-me"  # noqa: S105 - the placeholder production refuses

Environment = Literal["development", "test", "production"]


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GONGYI_", extra="ignore", frozen=True)

    service: ClassVar[str] = ""

    env: Environment = "production"
    data_dir: Path = Path("var")
    deployment: str = "local"

    # storage: PostgreSQL in production, a SQLite file per service in embedded mode
    database_url: str | None = None
    db_pool_size: int = 8
    db_pool_max_overflow: int = 4
    # FULL in every real deployment; test sessions use OFF (a killed process still loses nothing).
    sqlite_synchronous: Literal["FULL", "NORMAL", "OFF"] = "FULL"

    # bus
    bus: Literal["embedded", "kafka"] = "embedded"
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    topic_partitions: int = 3
    topic_replication: int = 1
    topic_min_insync: int = 1
    consumer_session_timeout_ms: int = 10_000
    consumer_stall_timeout_s: float = 60.0

    # relay and scheduler
    relay_batch_size: int = 1000
    relay_poll_interval_s: float = 1.0
    scheduler_poll_interval_s: float = 1.0

    # identity
    jwt_issuer: str = "gongyi-dev"
    jwt_audience: str = "gongyi"
    jwt_role_claim: str = "role"
    jwt_jwks_url: str | None = None
    jwt_public_key_pem: str | None = None

    # secrets: field encryption of personal data, blind indexes
    secret_key: SecretStr = SecretStr(DEV_SECRET)

    # telemetry
    otlp_endpoint: str | None = None
    trace_enabled: bool = True
    trace_sample_ratio: float = 0.1

    # HTTP limits
    max_body_bytes: int = 1 << 20
    max_upload_bytes: int = 20 << 20
    max_json_depth: int = 32

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        service_env = EnvSettingsSource(settings_cls, env_prefix=f"GONGYI_{cls.service.upper()}_")
        shared_env = EnvSettingsSource(settings_cls, env_prefix="GONGYI_")
        return (init_settings, service_env, shared_env, file_secret_settings)

    @field_validator("database_url", "jwt_jwks_url", "jwt_public_key_pem", "otlp_endpoint", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # Compose and Kubernetes pass unset optional variables as empty strings.
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _refuse_placeholders_outside_development(self) -> ServiceSettings:
        if self.env in ("development", "test"):
            return self
        secret = self.secret_key.get_secret_value()
        if secret.lower() in PLACEHOLDER_SECRETS or len(secret) < 32:
            raise ValueError(
                f"GONGYI_SECRET_KEY (or GONGYI_{self.service.upper()}_SECRET_KEY) must be a real "
                "secret of at least 32 characters outside development"
            )
        try:
            from shared.pii import FieldCipher

            FieldCipher.from_secret(secret)
        except ValueError:
            raise ValueError(
                "GONGYI_SECRET_KEY must be base64 of at least 32 random bytes "
                "(python -c 'import shared.pii as p; print(p.generate_secret())')"
            ) from None
        if not (self.jwt_jwks_url or self.jwt_public_key_pem):
            raise ValueError("production needs GONGYI_JWT_JWKS_URL or GONGYI_JWT_PUBLIC_KEY_PEM")
        if self.jwt_issuer == "gongyi-dev":
            raise ValueError("production refuses the development issuer 'gongyi-dev'")
        return self

    @property
    def development(self) -> bool:
        return self.env == "development"

    @property
    def event_source(self) -> str:
        return f"urn:gongyi:{self.deployment}:{self.service}"

    def topic(self, name: str) -> str:
        """The physical topic name (tests isolate themselves with a prefix)."""
        return f"{self.topic_prefix}{name}"

    def logical_topic(self, physical: str) -> str:
        return physical[len(self.topic_prefix) :] if physical.startswith(self.topic_prefix) else physical

    def consumer_group(self, name: str = "") -> str:
        return f"{self.topic_prefix}{self.service}{'.' + name if name else ''}"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{self.service}.sqlite').resolve()}"

    def with_overrides(self, **values: Any) -> ServiceSettings:
        return self.model_copy(update=values)
