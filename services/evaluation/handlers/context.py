"""What every handler of the evaluation service needs beyond the unit of work.

`Context` wraps the runtime: the working-day calendar, and a cache of parsed catalogue documents
(a `{kind, id, version}` never changes once written, so caching it per runtime is safe).
Access helpers turn a principal into the 403/404 the API conventions ask for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Executable, Result, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluation.models import Evaluation, Evaluator, OrgStanding
from shared.auth import Principal
from shared.problems import Forbidden, NotFound
from shared.runtime import Runtime
from shared.uow import UnitOfWork
from shared.workdays import WorkingCalendar, local_date


@dataclass
class Context:
    runtime: Runtime
    documents: dict[tuple[str, str, int], Any] = field(default_factory=dict)

    @property
    def calendar(self) -> WorkingCalendar:
        return self.runtime.calendar.calendar


async def execute(uow: UnitOfWork, statement: Executable) -> Result[Any]:
    """SQLAlchemy's `execute` on the unit of work's session (SQLModel's override warns on every call)."""
    return await AsyncSession.execute(uow.session, statement)


def context_of(runtime: Runtime) -> Context:
    ctx = runtime.resources.get("evaluation.context")
    if ctx is None:
        ctx = runtime.resources["evaluation.context"] = Context(runtime)
    assert isinstance(ctx, Context)
    return ctx


def today(uow: UnitOfWork) -> date:
    return local_date(uow.now)


def require_officer(principal: Principal, region_code: str | None = None) -> None:
    """Officer or admin; with a region, acting on it (403 otherwise: the resource is known to exist)."""
    if principal.role not in ("officer", "admin"):
        raise Forbidden(f"this action needs an officer or admin token; the token has {principal.role}")
    if region_code is not None and not principal.can_act_on_region(region_code):
        raise Forbidden(f"region {region_code} is outside the token's region {principal.region}")


async def evaluator_of(uow: UnitOfWork, principal: Principal) -> Evaluator:
    """The registered, active evaluator behind an `evaluator` token of their own agency."""
    if principal.role != "evaluator":
        raise Forbidden(f"this action needs an evaluator token; the token has {principal.role}")
    stmt = select(Evaluator).where(Evaluator.sub == principal.sub)  # type: ignore[arg-type]
    evaluator = (await execute(uow, stmt)).scalar_one_or_none()
    if evaluator is None or not evaluator.active:
        raise Forbidden("the token's subject is not a registered, active evaluator")
    if evaluator.agency_id != principal.agency_id:
        raise Forbidden("the evaluator belongs to another agency than the token's agency_id")
    return evaluator


async def get_evaluation(uow: UnitOfWork, evaluation_id: str, *, lock: bool = False) -> Evaluation:
    stmt = select(Evaluation).where(Evaluation.id == evaluation_id)  # type: ignore[arg-type]
    if lock:
        stmt = stmt.with_for_update()
    row = (await execute(uow, stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no evaluation {evaluation_id}")
    return row


async def get_standing(uow: UnitOfWork, org_id: str) -> OrgStanding | None:
    return await uow.session.get(OrgStanding, org_id)


def can_read_evaluation(principal: Principal, evaluation: Evaluation, *, assigned: bool = False) -> bool:
    if principal.role in ("officer", "admin", "finance"):
        return principal.can_act_on_region(evaluation.region_code)
    if principal.role == "org":
        return principal.org_id == evaluation.org_id
    if principal.role == "evaluator":
        return assigned
    return False
