"""What every chapter of the story uses: people with tokens, HTTP calls that check their answer, the
development clock, explicit waiting for asynchronous effects, and the timeline being told.

Nothing here sleeps to let something happen: `eventually` asks the API again (every 0.1 s) until
the answer shows the effect or the patience runs out, and then says what it was waiting for.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

import httpx

SHANGHAI = ZoneInfo("Asia/Shanghai")
T = TypeVar("T")


def shanghai(local: str) -> datetime:
    """`"2026-05-11 09:00"` in Asia/Shanghai → an aware UTC instant."""
    return datetime.fromisoformat(local).replace(tzinfo=SHANGHAI).astimezone(UTC)


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def local_day(instant: datetime) -> date:
    return instant.astimezone(SHANGHAI).date()


def money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "CNY"}


def fen(amount: str | dict[str, Any]) -> int:
    text = str(amount["amount"] if isinstance(amount, dict) else amount)
    whole, _, frac = text.lstrip("-").partition(".")
    value = int(whole) * 100 + int((frac + "00")[:2])
    return -value if text.startswith("-") else value


def yuan(amount: str | dict[str, Any]) -> str:
    """`{"amount": "60000.00"}` → `¥60,000.00` for the timeline."""
    value = fen(amount)
    return f"{'-' if value < 0 else ''}¥{abs(value) // 100:,}.{abs(value) % 100:02d}"


class StoryError(AssertionError):
    """The system did not answer as the story expects (status, state or a timed-out wait)."""


class TokenFactory(Protocol):
    def __call__(self, role: str, *, sub: str, **claims: Any) -> str: ...


@dataclass(frozen=True)
class Person:
    """Someone who calls the API: a label for the timeline and the claims of their token."""

    label: str
    role: str
    sub: str
    claims: tuple[tuple[str, Any], ...] = ()

    def with_claims(self, **claims: Any) -> Person:
        return Person(self.label, self.role, self.sub, tuple(sorted({**dict(self.claims), **claims}.items())))


@dataclass
class Entry:
    """One line of the timeline: when (the development clock), who, what."""

    at: datetime
    chapter: str
    actor: str
    text: str
    detail: list[str] = field(default_factory=list)


class Clock(Protocol):
    async def set(self, instant: datetime) -> datetime: ...

    def now(self) -> datetime: ...


class Api:
    """HTTP calls as one person at a time; every unexpected answer raises with the problem's text."""

    def __init__(self, client: httpx.AsyncClient, tokens: TokenFactory, *, patience: float = 60.0) -> None:
        self.client = client
        self.tokens = tokens
        self.patience = patience
        self._tokens: dict[Person, str] = {}

    def headers(self, person: Person) -> dict[str, str]:
        token = self._tokens.get(person)
        if token is None:
            token = self.tokens(person.role, sub=person.sub, **dict(person.claims))
            self._tokens[person] = token
        return {"Authorization": f"Bearer {token}"}

    async def request(
        self,
        method: str,
        path: str,
        person: Person | None,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        expect: tuple[int, ...] = (200, 201),
        idempotent: bool = False,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = {**(self.headers(person) if person else {}), **(headers or {})}
        if idempotent:
            sent["Idempotency-Key"] = uuid.uuid4().hex
        response = await self.client.request(method, path, json=body, params=params, headers=sent)
        if response.status_code not in expect:
            raise StoryError(
                f"{method} {path} as {person.label if person else 'the public'}: "
                f"{response.status_code} (expected {', '.join(map(str, expect))}): {response.text[:800]}"
            )
        return response

    async def get(self, path: str, person: Person | None, **kw: Any) -> Any:
        return (await self.request("GET", path, person, **kw)).json()

    async def post(self, path: str, person: Person | None, body: Any = None, **kw: Any) -> Any:
        return (await self.request("POST", path, person, body=body, **kw)).json()

    async def put(self, path: str, person: Person, body: Any, **kw: Any) -> Any:
        return (await self.request("PUT", path, person, body=body, **kw)).json()

    async def eventually(
        self,
        probe: Callable[[], Awaitable[T | None]],
        what: str,
        *,
        timeout: float | None = None,
        interval: float = 0.1,
    ) -> T:
        """Ask `probe` until it answers something truthy; raise naming `what` when patience ends."""
        deadline = time.monotonic() + (timeout or self.patience)
        last: Any = None
        while True:
            try:
                result = await probe()
            except (httpx.TransportError, StoryError) as exc:  # a restarting process answers nothing
                result, last = None, exc
            if result:
                return result
            if time.monotonic() > deadline:
                raise StoryError(f"waited {timeout or self.patience:.0f} s for {what}; last answer: {last!r}")
            last = result if result is not None else last
            await asyncio.sleep(interval)


class DevClock:
    """`POST /_dev/clock` (admin): every service of the development stack moves at once.

    After a move the stack's time runs on from the instant it was set to; `now()` estimates it here
    without asking (for the timeline), `set()` returns what the server says.
    """

    def __init__(self, api: Api, admin: Person) -> None:
        self.api, self.admin = api, admin
        self._base: datetime | None = None
        self._since = time.monotonic()

    async def set(self, instant: datetime) -> datetime:
        answer = await self.api.post("/_dev/clock", self.admin, {"set": instant.isoformat()}, expect=(200,))
        now = datetime.fromisoformat(answer["now"])
        self._base, self._since = now, time.monotonic()
        return now

    def now(self) -> datetime:
        if self._base is None:
            return datetime.now(UTC)
        return self._base + timedelta(seconds=time.monotonic() - self._since)
