"""Applications: drafts, withdrawal, eligibility answers, lists (the submission itself, the hot path,
is handlers/submission.py). One organization sees only its own applications (404 for the others')."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.grants import events
from services.grants.domain import DomainError
from services.grants.domain import applications as rules
from services.grants.domain.applications import BudgetLine
from services.grants.domain.eligibility import screen
from services.grants.domain.money import money
from services.grants.domain.money import score_text as _score
from services.grants.handlers.calls import rules_from
from services.grants.handlers.common import new_id, payee_aad, sees_region, within
from services.grants.handlers.standing import SCREENINGS, knows_registry, read_standing
from services.grants.models import Application, Call, ReviewAssignment
from services.grants.models.io_applications import (
    ApplicationCreate,
    ApplicationPublic,
    ApplicationUpdate,
    EligibilityPublic,
    PayeePublic,
    ReasonPublic,
)
from shared.auth import Principal
from shared.http import Cursor, Money, Page
from shared.pii import FieldCipher
from shared.problems import Forbidden, NotFound
from shared.uow import UnitOfWork
from shared.workdays import local_date

APPLICATIONS = Application.__table__  # type: ignore[attr-defined]
ASSIGNMENTS = ReviewAssignment.__table__  # type: ignore[attr-defined]


def _lines(items: list[dict[str, Any]]) -> list[BudgetLine]:
    return [BudgetLine(str(i["category"]), int(i["amount_fen"])) for i in items]


def _store_lines(body_lines: list[Any]) -> list[dict[str, Any]]:
    return [{"category": b.category, "amount_fen": b.amount.fen, "description": b.description} for b in body_lines]


def _store_prior(items: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "funder": p.funder,
            "project_title": p.project_title,
            "amount_fen": p.amount.fen if p.amount else None,
            "period_start": p.period_start.isoformat() if p.period_start else None,
            "period_end": p.period_end.isoformat() if p.period_end else None,
        }
        for p in items
    ]


def _apply(app: Application, body: ApplicationCreate | ApplicationUpdate, cipher: FieldCipher) -> None:
    fields = body.model_fields_set
    if body.project_title is not None:
        app.project_title = body.project_title
        app.title_key = rules.title_key(body.project_title)[:200]
    if body.summary is not None:
        app.summary = body.summary
    if "period_start" in fields or isinstance(body, ApplicationCreate):
        app.period_start = body.period_start
    if "period_end" in fields or isinstance(body, ApplicationCreate):
        app.period_end = body.period_end
    if "requested" in fields or isinstance(body, ApplicationCreate):
        app.requested_fen = body.requested.fen if body.requested else None
    if body.budget_lines is not None:
        app.budget_lines = _store_lines(body.budget_lines)
        t = rules.totals(_lines(app.budget_lines), app.requested_fen or 0)
        app.project_budget_fen, app.personnel_fen = t.project_budget_fen, t.personnel_fen
    if body.prior_funding is not None:
        app.prior_funding = _store_prior(body.prior_funding)
    if body.payee is not None:
        app.payee_account_name = body.payee.account_name
        app.payee_bank_name = body.payee.bank_name
        app.payee_account_cipher = cipher.encrypt(body.payee.account_number, associated_data=payee_aad(app.org_id))
        app.payee_account_last4 = body.payee.account_number[-4:]


async def create_draft(
    uow: UnitOfWork, *, principal: Principal, call_id: str, body: ApplicationCreate, cipher: FieldCipher
) -> Application:
    if principal.role != "org" or principal.org_id is None:
        raise Forbidden("only an organization's users apply")
    call = await uow.session.get(Call, call_id)
    if call is None or call.status == "draft":
        raise NotFound(f"call {call_id} not found")
    if call.call_type == "award_subsidy":
        raise DomainError("call.no_application", "award subsidies have no application form", kind="conflict")
    if call.status not in ("published", "open") or uow.now >= call.closes_at:
        raise DomainError(
            "call.closed", f"the call is {call.status if call.status != 'open' else 'closed'}", kind="conflict"
        )
    standing = await read_standing(uow, principal.org_id)
    doc = standing["doc"] if standing else {}
    app = Application(
        id=new_id(),
        call_id=call.id,
        org_id=principal.org_id,
        status="draft",
        organization=doc.get("organization") or {"org_id": principal.org_id},
        region_code=doc.get("region_code"),
        project_title=body.project_title,
        title_key=rules.title_key(body.project_title)[:200],
        created_by=principal.sub,
        created_at=uow.now,
        updated_at=uow.now,
    )
    _apply(app, body, cipher)
    uow.session.add(app)
    if events.announced(app):  # otherwise announced with its organization when the registry's record arrives
        uow.stage(events.application_event("drafted", app.model_dump(), project_title=app.project_title))
    uow.audit("application.drafted", f"applications/{app.id}", {"call_id": call.id})
    return app


async def own_application(
    uow: UnitOfWork, principal: Principal, application_id: str, *, lock: bool = False
) -> Application:
    app = await uow.session.get(Application, application_id, with_for_update=lock or None)
    if app is None or principal.role != "org" or principal.org_id != app.org_id:
        raise NotFound(f"application {application_id} not found")
    return app


async def update_draft(
    uow: UnitOfWork, *, app: Application, body: ApplicationUpdate, cipher: FieldCipher
) -> Application:
    rules.require_status(app.status, ("draft",), "amend")
    _apply(app, body, cipher)
    app.version += 1
    app.updated_at = uow.now
    uow.audit("application.amended", f"applications/{app.id}", {"fields": sorted(body.model_fields_set)})
    return app


async def visible_application(uow: UnitOfWork, principal: Principal, application_id: str) -> Application:
    """The applicant, the call's region's officers and finance, and assigned reviewers see it."""
    app = await uow.session.get(Application, application_id)
    if app is None:
        raise NotFound(f"application {application_id} not found")
    if principal.role == "org":
        if principal.org_id != app.org_id:
            raise NotFound(f"application {application_id} not found")
        return app
    if principal.role == "evaluator":
        assigned = (
            await uow.conn.execute(
                select(ASSIGNMENTS.c.id).where(
                    ASSIGNMENTS.c.application_id == app.id, ASSIGNMENTS.c.reviewer_sub == principal.sub
                )
            )
        ).first()
        if assigned is None or app.status == "draft":
            raise NotFound(f"application {application_id} not found")
        return app
    call = await uow.session.get(Call, app.call_id)
    if call is None or not sees_region(principal, call.region_code) or app.status == "draft":
        raise NotFound(f"application {application_id} not found")
    return app


async def withdraw(uow: UnitOfWork, *, principal: Principal, application_id: str) -> Application:
    app = await own_application(uow, principal, application_id, lock=True)
    if app.status == "withdrawn":
        return app
    rules.require_status(app.status, ("draft", "submitted"), "withdraw")
    app.status = "withdrawn"
    app.withdrawn_at = uow.now
    app.version += 1
    app.updated_at = uow.now
    if events.announced(app):  # an application never announced is withdrawn without a word
        uow.stage(events.application_event("withdrawn", app.model_dump(), withdrawn_at=events.instant(uow.now)))
    uow.audit("application.withdrawn", f"applications/{app.id}")
    return app


async def eligibility(uow: UnitOfWork, *, app: Application) -> EligibilityPublic:
    """Submitted: the latest screening. Draft: what a submission now would be told (not stored)."""
    if app.status != "draft" and app.screening_id:
        row = (await uow.conn.execute(select(SCREENINGS).where(SCREENINGS.c.id == app.screening_id))).first()
        assert row is not None
        s = row._mapping
        return EligibilityPublic(
            application_id=app.id,
            eligible=s["eligible"],
            reasons=[ReasonPublic(**r) for r in s["reasons"]],
            warnings=[ReasonPublic(**w) for w in s["warnings"]],
            on=s["on_date"],
            screened_at=s["screened_at"],
            rescreen=s["rescreen"],
            rule_set=s["rule_set"],
            preview=False,
        )
    call = await uow.session.get(Call, app.call_id)
    assert call is not None
    standing = await read_standing(uow, app.org_id)
    today = local_date(uow.now)
    rule_set = {"id": f"call:{call.id}", "version": call.rules_version}
    if app.status != "draft" or not knows_registry(standing):
        pending = [ReasonPublic(**w) for w in app.warnings]
        return EligibilityPublic(
            application_id=app.id,
            eligible=None,
            reasons=[],
            warnings=pending,
            on=today,
            screened_at=None,
            rescreen=False,
            rule_set=rule_set,
            preview=app.status == "draft",
        )
    assert standing is not None
    others = (
        await uow.conn.execute(
            select(APPLICATIONS.c.id).where(
                APPLICATIONS.c.org_id == app.org_id,
                APPLICATIONS.c.call_id == app.call_id,
                APPLICATIONS.c.status.in_(("submitted", "awarded")),
            )
        )
    ).all()
    answer = screen(
        rules_from(call.eligibility, call.call_type),
        standing["doc"],
        on=today,
        call_region=call.region_code,
        within=within,
        other_applications=len(others),
    )
    return EligibilityPublic(
        application_id=app.id,
        eligible=answer.eligible,
        reasons=[ReasonPublic(**r.as_dict()) for r in answer.reasons],
        warnings=[],
        on=today,
        screened_at=None,
        rescreen=False,
        rule_set=rule_set,
        preview=True,
    )


async def list_applications(
    uow: UnitOfWork, *, principal: Principal, call_id: str | None, status: str | None, cursor: str | None, limit: int
) -> Page[ApplicationPublic]:
    stmt = select(APPLICATIONS)
    if principal.role == "org":
        stmt = stmt.where(APPLICATIONS.c.org_id == principal.org_id)
    else:
        if call_id is None:
            raise Forbidden("officers list the applications of one call: pass call_id")
        call = await uow.session.get(Call, call_id)
        if call is None or not sees_region(principal, call.region_code):
            raise NotFound(f"call {call_id} not found")
        stmt = stmt.where(APPLICATIONS.c.status != "draft")
    if call_id:
        stmt = stmt.where(APPLICATIONS.c.call_id == call_id)
    if status:
        stmt = stmt.where(APPLICATIONS.c.status == status)
    after = Cursor.decode(cursor)
    if after:
        stmt = stmt.where(APPLICATIONS.c.id > str(after[0]))
    rows = [dict(r._mapping) for r in (await uow.conn.execute(stmt.order_by(APPLICATIONS.c.id).limit(limit + 1))).all()]
    page = rows[:limit]
    return Page(
        items=[application_public(r) for r in page],
        next_cursor=Cursor.encode([page[-1]["id"]]) if len(rows) > limit else None,
    )


def application_public(row: Application | dict[str, Any]) -> ApplicationPublic:
    a = row.model_dump() if isinstance(row, Application) else row
    requested = a.get("requested_fen")
    payee = None
    if a.get("payee_account_name"):
        payee = PayeePublic(
            account_name=a["payee_account_name"],
            bank_name=a.get("payee_bank_name"),
            account_number_masked=f"****{a.get('payee_account_last4') or ''}",
        )
    eligibility_view = None
    if "_eligibility" in a:
        e = a["_eligibility"]
        eligibility_view = EligibilityPublic(
            application_id=a["id"],
            eligible=e["eligible"],
            reasons=[ReasonPublic(**r) for r in e["reasons"]],
            warnings=[ReasonPublic(**w) for w in a.get("warnings") or []],
            on=e["on"],
            screened_at=e["screened_at"],
            rescreen=False,
            rule_set=e["rule_set"],
            preview=False,
        )
    return ApplicationPublic(
        id=a["id"],
        call_id=a["call_id"],
        org_id=a["org_id"],
        organization=a["organization"],
        status=a["status"],
        version=a["version"],
        project_title=a["project_title"],
        summary=a.get("summary") or "",
        period_start=a.get("period_start"),
        period_end=a.get("period_end"),
        requested=Money.of_fen(requested) if requested is not None else None,
        project_budget=Money.of_fen(a.get("project_budget_fen") or 0),
        self_raised=Money.of_fen((a.get("project_budget_fen") or 0) - (requested or 0)),
        personnel=Money.of_fen(a.get("personnel_fen") or 0),
        budget_lines=[
            {"category": b["category"], "amount": money(b["amount_fen"]), "description": b.get("description")}
            for b in a.get("budget_lines") or []
        ],
        prior_funding=[
            {
                **{k: v for k, v in p.items() if k != "amount_fen"},
                "amount": money(p["amount_fen"]) if p.get("amount_fen") is not None else None,
            }
            for p in a.get("prior_funding") or []
        ],
        payee=payee,
        created_at=a["created_at"],
        submitted_at=a.get("submitted_at"),
        withdrawn_at=a.get("withdrawn_at"),
        eligible=a.get("eligible"),
        eligibility=eligibility_view,
        warnings=[ReasonPublic(**w) for w in a.get("warnings") or []],
        review_score=_score(a["review_score"]) if a.get("review_score") is not None else None,
        reviews=a.get("reviews_count") or 0,
        roadshow_score=_score(a["roadshow_score"]) if a.get("roadshow_score") is not None else None,
        rank=a.get("rank"),
    )
