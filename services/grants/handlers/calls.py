"""Calls: create, amend a draft, publish, cancel; the open/close timers; public listing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlmodel import select

from services.grants import events
from services.grants.domain import DomainError, FieldErrors
from services.grants.domain import calls as domain_calls
from services.grants.domain.calls import CallSpec, Criterion, Lookback, Rules, TrancheRule
from services.grants.domain.money import money
from services.grants.handlers.common import load, new_id, require_officer, sees_region
from services.grants.models import Award, Call
from services.grants.models.io_calls import BudgetPublic, CallCreate, CallPublic
from shared.auth import InvalidRegionCode, Principal, authority_prefix
from shared.http import Cursor, Money, Page
from shared.problems import BadRequest, NotFound
from shared.uow import UnitOfWork

PUBLIC_STATUSES = ("published", "open", "closed")


def rules_from(eligibility: dict[str, Any], call_type: str) -> Rules:
    """The stored rule set (JSON) as the domain's `Rules`; service purchase adds its statutory rules."""
    parsed = Rules(
        kinds=tuple(eligibility.get("kinds") or ()),
        regions=tuple(eligibility.get("regions") or ()),
        min_grade=eligibility.get("min_grade"),
        lookbacks=tuple(Lookback(str(lb["list"]), int(lb["months"])) for lb in eligibility.get("lookbacks") or ()),
        major_violation_months=eligibility.get("major_violation_months"),
        annual_results=tuple(eligibility["annual_results"]) if eligibility.get("annual_results") else None,
        max_applications=eligibility.get("max_applications"),
        exclude_under_investigation=bool(eligibility.get("exclude_under_investigation")),
        double_funding_check=bool(eligibility.get("double_funding_check", True)),
        bases=dict(eligibility.get("bases") or {}),
    )
    return domain_calls.purchase_rules(parsed) if call_type == "service_purchase" else parsed


def call_rules(call: Call) -> Rules:
    return rules_from(call.eligibility, call.call_type)


def rule_set(call: Call) -> dict[str, Any]:
    return {"id": f"call:{call.id}", "version": call.rules_version}


def _spec(body: CallCreate) -> CallSpec:
    per_grade: dict[str, int] = {g: m.fen for g, m in (body.amount_per_grade or {}).items()}
    max_award = body.max_award.fen if body.max_award else (max(per_grade.values()) if per_grade else 0)
    return CallSpec(
        call_type=body.call_type,
        title=body.title,
        region_code=body.region_code,
        budget_fen=body.budget.fen,
        min_award_fen=body.min_award.fen if body.min_award else 0,
        max_award_fen=max_award,
        max_grant_bp=body.max_grant_bp,
        personnel_cap_bp=body.personnel_cap_bp,
        opens_at=body.opens_at,
        closes_at=body.closes_at,
        notice_working_days=body.notice_working_days,
        tranches=tuple(TrancheRule(t.basis_points, t.trigger) for t in body.tranches),
        rubric=tuple(Criterion(c.code, c.title, c.weight_bp) for c in body.rubric),
        reviewers_per_application=body.reviewers_per_application,
        roadshow_weight_bp=body.roadshow_weight_bp,
        tie_break=body.tie_break,
        funding_source=body.funding_source,
        budget_classification_code=body.budget_classification_code,
        fiscal_year=body.fiscal_year,
        authorisation_number=body.authorisation_number,
        rules=rules_from(body.eligibility.model_dump(), body.call_type),
        procurement_method=body.procurement_method,
        contract_term_months=body.contract_term_months,
        contract_term_justification=body.contract_term_justification,
        amount_per_grade=per_grade,
    )


