"""The consumer's handler for every event: remember facts, then tell whoever hears of it.

Runs inside the consumer's inbox transaction (shared.consumer): the inbox row, the facts, the
inbox items, the pending deliveries and the `delivered` events of inbox items commit together or
not at all, so a redelivered event (same CloudEvent id) finds its inbox row and creates nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from services.notifications.consumers import Incoming
from services.notifications.domain import catalogue
from services.notifications.domain.catalogue import Audience, NotificationType
from services.notifications.handlers import facts
from services.notifications.handlers.common import prefix_of, table
from services.notifications.handlers.deps import Deps
from services.notifications.handlers.notify import (
    Group,
    Notice,
    Notifier,
    Plan,
    SubscriptionCache,
    matching_subscriptions,
)
from services.notifications.handlers.people import (
    admins,
    officers_of_region,
    people_by_sub,
    people_of_orgs,
)
from services.notifications.models import ApplicationFact, AssignmentFact, AwardFact, CallFact, OrganizationFact
from shared.consumer import TransientError
from shared.envelope import CloudEvent
from shared.uow import UnitOfWork


class FanOut:
    def __init__(self, deps: Deps, notifier: Notifier, subscriptions: SubscriptionCache) -> None:
        self.deps, self.notifier, self.subscriptions = deps, notifier, subscriptions

    async def __call__(self, uow: UnitOfWork, event: CloudEvent) -> None:
        ntype = catalogue.for_event(event.type)
        if ntype is None:
            return  # a type this version does not know (tolerant reader)
        incoming = Incoming(event)
        await facts.remember(uow, self.deps, incoming)
        region = await resolve_region(uow, incoming)
        subscriptions, undecided = await matching_subscriptions(uow, self.subscriptions, event.type, region)
        if region is None and incoming.text("award_id") and (undecided or "officers" in ntype.audiences):
            # A disbursement of an award whose record is applied in another partition right now:
            # the relay published the award first, so it is there when we try again.
            raise TransientError(f"region of award {incoming.text('award_id')} not known yet")
        groups = await audience(uow, ntype, incoming, region)
        plan = Plan(Notice(ntype, event.id, event.type, event.subject, region, incoming.context()))
        self.notifier.plan_people(plan, groups, uow.now)
        if subscriptions:
            self.notifier.plan_webhooks(plan, subscriptions, incoming.body(), uow.now)
        await self.notifier.write(uow, plan)


async def resolve_region(uow: UnitOfWork, incoming: Incoming) -> str | None:
    """The event's `region_code`, else that of its award, call or organization as remembered."""
    if (region := incoming.region_code) is not None:
        return region
    lookups: list[tuple[Any, str, str | None]] = [
        (AwardFact, "award_id", incoming.text("award_id")),
        (CallFact, "call_id", incoming.text("call_id")),
        (OrganizationFact, "org_id", incoming.org_id),
    ]
    for model, key, value in lookups:
        if value is None:
            continue
        t = table(model)
        found = (await uow.conn.execute(select(t.c.region_code).where(t.c[key] == value))).scalar_one_or_none()
        if found:
            return str(found)
    return None


async def audience(uow: UnitOfWork, ntype: NotificationType, incoming: Incoming, region: str | None) -> list[Group]:
    groups: list[Group] = []
    for who in ntype.audiences:
        groups.extend(await _groups(uow, who, incoming, region))
    return groups


async def _groups(uow: UnitOfWork, who: Audience, incoming: Incoming, region: str | None) -> list[Group]:
    if who == "org":
        org_id = incoming.org_id
        if org_id is None:
            return []
        members = (await people_of_orgs(uow, [org_id])).get(org_id, [])
        if incoming.org_name or not members:
            return [Group(members)]
        # Assessment events name the organization by org_id only: render the name remembered from
        # the registry's events rather than an empty one.
        return [Group(members, {"org": await _remembered_name(uow, org_id)})]
    if who == "officers":
        return [Group(await officers_of_region(uow, region) if region else await admins(uow))]
    if who == "admins":
        return [Group(await admins(uow))]
    if who == "evaluator":
        sub = incoming.text("evaluator_sub")
        return [Group(await people_by_sub(uow, [sub], kind="evaluator"))] if sub else []
    if who == "round_orgs":
        kinds = incoming.data.get("kinds")
        wanted = [k for k in kinds if isinstance(k, str)] if isinstance(kinds, list) else None
        return await _orgs_in_region(uow, region, kinds=wanted)
    if who == "call_orgs":
        return await _orgs_in_region(uow, region, kinds=None)
    if who == "call_applicants":
        return await _call_applicants(uow, incoming.text("call_id"))
    if who == "round_evaluators":
        return await _round_evaluators(uow, incoming.text("round_id"))
    return []


async def _remembered_name(uow: UnitOfWork, org_id: str) -> str:
    t = table(OrganizationFact)
    name = (await uow.conn.execute(select(t.c.name).where(t.c.org_id == org_id))).scalar_one_or_none()
    return str(name or "")


async def _org_groups(uow: UnitOfWork, names: dict[str, str]) -> list[Group]:
    people = await people_of_orgs(uow, names)
    return [Group(members, {"org": names[org_id]}) for org_id, members in people.items()]


async def _orgs_in_region(uow: UnitOfWork, region: str | None, *, kinds: Iterable[str] | None) -> list[Group]:
    prefix = prefix_of(region)
    if prefix is None:
        return []
    o = table(OrganizationFact)
    stmt = select(o.c.org_id, o.c.name).where(o.c.status == "active", o.c.region_code.startswith(prefix))
    if kinds is not None:
        stmt = stmt.where(o.c.kind.in_(list(kinds)))
    names = {row.org_id: row.name for row in await uow.conn.execute(stmt)}
    return await _org_groups(uow, names) if names else []


async def _call_applicants(uow: UnitOfWork, call_id: str | None) -> list[Group]:
    if call_id is None:
        return []
    a, o = table(ApplicationFact), table(OrganizationFact)
    rows = await uow.conn.execute(
        select(a.c.org_id, o.c.name)
        .select_from(a.outerjoin(o, o.c.org_id == a.c.org_id))
        .where(a.c.call_id == call_id, a.c.status.in_(["draft", "submitted"]))
    )
    names = {row.org_id: row.name or "" for row in rows}
    return await _org_groups(uow, names) if names else []


async def _round_evaluators(uow: UnitOfWork, round_id: str | None) -> list[Group]:
    if round_id is None:
        return []
    a = table(AssignmentFact)
    rows = await uow.conn.execute(select(a.c.evaluator_sub).where(a.c.round_id == round_id, a.c.status == "assigned"))
    pending = Counter(row.evaluator_sub for row in rows)
    people = await people_by_sub(uow, list(pending), kind="evaluator")
    return [Group([p], {"pending": pending[p.sub]}) for p in people]
