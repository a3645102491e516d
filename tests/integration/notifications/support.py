"""Real loopback servers and an event emitter for the notifications tests.

- `SmtpServer`: aiosmtpd on 127.0.0.1 (its own thread), keeping every message it accepts.
- `WebhookReceiver`: a small HTTP/1.1 server on 127.0.0.1 (asyncio streams, keep-alive) answering
  a scripted sequence of statuses and keeping every request; `verify` checks a request the way a
  Standard Webhooks receiver does (written here from the specification, not with the service's code).
- `Emitter`: appends structured CloudEvents (shared.envelope) to the stack's prefixed topics, with
  a per-(topic, key) sequence, exactly as another service's relay would.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import hashlib
import hmac
import socket
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from shared import envelope
from shared.bus.base import OutgoingRecord
from shared.envelope import CloudEvent

SOURCES = {
    "registry": "urn:gongyi:test:registry",
    "evaluation": "urn:gongyi:test:evaluation",
    "grants": "urn:gongyi:test:grants",
}
KEY_FIELDS = {
    "registry.organization": "org_id",
    "evaluation.round": "round_id",
    "evaluation.rating": "org_id",
    "evaluation.assessment": "award_id",
    "grants.call": "call_id",
    "grants.application": "application_id",
    "grants.award": "award_id",
    "grants.disbursement": "award_id",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- SMTP -----------------------------------------------------------------------------------------


class _Collect:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope_: Any) -> str:  # aiosmtpd's hook name
        message = email.message_from_bytes(envelope_.original_content, policy=email.policy.default)
        self.messages.append((list(envelope_.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 OK"


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self._handler = _Collect()
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    @property
    def messages(self) -> list[tuple[list[str], EmailMessage]]:
        return list(self._handler.messages)


# -- webhooks -------------------------------------------------------------------------------------


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """Answers `script` statuses in order, then `then` for every further request (0: never answers)."""

    script: list[int | tuple[int, dict[str, str]]] = field(default_factory=list)
    then: int = 200
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    _server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> WebhookReceiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def url(self, path: str = "/hooks/gongyi") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, target, _version = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append(Received(method, target, headers, body))
                answer = self.script.pop(0) if self.script else self.then
                status, extra = answer if isinstance(answer, tuple) else (answer, {})
                if status == 0:
                    await asyncio.sleep(3600)  # a hung endpoint: the sender's timeout must end it
                head = f"HTTP/1.1 {status} X\r\ncontent-length: 2\r\n" + "".join(
                    f"{k}: {v}\r\n" for k, v in extra.items()
                )
                writer.write(head.encode() + b"\r\nok")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()


def verify(secret: str, request: Received, *, now: datetime, tolerance_s: int = 300) -> bool:
    """Standard Webhooks verification: HMAC-SHA256 over `id.timestamp.body` with the base64 key."""
    msg_id = request.headers["webhook-id"]
    timestamp = request.headers["webhook-timestamp"]
    if abs(int(now.timestamp()) - int(timestamp)) > tolerance_s:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{timestamp}.".encode() + request.body, hashlib.sha256).digest()
    ).decode()
    offered = [s.split(",", 1)[1] for s in request.headers["webhook-signature"].split(" ") if s.startswith("v1,")]
    return any(hmac.compare_digest(expected, s) for s in offered)


# -- events ---------------------------------------------------------------------------------------


class Emitter:
    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.settings = stack.runtimes["notifications"].settings
        self._sequences: dict[tuple[str, str], int] = defaultdict(int)
        self.sent: list[tuple[CloudEvent, bytes]] = []

    async def emit(self, name: str, data: dict[str, Any], *, key: str | None = None) -> CloudEvent:
        """Append the CloudEvent of type `name` (e.g. `grants.award.confirmed`) to its topic."""
        service, aggregate, verb = name.split(".")
        topic = f"{service}.{aggregate}"
        key = key or str(data[KEY_FIELDS[topic]])
        self._sequences[(topic, key)] += 1
        event = envelope.new_event(
            source=SOURCES[service],
            type_=envelope.event_type(service, aggregate, verb),
            subject=f"{aggregate}s/{key}",
            key=key,
            data=data,
            time=self.stack.clock.now(),
        )
        value = envelope.render(envelope.encode_without_sequence(event), self._sequences[(topic, key)])
        await self.append(topic, key, value, event)
        parsed = envelope.parse(value)
        self.sent.append((parsed, value))
        return parsed

    async def append(self, topic: str, key: str, value: bytes, event: CloudEvent) -> None:
        await self.stack.start_workers()  # creates the topics (Kafka never auto-creates them)
        await self.stack.bus.append(
            OutgoingRecord(
                topic=self.settings.topic(topic),
                key=key.encode(),
                value=value,
                headers=envelope.routing_headers(event),
            )
        )

    async def redeliver(self, event: CloudEvent) -> None:
        """The same record again (a producer retry or a consumer crash before its offset commit)."""
        value = next(v for e, v in self.sent if e.id == event.id)
        await self.append(".".join(envelope_name(event).split(".")[:2]), event.partitionkey, value, event)


def envelope_name(event: CloudEvent) -> str:
    return event.type.removeprefix("cn.gongyi.").rsplit(".", 1)[0]


def texts(messages: Iterable[tuple[list[str], EmailMessage]]) -> list[str]:
    return [m.get_content() for _, m in messages]
