"""What every handler module uses: ids, loading with locks, scope checks, staging finance events."""

from __future__ import annotations

from typing import Any, TypeVar

import uuid6
from sqlmodel import SQLModel

from services.grants import events
from services.grants.domain.awards import booking
from services.grants.models import Award, Call, Disbursement, LedgerEntry
from shared.auth import Principal, lies_within
from shared.problems import Forbidden, NotFound
from shared.uow import UnitOfWork

M = TypeVar("M", bound=SQLModel)


def new_id() -> str:
    """UUIDv7: time-ordered, so keyset pagination by id follows creation."""
    return str(uuid6.uuid7())


async def load(uow: UnitOfWork, model: type[M], key: str, *, lock: bool = False, what: str = "") -> M:
    """A row by primary key (PostgreSQL: `FOR UPDATE` when `lock`); 404 when absent."""
    row = await uow.session.get(model, key, with_for_update=lock or None, populate_existing=lock)
    if row is None:
        raise NotFound(f"{what or model.__name__.lower()} {key} not found")
    return row


async def lock_award(uow: UnitOfWork, award_id: str) -> tuple[Award, Call]:
    """The award and its call, locked in the one order every handler uses: the call's budget row,
    then the award row (then its tranches)."""
    peek = await uow.session.get(Award, award_id)
    if peek is None:
        raise NotFound(f"award {award_id} not found")
    call = await load(uow, Call, peek.call_id, lock=True, what="call")
    award = await load(uow, Award, award_id, lock=True, what="award")
    return award, call


def payee_aad(org_id: str) -> str:
    """Associated data binding an encrypted bank account to its organization (it moves from the
    application to the award)."""
    return f"payee:{org_id}"


def within(code: str, region: str) -> bool:
    return lies_within(code, region)


def require_officer(principal: Principal, region_code: str, *, roles: tuple[str, ...] = ("officer", "admin")) -> None:
    """Officers (and admins) act on what lies inside their region."""
    if principal.role not in roles:
        raise Forbidden(f"this action needs one of the roles: {', '.join(roles)}; the token has {principal.role}")
    if not principal.can_act_on_region(region_code):
        raise Forbidden(f"region {region_code} is outside the caller's region {principal.region}")


def sees_region(principal: Principal, region_code: str) -> bool:
    return principal.role in ("officer", "finance", "admin") and principal.can_act_on_region(region_code)


def stage_award_event(
    uow: UnitOfWork,
    verb: str,
    award: Award,
    call: Call,
    *,
    booking_kind: str | None = None,
    booking_fen: int = 0,
    **extra: Any,
) -> None:
    """Stage a `grants.award` event; a finance-relevant one also writes its ledger entry."""
    entry = booking(booking_kind, booking_fen, call.budget_line, call.fiscal_year) if booking_kind else None
    event = events.award_event(verb, award, call, booking=entry, **extra)
    uow.stage(event)
    if booking_kind:
        _ledger(uow, event.topic, award.award_seq, event.type, booking_kind, booking_fen, award, call, None)


def stage_disbursement_event(
    uow: UnitOfWork,
    verb: str,
    award: Award,
    call: Call,
    tranche: Disbursement,
    *,
    booking_kind: str | None = None,
    booking_fen: int = 0,
    amount_fen: int | None = None,
    **extra: Any,
) -> None:
    entry = booking(booking_kind, booking_fen, call.budget_line, call.fiscal_year) if booking_kind else None
    event = events.disbursement_event(verb, award, call, tranche, booking=entry, amount_fen=amount_fen, **extra)
    uow.stage(event)
    if booking_kind:
        _ledger(
            uow, event.topic, award.disbursement_seq, event.type, booking_kind, booking_fen, award, call, tranche.id
        )


def _ledger(
    uow: UnitOfWork,
    topic: str,
    sequence: int,
    type_: str,
    kind: str,
    amount_fen: int,
    award: Award,
    call: Call,
    disbursement_id: str | None,
) -> None:
    uow.session.add(
        LedgerEntry(
            call_id=call.id,
            award_id=award.id,
            disbursement_id=disbursement_id,
            region_code=call.region_code,
            topic=topic,
            sequence=sequence,
            event_type=type_,
            kind=kind,
            amount_fen=amount_fen,
            budget_line=call.budget_line,
            fiscal_year=call.fiscal_year,
            committed_total_fen=award.committed_fen,
            paid_total_fen=award.paid_fen,
            occurred_at=uow.now,
        )
    )