def _apply(call: Call, body: CallCreate, spec: CallSpec) -> None:
    call.call_type = body.call_type
    call.title = body.title
    call.description = body.description
    call.region_code = body.region_code
    call.budget_fen = spec.budget_fen
    call.min_award_fen = spec.min_award_fen
    call.max_award_fen = spec.max_award_fen
    call.max_grant_bp = body.max_grant_bp
    call.personnel_cap_bp = body.personnel_cap_bp
    call.eligibility = body.eligibility.model_dump(mode="json")
    call.opens_at = body.opens_at.astimezone(UTC)
    call.closes_at = body.closes_at.astimezone(UTC)
    call.notice_working_days = body.notice_working_days
    call.rubric = [c.model_dump() for c in body.rubric]
    call.reviewers_per_application = body.reviewers_per_application
    call.roadshow_weight_bp = body.roadshow_weight_bp
    call.tie_break = body.tie_break
    call.tranches = [{"tranche_no": i + 1, **t.model_dump()} for i, t in enumerate(body.tranches)]
    call.first_tranche_working_days = body.first_tranche_working_days
    call.assessment = body.assessment.model_dump()
    call.funding_source = body.funding_source
    call.budget_classification_code = body.budget_classification_code
    call.fiscal_year = body.fiscal_year
    call.authorisation_number = body.authorisation_number
    call.budget_line = (
        body.budget_line or f"{body.fiscal_year}/{body.budget_classification_code}/{body.authorisation_number}"
    )
    call.procurement_method = body.procurement_method
    call.contract_term_months = body.contract_term_months
    call.contract_term_justification = body.contract_term_justification
    call.amount_per_grade = dict(spec.amount_per_grade)


def _validated(body: CallCreate) -> CallSpec:
    spec = _spec(body)
    errors = domain_calls.validate_call(spec)
    if errors:
        raise FieldErrors(errors)
    return spec


async def create_call(uow: UnitOfWork, *, principal: Principal, body: CallCreate) -> Call:
    require_officer(principal, body.region_code)
    spec = _validated(body)
    call = Call(
        id=new_id(),
        status="draft",
        call_type=body.call_type,
        title=body.title,
        region_code=body.region_code,
        budget_fen=spec.budget_fen,
        opens_at=body.opens_at,
        closes_at=body.closes_at,
        funding_source=body.funding_source,
        budget_classification_code=body.budget_classification_code,
        fiscal_year=body.fiscal_year,
        authorisation_number=body.authorisation_number,
        budget_line="",
        created_by=principal.sub,
        created_at=uow.now,
        updated_at=uow.now,
    )
    _apply(call, body, spec)
    uow.session.add(call)
    uow.audit("call.created", f"calls/{call.id}", {"call_type": call.call_type, "budget_fen": call.budget_fen})
    return call


def input_shape(call: Call) -> dict[str, Any]:
    """The stored call as a `CallCreate` body, so a PATCH is validated as a whole call."""
    return {
        "call_type": call.call_type,
        "title": call.title,
        "description": call.description,
        "region_code": call.region_code,
        "budget": money(call.budget_fen),
        "min_award": money(call.min_award_fen),
        "max_award": money(call.max_award_fen) if call.call_type != "award_subsidy" else None,
        "max_grant_bp": call.max_grant_bp,
        "personnel_cap_bp": call.personnel_cap_bp,
        "eligibility": call.eligibility,
        "opens_at": call.opens_at,
        "closes_at": call.closes_at,
        "notice_working_days": call.notice_working_days,
        "rubric": call.rubric,
        "reviewers_per_application": call.reviewers_per_application,
        "roadshow_weight_bp": call.roadshow_weight_bp,
        "tie_break": call.tie_break,
        "tranches": [{"basis_points": t["basis_points"], "trigger": t["trigger"]} for t in call.tranches],
        "first_tranche_working_days": call.first_tranche_working_days,
        "assessment": call.assessment,
        "funding_source": call.funding_source,
        "budget_classification_code": call.budget_classification_code,
        "fiscal_year": call.fiscal_year,
        "authorisation_number": call.authorisation_number,
        "budget_line": call.budget_line,
        "procurement_method": call.procurement_method,
        "contract_term_months": call.contract_term_months,
        "contract_term_justification": call.contract_term_justification,
        "amount_per_grade": {g: money(f) for g, f in call.amount_per_grade.items()} or None,
    }


