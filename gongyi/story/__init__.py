"""The whole story of Gongyi over HTTP, told once and reused: `gongyi demo` prints it, the end-to-end
and fault tests assert it (embedded defaults in one process; PostgreSQL + Kafka as OS processes).

Contract: `Story(client, tokens, ...)` drives a running development stack through `client` (an
`httpx.AsyncClient` whose base URL serves `/registry`, `/evaluation`, `/grants`, `/notifications`
and `/_dev/clock`), minting tokens with `tokens(role, sub=..., **claims)`, moving the development
clock (never shortening a legal period) from a fixed instant in 2026. `await story.run()` returns a
`StoryResult` with every id and fact it created, the finance ledger it reconciled and the timeline.

The story, in Asia/Shanghai time (chapters in `registration`, `rating`, `grants`, `money`, `closing`):
1. 2026-05-11 白云区 registers two social service agencies and records their annual results; the
   三元里 street office files a community group; their staff sign up for notifications.
2. A rating round: both apply, an agency's three experts (machine tokens) score them, the committee
   decides 4A and 2A, the public notice runs five working days, the grades are published.
3. June: a venture-philanthropy call (3A+), a micro-venture call (filed groups welcome) and a
   service purchase open; four applications arrive, the 2A agency's is refused with its reasons.
4. July: reviewers score, the officers award within budget, the award notice ends, awards confirm.
5. August: agreements signed, first tranches released and paid; the reference finance consumer
   (examples/finance_consumer.py) books every entry exactly once.
6. October: the mid-term assessment passes, the second tranche is released and paid.
7. Notifications are in the inboxes; the OCDS and 360Giving exports are written to files.

Waiting for what other services do with an event is explicit polling of the API with a timeout
(`Api.eventually`), never a fixed sleep.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gongyi.story.cast import ADMIN, Org, organizations
from gongyi.story.context import Api, Clock, DevClock, Entry, Person, StoryError, TokenFactory
from gongyi.story.finance import FinanceBooks

__all__ = ["Entry", "Person", "Story", "StoryError", "StoryResult"]

START = "2026-05-11 09:00"  # a Monday; every working-day period of the story ends inside 2026


@dataclass
class StoryResult:
    orgs: dict[str, Org]
    people: dict[str, Person] = field(default_factory=dict)
    round_id: str = ""
    agency: dict[str, Any] = field(default_factory=dict)
    experts: list[Person] = field(default_factory=list)  # the agency's experts: ratings, reviews, assessments
    evaluations: dict[str, dict[str, Any]] = field(default_factory=dict)  # org key → evaluation
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)  # venture | micro | purchase
    applications: dict[str, dict[str, Any]] = field(default_factory=dict)  # a_venture, b_venture, …
    awards: dict[str, dict[str, Any]] = field(default_factory=dict)  # a_venture, c_micro, a_purchase
    tranches: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # award key → tranches
    assessments: dict[str, dict[str, Any]] = field(default_factory=dict)  # "a_venture.midterm" → …
    budgets: dict[str, dict[str, Any]] = field(default_factory=dict)
    ledger: list[dict[str, Any]] = field(default_factory=list)  # GET /grants/v1/ledger of the story's calls
    bookings: list[dict[str, Any]] = field(default_factory=list)  # what the finance consumer booked
    inboxes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # person sub → inbox items
    expected_inbox: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)
    subscription: dict[str, Any] = field(default_factory=dict)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)  # ocds, 360giving-venture, -micro
    exports: dict[str, Path] = field(default_factory=dict)  # the same, written to files
    timeline: list[Entry] = field(default_factory=list)


Hook = Callable[[str], Awaitable[None]]


class Story:
    def __init__(
        self,
        client: httpx.AsyncClient,
        tokens: TokenFactory,
        *,
        finance: FinanceBooks | None = None,
        clock: Clock | None = None,
        out_dir: Path | None = None,
        patience: float = 60.0,
        suffix: str = "",
        webhook_url: str | None = None,
        emails: bool = True,
        report: Callable[[Entry], None] | None = None,
        on_chapter: Hook | None = None,
    ) -> None:
        self.api = Api(client, tokens, patience=patience)
        self.clock: Clock = clock or DevClock(self.api, ADMIN)
        self.finance = finance
        self.out_dir = out_dir
        self.webhook_url = webhook_url
        self.emails = emails
        self.report = report
        self.on_chapter = on_chapter
        self.result = StoryResult(orgs=organizations(suffix))
        self.evaluator_ids: dict[str, str] = {}  # expert sub → the agency's evaluator id
        self.chapter = ""

    # -- telling ------------------------------------------------------------------------------------

    def tell(self, actor: str, text: str, *detail: str) -> None:
        entry = Entry(self.clock.now(), self.chapter, actor, text, list(detail))
        self.result.timeline.append(entry)
        if self.report is not None:
            self.report(entry)

    def expect_inbox(self, person: Person, notification_type: str, resource: str) -> None:
        self.result.expected_inbox.setdefault(person.sub, Counter())[(notification_type, resource)] += 1

    async def reached(self, producer: str, topic: str, key: str, consumers: tuple[str, ...], what: str) -> None:
        """Wait until `consumers` applied every event `producer` staged so far on (`topic`, `key`)."""
        path = "/{}/v1/admin/event-positions"
        params = {"topic": topic, "key": key}
        produced = (await self.api.get(path.format(producer), ADMIN, params=params))["produced"]
        if produced is None:
            raise StoryError(f"{producer} produced nothing on {topic} for {key}")
        for service in consumers:

            async def applied(service: str = service) -> bool:
                consumed = (await self.api.get(path.format(service), ADMIN, params=params))["consumed"]
                return bool(consumed) and all(int(c["sequence"]) >= produced for c in consumed)

            await self.api.eventually(applied, f"{service} to apply {what} ({topic} {key} up to {produced})")

    async def begin(self, chapter: str) -> None:
        self.chapter = chapter
        if self.on_chapter is not None:
            await self.on_chapter(chapter)

    # -- the whole story ---------------------------------------------------------------------------

    async def run(self) -> StoryResult:
        from gongyi.story import closing, grants, money, rating, registration

        await registration.register_and_file(self)
        await rating.rate(self)
        await grants.open_calls(self)
        await grants.apply(self)
        await grants.review(self)
        await grants.award(self)
        await money.sign_and_pay(self)
        await money.midterm(self)
        await closing.inboxes(self)
        await closing.exports(self)
        return self.result
