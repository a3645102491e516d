"""The channels' transports: SMTP email (aiosmtplib), an SMS gateway port, signed webhooks (httpx).

Each returns a `Result` and never raises for a delivery problem, so one failing channel or
endpoint never stops the others. Webhooks follow EVENTS.md: the host is resolved once per attempt,
every address is checked against the SSRF rules and the request goes to the checked address (Host
header and TLS SNI keep the name); no redirects are followed, no proxy from the environment is
used, the whole attempt is bounded by the timeout and at most 64 KiB of the answer is read.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from typing import Literal, Protocol

import aiosmtplib
import httpx

from services.notifications.domain import addresses, retries
from services.notifications.settings import NotificationsSettings
from shared.pii import mask_phone

log = logging.getLogger("gongyi.notifications.senders")

Verdict = Literal["delivered", "retry", "failed", "gone", "cancelled"]
Resolver = Callable[[str, int], Awaitable[list[addresses.IPAddress]]]
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Result:
    verdict: Verdict
    status_code: int | None = None
    error: str | None = None  # for operators: never personal data
    retry_after: timedelta | None = None
    duration_ms: int = 0


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# -- webhooks --------------------------------------------------------------------------------------


async def system_resolver(host: str, port: int) -> list[addresses.IPAddress]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[addresses.IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in seen:
            seen.append(address)
    return seen


class WebhookSender:
    def __init__(
        self,
        settings: NotificationsSettings,
        *,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.allowed = addresses.parse_cidrs(settings.webhook_allow_cidrs)
        self.require_https = settings.require_https
        self.timeout_s = settings.webhook_timeout_s
        self.user_agent = settings.webhook_user_agent
        self.resolver = resolver
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout_s),
            follow_redirects=False,
            trust_env=False,  # an environment proxy would resolve the name itself: no SSRF check
            transport=transport,
            # No more connections than concurrent sends: httpcore scans its whole pool on every
            # request and response, so an oversized pool costs CPU on each of them.
            limits=httpx.Limits(max_connections=settings.dispatch_concurrency,
                                max_keepalive_connections=settings.dispatch_concurrency),
        )

    async def check_url(self, url: str) -> None:
        """Refuse a subscription URL whose address is not allowed now (raises DestinationRefused)."""
        await self._target(addresses.parse_destination(url, require_https=self.require_https))

    async def _target(self, dest: addresses.Destination) -> addresses.IPAddress:
        if dest.literal is not None:
            candidates = [dest.literal]
        else:
            try:
                candidates = await asyncio.wait_for(self.resolver(dest.host, dest.port), timeout=5)
            except (OSError, TimeoutError, UnicodeError) as exc:
                raise addresses.DestinationRefused(
                    "webhook.unresolvable", f"{dest.host} does not resolve: {exc}"
                ) from None
        return addresses.check_addresses(candidates, self.allowed)

    async def send(self, url: str, body: bytes, headers: dict[str, str], *, now: datetime) -> Result:
        started = time.monotonic()
        try:
            return await asyncio.wait_for(self._send(url, body, headers, now, started), timeout=self.timeout_s)
        except TimeoutError:
            return Result("retry", error=f"no answer within {self.timeout_s:g} s", duration_ms=_elapsed_ms(started))

    async def _send(self, url: str, body: bytes, headers: dict[str, str], now: datetime, started: float) -> Result:
        try:
            dest = addresses.parse_destination(url, require_https=self.require_https)
            ip = await self._target(dest)
        except addresses.DestinationRefused as exc:
            return Result("retry", error=f"{exc.reason}: {exc.detail}"[:500], duration_ms=_elapsed_ms(started))
        host = f"[{ip}]" if ip.version == 6 else str(ip)
        extensions = {"sni_hostname": dest.host} if dest.scheme == "https" and dest.literal is None else {}
        request_headers = {
            **headers,
            "content-type": "application/cloudevents+json; charset=UTF-8",
            "user-agent": self.user_agent,
            "host": dest.host_header,
        }
        try:
            async with self.client.stream(
                "POST",
                f"{dest.scheme}://{host}:{dest.port}{dest.target}",
                content=body,
                headers=request_headers,
                extensions=extensions,
            ) as response:
                read = 0
                async for chunk in response.aiter_bytes():
                    read += len(chunk)
                    if read >= MAX_ANSWER_BYTES:
                        break
                status, retry_after = response.status_code, response.headers.get("retry-after")
        except httpx.HTTPError as exc:
            return Result("retry", error=f"{type(exc).__name__}: {exc}"[:500], duration_ms=_elapsed_ms(started))
        verdict = retries.http_verdict(status)
        return Result(
            verdict,
            status_code=status,
            error=None if verdict == "delivered" else f"HTTP {status}",
            retry_after=retries.parse_retry_after(retry_after, now=now),
            duration_ms=_elapsed_ms(started),
        )

    async def aclose(self) -> None:
        await self.client.aclose()


# -- email -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Email:
    to: str
    subject: str
    body: str
    message_id: str
    date: datetime
    locale: str
    notification_type: str


class EmailSender:
    def __init__(self, settings: NotificationsSettings) -> None:
        self.settings = settings

    def message(self, email: Email) -> EmailMessage:
        msg = EmailMessage(policy=SMTP_POLICY)
        msg["From"] = self.settings.email_from
        msg["To"] = email.to
        msg["Subject"] = email.subject
        msg["Date"] = format_datetime(email.date)
        msg["Message-ID"] = email.message_id  # fixed at creation: a resend is the same message
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Gongyi-Notification"] = email.notification_type
        msg.set_content(email.body, charset="utf-8")
        msg["Content-Language"] = email.locale  # after set_content, which replaces Content-* headers
        return msg

    async def send_all(self, emails: Sequence[Email]) -> list[Result]:
        """One SMTP session for the batch; a broken session fails the rest transiently."""
        if not emails:
            return []
        s = self.settings
        password = s.smtp_password.get_secret_value() if s.smtp_password else None
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host or "",
            port=s.smtp_port,
            timeout=s.smtp_timeout_s,
            use_tls=s.smtp_security == "tls",
            start_tls=s.smtp_security == "starttls",
        )
        results: list[Result] = []
        started = time.monotonic()
        try:
            await smtp.connect()
            if s.smtp_username and password:
                await smtp.login(s.smtp_username, password)
        except (aiosmtplib.SMTPException, OSError) as exc:
            error = f"SMTP unavailable: {type(exc).__name__}"
            return [Result("retry", error=error, duration_ms=_elapsed_ms(started)) for _ in emails]
        try:
            for email in emails:
                started = time.monotonic()
                results.append(await self._send_one(smtp, email, started))
                if not smtp.is_connected:
                    break
        finally:
            if smtp.is_connected:
                try:
                    await smtp.quit()
                except (aiosmtplib.SMTPException, OSError):
                    smtp.close()
        while len(results) < len(emails):
            results.append(Result("retry", error="SMTP session ended"))
        return results

    async def _send_one(self, smtp: aiosmtplib.SMTP, email: Email, started: float) -> Result:
        try:
            await smtp.send_message(self.message(email))
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            permanent = all(code >= 500 for code in codes)
            return Result(
                "failed" if permanent else "retry",
                status_code=codes[0] if codes else None,
                error=f"recipient refused ({', '.join(map(str, codes))})",
                duration_ms=_elapsed_ms(started),
            )
        except aiosmtplib.SMTPResponseException as exc:
            return Result(
                "failed" if exc.code >= 500 else "retry",
                status_code=exc.code,
                error=f"SMTP {exc.code}",
                duration_ms=_elapsed_ms(started),
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Result("retry", error=f"SMTP: {type(exc).__name__}", duration_ms=_elapsed_ms(started))
        return Result("delivered", status_code=250, duration_ms=_elapsed_ms(started))


# -- SMS -------------------------------------------------------------------------------------------


class SmsRejected(Exception):
    """The gateway refused a message; `permanent` says whether retrying can help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class SmsGateway(Protocol):
    """The port an SMS provider's adapter implements; `message_id` is stable across resends."""

    async def send(self, phone: str, text: str, *, message_id: str) -> None: ...


class LoggingSmsGateway:
    """No provider contracted: writes one line per message, the number masked (PIPL)."""

    async def send(self, phone: str, text: str, *, message_id: str) -> None:
        log.info("SMS %s to %s (%d characters)", message_id, mask_phone(phone), len(text))


async def send_sms(gateway: SmsGateway, phone: str, text: str, message_id: str) -> Result:
    started = time.monotonic()
    try:
        await gateway.send(phone, text, message_id=message_id)
    except SmsRejected as exc:
        return Result("failed" if exc.permanent else "retry", error=str(exc)[:200], duration_ms=_elapsed_ms(started))
    except (OSError, TimeoutError) as exc:
        return Result("retry", error=f"SMS gateway: {type(exc).__name__}", duration_ms=_elapsed_ms(started))
    return Result("delivered", duration_ms=_elapsed_ms(started))
