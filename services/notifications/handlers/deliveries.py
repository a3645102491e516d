"""The delivery log for officers, administrators and finance: list, detail, manual retry."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from services.notifications.handlers.common import table
from services.notifications.handlers.subscriptions import region_filter
from services.notifications.models import Delivery, DeliveryAttempt, Subscription
from services.notifications.models.io import AttemptPublic, DeliveryDetail, DeliveryPublic
from shared.auth import Principal
from shared.problems import Conflict, NotFound
from shared.uow import UnitOfWork


def scope(principal: Principal) -> Any:
    """Which deliveries the caller may see: officers their region's, finance their subscriptions'."""
    d, s = table(Delivery), table(Subscription)
    if principal.role == "admin":
        return None
    if principal.role == "finance":
        mine = select(s.c.id).where(region_filter(principal, s.c.region_code))
        return d.c.subscription_id.in_(mine.scalar_subquery())
    return region_filter(principal, d.c.region_code)


def public(row: Any) -> DeliveryPublic:
    return DeliveryPublic.model_validate(row, from_attributes=True)


async def listing(
    uow: UnitOfWork,
    principal: Principal,
    *,
    status: str | None,
    channel: str | None,
    subscription_id: str | None,
    cause_event_id: str | None,
    before: str | None,
    limit: int,
) -> list[Any]:
    d = table(Delivery)
    stmt = select(d).order_by(d.c.id.desc()).limit(limit + 1)
    for condition in (
        scope(principal),
        d.c.status == status if status else None,
        d.c.channel == channel if channel else None,
        d.c.subscription_id == subscription_id if subscription_id else None,
        d.c.cause_event_id == cause_event_id if cause_event_id else None,
        d.c.id < before if before else None,
    ):
        if condition is not None:
            stmt = stmt.where(condition)
    return list(await uow.conn.execute(stmt))


async def load(uow: UnitOfWork, principal: Principal, delivery_id: str) -> Any:
    d = table(Delivery)
    stmt = select(d).where(d.c.id == delivery_id)
    if (condition := scope(principal)) is not None:
        stmt = stmt.where(condition)
    row = (await uow.conn.execute(stmt)).first()
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
    return row


async def detail(uow: UnitOfWork, principal: Principal, delivery_id: str) -> DeliveryDetail:
    row = await load(uow, principal, delivery_id)
    a = table(DeliveryAttempt)
    attempts = await uow.conn.execute(select(a).where(a.c.delivery_id == delivery_id).order_by(a.c.attempt, a.c.id))
    return DeliveryDetail(
        **public(row).model_dump(),
        attempt_log=[AttemptPublic.model_validate(x, from_attributes=True) for x in attempts],
    )


async def retry(uow: UnitOfWork, principal: Principal, delivery_id: str) -> Any:
    """A failed delivery starts a new round of the schedule now, with the same identity."""
    row = await load(uow, principal, delivery_id)
    if row.status != "failed":
        raise Conflict(f"only a failed delivery can be retried; this one is {row.status}", code="delivery.not_failed")
    if row.subscription_id is not None:
        s = table(Subscription)
        status = (await uow.conn.execute(select(s.c.status).where(s.c.id == row.subscription_id))).scalar_one_or_none()
        if status != "active":
            raise Conflict(
                f"the subscription is {status}; re-enable it first (PATCH …/subscriptions/{row.subscription_id})",
                code="delivery.subscription_inactive",
            )
    d = table(Delivery)
    await uow.conn.execute(
        update(d)
        .where(d.c.id == delivery_id, d.c.status == "failed")
        .values(
            status="pending",
            round_attempts=0,
            next_attempt_at=uow.now,
            lease_until=None,
            lease_token=None,
            updated_at=uow.now,
        )
    )
    uow.audit("delivery.retried", f"deliveries/{delivery_id}", {"attempts_so_far": row.attempts})
    return await load(uow, principal, delivery_id)
