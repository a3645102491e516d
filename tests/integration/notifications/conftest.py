"""Fixtures of the notifications integration tests: a stack with loopback SMTP and webhook servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from services.notifications.handlers.wiring import Wiring, wiring_of
from tests.integration.notifications.support import Emitter, SmtpServer, WebhookReceiver
from tests.support.stack import Stack


@dataclass
class World:
    stack: Stack
    smtp: SmtpServer
    receiver: WebhookReceiver
    emitter: Emitter

    @property
    def wiring(self) -> Wiring:
        return wiring_of(self.stack.runtimes["notifications"])

    @property
    def client(self) -> Any:
        return self.stack.client

    async def subscribe(self, types: list[str], *, url: str | None = None, role: str = "admin", **claims: Any) -> dict:
        headers = {**self.stack.auth(role, **claims), "Idempotency-Key": uuid.uuid4().hex}
        body = {"url": url or self.receiver.url(), "event_types": types}
        response = await self.client.post("/notifications/v1/subscriptions", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    async def join(self, role: str, **claims: Any) -> dict[str, str]:
        """A user's first call: the directory learns them from their token."""
        headers = self.stack.auth(role, **claims)
        response = await self.client.get("/notifications/v1/recipients/me", headers=headers)
        assert response.status_code == 200, response.text
        return headers

    async def deliveries(self, **filters: str) -> list[dict]:
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        response = await self.client.get(f"/notifications/v1/deliveries?{query}", headers=self.stack.auth("admin"))
        assert response.status_code == 200, response.text
        return response.json()["items"]

    async def delivery(self, delivery_id: str) -> dict:
        response = await self.client.get(
            f"/notifications/v1/deliveries/{delivery_id}", headers=self.stack.auth("admin")
        )
        assert response.status_code == 200, response.text
        return response.json()


WorldFactory = Callable[..., Any]


@pytest.fixture
async def world(stack_factory) -> AsyncIterator[WorldFactory]:
    opened: list[tuple[SmtpServer, WebhookReceiver]] = []

    async def make(
        db: str = "postgres",
        bus: str = "embedded",
        *,
        script: list[Any] | None = None,
        then: int = 200,
        allow: str | None = "127.0.0.0/8",
        runtime_kwargs: dict[str, Any] | None = None,
        **settings: Any,
    ) -> World:
        smtp = SmtpServer().__enter__()
        receiver = await WebhookReceiver(script=list(script or []), then=then).__aenter__()
        opened.append((smtp, receiver))
        values = {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, **settings}
        if allow is not None:
            values["webhook_allow_cidrs"] = allow
        stack = await stack_factory(
            ("notifications",),
            db=db,
            bus=bus,
            settings=values,
            runtime_kwargs={"notifications": runtime_kwargs or {}},
        )
        return World(stack, smtp, receiver, Emitter(stack))

    yield make
    for smtp, receiver in opened:
        await receiver.__aexit__()
        smtp.__exit__()