async def update_call(uow: UnitOfWork, *, principal: Principal, call: Call, changes: dict[str, Any]) -> Call:
    require_officer(principal, call.region_code)
    domain_calls.require_status(call.status, ("draft",), "amend")
    try:
        body = CallCreate.model_validate({**input_shape(call), **changes})
    except ValidationError as exc:
        raise FieldErrors(
            [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        ) from None
    require_officer(principal, body.region_code)
    _apply(call, body, _validated(body))
    call.version += 1
    call.rules_version += 1 if "eligibility" in changes else 0
    call.updated_at = uow.now
    uow.audit("call.amended", f"calls/{call.id}", {"fields": sorted(changes)})
    return call


async def publish_call(uow: UnitOfWork, *, principal: Principal, call_id: str) -> Call:
    call = await load(uow, Call, call_id, lock=True, what="call")
    visible_or_404(principal, call)
    require_officer(principal, call.region_code)
    domain_calls.require_status(call.status, ("draft",), "publish")
    if call.closes_at <= uow.now:
        raise FieldErrors([{"field": "closes_at", "message": "the call would be closed already; move closes_at"}])
    call.status = "published"
    call.published_at = uow.now
    call.version += 1
    uow.stage(events.call_event("published", call))
    uow.schedule("call.close", call.id, call.closes_at)
    if uow.now >= call.opens_at:
        call.status = "open"
        uow.stage(events.call_event("opened", call))
    else:
        uow.schedule("call.open", call.id, call.opens_at)
    uow.audit(
        "call.published",
        f"calls/{call.id}",
        {"opens_at": call.opens_at.isoformat(), "closes_at": call.closes_at.isoformat()},
    )
    return call


async def cancel_call(uow: UnitOfWork, *, principal: Principal, call_id: str, reason: str) -> Call:
    call = await load(uow, Call, call_id, lock=True, what="call")
    visible_or_404(principal, call)
    require_officer(principal, call.region_code)
    domain_calls.require_status(call.status, ("draft", "published", "open", "closed"), "cancel")
    live_awards = select(Award.id).where(Award.call_id == call.id, Award.status != "cancelled").limit(1)
    if (await uow.session.exec(live_awards)).first() is not None:
        raise DomainError(
            "call.has_awards", "a call with awards cannot be cancelled; terminate the awards", kind="conflict"
        )
    was_draft = call.status == "draft"
    call.status = "cancelled"
    call.cancelled_reason = reason
    call.version += 1
    if not was_draft:
        uow.stage(events.call_event("cancelled", call))
    uow.audit("call.cancelled", f"calls/{call.id}", {"reason": reason})
    return call


def visible_or_404(principal: Principal | None, call: Call) -> None:
    """Drafts exist only for the officers of their region."""
    if call.status == "draft" and (principal is None or not sees_region(principal, call.region_code)):
        raise NotFound(f"call {call.id} not found")


async def get_call(uow: UnitOfWork, *, principal: Principal | None, call_id: str) -> Call:
    call = await load(uow, Call, call_id, what="call")
    visible_or_404(principal, call)
    return call


async def list_calls(
    uow: UnitOfWork,
    *,
    principal: Principal | None,
    status: str | None,
    region: str | None,
    call_type: str | None,
    cursor: str | None,
    limit: int,
) -> Page[CallPublic]:
    table = Call.__table__  # type: ignore[attr-defined]
    stmt = select(Call)
    if status == "draft":
        if principal is None or principal.role not in ("officer", "admin"):
            return Page(items=[], next_cursor=None)
        stmt = stmt.where(table.c.status == "draft")
    elif status:
        stmt = stmt.where(table.c.status == status)
    else:
        stmt = stmt.where(table.c.status.in_(PUBLIC_STATUSES))
    if region:
        try:
            prefix = authority_prefix(region)
        except InvalidRegionCode:
            raise BadRequest(f"{region} is not a region code", code="region.invalid") from None
        stmt = stmt.where(table.c.region_code.startswith(prefix))
    if call_type:
        stmt = stmt.where(table.c.call_type == call_type)
    after = Cursor.decode(cursor)
    if after:
        stmt = stmt.where(table.c.id < str(after[0]))
    calls = list((await uow.session.exec(stmt.order_by(table.c.id.desc()).limit(limit + 1))).all())
    if status == "draft":
        calls = [c for c in calls if principal is not None and sees_region(principal, c.region_code)]
    page = calls[:limit]
    return Page(
        items=[call_public(c) for c in page],
        next_cursor=Cursor.encode([page[-1].id]) if len(calls) > limit else None,
    )


def call_public(call: Call) -> CallPublic:
    return CallPublic(
        id=call.id,
        version=call.version,
        status=call.status,
        call_type=call.call_type,
        title=call.title,
        description=call.description,
        region_code=call.region_code,
        budget=Money.of_fen(call.budget_fen),
        min_award=Money.of_fen(call.min_award_fen),
        max_award=Money.of_fen(call.max_award_fen),
        max_grant_bp=call.max_grant_bp,
        personnel_cap_bp=call.personnel_cap_bp,
        eligibility=call.eligibility,
        rule_set=rule_set(call),
        opens_at=call.opens_at,
        closes_at=call.closes_at,
        notice_working_days=call.notice_working_days,
        rubric=call.rubric,
        reviewers_per_application=call.reviewers_per_application,
        roadshow_weight_bp=call.roadshow_weight_bp,
        tie_break=call.tie_break,
        tranches=call.tranches,
        first_tranche_working_days=call.first_tranche_working_days,
        assessment=call.assessment,
        funding_source=call.funding_source,
        budget_classification_code=call.budget_classification_code,
        fiscal_year=call.fiscal_year,
        authorisation_number=call.authorisation_number,
        budget_line=call.budget_line,
        procurement_method=call.procurement_method,
        contract_term_months=call.contract_term_months,
        contract_term_justification=call.contract_term_justification,
        amount_per_grade={g: Money.of_fen(f) for g, f in call.amount_per_grade.items()} or None,
        created_at=call.created_at,
        published_at=call.published_at,
        cancelled_reason=call.cancelled_reason,
    )


def budget_public(call: Call) -> BudgetPublic:
    return BudgetPublic(
        call_id=call.id,
        total=Money.of_fen(call.budget_fen),
        committed=Money.of_fen(call.committed_fen),
        paid=Money.of_fen(call.paid_fen),
        remaining=Money.of_fen(call.budget_fen - call.committed_fen),
        budget_line=call.budget_line,
        fiscal_year=call.fiscal_year,
    )


async def get_budget(uow: UnitOfWork, *, principal: Principal, call_id: str) -> BudgetPublic:
    call = await load(uow, Call, call_id, what="call")
    visible_or_404(principal, call)
    require_officer(principal, call.region_code, roles=("officer", "finance", "admin"))
    return budget_public(call)


# -- timers ---------------------------------------------------------------------------------------


async def open_call_job(uow: UnitOfWork, key: str, due_at: datetime) -> None:
    call = await uow.session.get(Call, key, with_for_update=True)
    if call is None or call.status != "published" or uow.now < call.opens_at:
        return  # idempotent: opened already, cancelled, or the occurrence is stale
    call.status = "open"
    call.version += 1
    uow.stage(events.call_event("opened", call))


async def close_call_job(uow: UnitOfWork, key: str, due_at: datetime) -> None:
    call = await uow.session.get(Call, key, with_for_update=True)
    if call is None or call.status not in ("published", "open") or uow.now < call.closes_at:
        return
    call.status = "closed"
    call.version += 1
    uow.stage(events.call_event("closed", call))
