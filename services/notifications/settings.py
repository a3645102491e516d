"""Settings of the notifications service: the shared ones plus its own, env prefix `GONGYI_NOTIFICATIONS_`."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import SecretStr, field_validator

from shared.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    service: ClassVar[str] = "notifications"

    # email over SMTP; no host = no email channel (the inbox still works)
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_timeout_s: float = 30.0
    email_from: str = "公益通知 <noreply@gongyi.invalid>"

    # SMS through an adapter; `log` writes a masked line per message (no gateway contracted)
    sms_gateway: Literal["log", "off"] = "log"

    # webhooks (EVENTS.md): CIDRs a deployment allows although they are private, loopback, …
    webhook_allow_cidrs: str = ""
    webhook_require_https: bool | None = None  # None: required in production, not in development or test
    webhook_timeout_s: float = 15.0
    webhook_secret_overlap_hours: float = 24.0
    webhook_user_agent: str = "Gongyi-Webhooks/1"
    # active subscriptions are read at most this often by the consumer (another process's change
    # is seen within it; this process's at once)
    subscription_cache_s: float = 1.0

    # the sender: batches claimed per pass, concurrent sends, how long a claim is held
    dispatch_batch_size: int = 200
    dispatch_concurrency: int = 32
    dispatch_lease_s: float = 120.0
    dispatch_gather_s: float = 0.02  # after a small pass, wait this long so the next one is a batch

    # reminders (working days, Asia/Shanghai) and the officers' digest
    reminder_call_closing_working_days: int = 3
    reminder_assessment_working_days: int = 5
    reminder_annual_report_working_days: int = 10
    reminder_hour: int = 9
    digest_hour: int = 8
    digest_max_items: int = 50

    # housekeeping: message texts and webhook bodies of finished deliveries are dropped after this
    # (the delivery log itself stays); failed ones keep theirs for a manual retry
    delivery_body_retention_days: int = 30

    @field_validator("webhook_allow_cidrs")
    @classmethod
    def _cidrs_parse(cls, value: str) -> str:
        from services.notifications.domain.addresses import parse_cidrs

        parse_cidrs(value)  # refuses a malformed list at start-up, not at the first delivery
        return value

    @property
    def require_https(self) -> bool:
        if self.webhook_require_https is not None:
            return self.webhook_require_https
        return self.env == "production"

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host)
