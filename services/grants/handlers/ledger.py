"""Reconciliation for finance: the same booking entries the events carry, without replaying Kafka."""

from __future__ import annotations

from sqlalchemy import and_, select

from services.grants.domain.money import money
from services.grants.models import LedgerEntry
from services.grants.models.io_awards import LedgerEntryPublic
from shared.auth import Principal, authority_prefix
from shared.http import Cursor, Money, Page
from shared.problems import Forbidden
from shared.uow import UnitOfWork

LEDGER = LedgerEntry.__table__  # type: ignore[attr-defined]


async def ledger_page(
    uow: UnitOfWork, *, principal: Principal, cursor: str | None, limit: int, call_id: str | None, award_id: str | None
) -> Page[LedgerEntryPublic]:
    if principal.role not in ("finance", "admin"):
        raise Forbidden("the ledger is for finance")
    outbox = uow.infra.outbox
    # The event id is the outbox row of the same (topic, key, sequence): the entry and its event
    # were written in one transaction.
    stmt = select(LEDGER, outbox.c.event_id).select_from(
        LEDGER.outerjoin(
            outbox,
            and_(
                outbox.c.topic == LEDGER.c.topic,
                outbox.c.key == LEDGER.c.award_id,
                outbox.c.sequence == LEDGER.c.sequence,
            ),
        )
    )
    if principal.role != "admin" and principal.region:
        stmt = stmt.where(LEDGER.c.region_code.startswith(authority_prefix(principal.region)))
    if call_id:
        stmt = stmt.where(LEDGER.c.call_id == call_id)
    if award_id:
        stmt = stmt.where(LEDGER.c.award_id == award_id)
    after = Cursor.decode(cursor)
    if after:
        stmt = stmt.where(LEDGER.c.id > int(after[0]))
    rows = (await uow.conn.execute(stmt.order_by(LEDGER.c.id).limit(limit + 1))).all()
    items = [
        LedgerEntryPublic(
            entry_id=r.id,
            event_id=r.event_id,
            event_type=r.event_type,
            topic=r.topic,
            partitionkey=r.award_id,
            sequence=r.sequence,
            call_id=r.call_id,
            award_id=r.award_id,
            disbursement_id=r.disbursement_id,
            booking={
                "kind": r.kind,
                "amount": money(r.amount_fen)["amount"],
                "currency": "CNY",
                "budget_line": r.budget_line,
                "fiscal_year": r.fiscal_year,
            },
            committed_total=Money.of_fen(r.committed_total_fen),
            paid_total=Money.of_fen(r.paid_total_fen),
            occurred_at=r.occurred_at,
        )
        for r in rows[:limit]
    ]
    return Page(items=items, next_cursor=Cursor.encode([items[-1].entry_id]) if len(rows) > limit else None)
