"""Submission: the hot path of a deadline rush (DEPENDENCIES.md: Core statements, not the ORM).

One read and one write per submission besides the outbox, the audit row and the idempotency key:
- PostgreSQL: the application (locked), its call, the organization's standing and its other
  applications in one prepared statement straight on the driver, and the application update plus
  the screening row in one statement (a data-modifying CTE);
- SQLite (embedded mode): the same reads and writes as portable SQLAlchemy Core statements.
The rules in between are the same pure functions either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import select, update

from services.grants import events
from services.grants.domain import applications as rules
from services.grants.domain.applications import BudgetLine, Caps, Funded
from services.grants.domain.calls import submission_window
from services.grants.domain.eligibility import Screening as Answer
from services.grants.domain.eligibility import screen
from services.grants.domain.money import money
from services.grants.handlers.calls import rules_from
from services.grants.handlers.common import new_id, within
from services.grants.handlers.standing import SCREENINGS, STANDINGS
from services.grants.models import Application, Call
from shared.auth import Principal
from shared.problems import NotFound, PreconditionFailed
from shared.uow import UnitOfWork
from shared.workdays import local_date

APPLICATIONS = Application.__table__  # type: ignore[attr-defined]
CALLS = Call.__table__  # type: ignore[attr-defined]
OPEN = ("submitted", "awarded")

_APP_COLUMNS = (
    "id",
    "call_id",
    "org_id",
    "status",
    "version",
    "organization",
    "region_code",
    "project_title",
    "summary",
    "period_start",
    "period_end",
    "requested_fen",
    "project_budget_fen",
    "personnel_fen",
    "budget_lines",
    "prior_funding",
    "payee_account_name",
    "payee_bank_name",
    "payee_account_last4",
    "created_at",
    "submitted_at",
    "withdrawn_at",
    "eligible",
    "warnings",
    "review_score",
    "reviews_count",
    "roadshow_score",
    "rank",
)
_CALL_COLUMNS = (
    "status",
    "call_type",
    "region_code",
    "opens_at",
    "closes_at",
    "min_award_fen",
    "max_award_fen",
    "max_grant_bp",
    "personnel_cap_bp",
    "eligibility",
    "rules_version",
)
_JSON_APP = {"organization", "budget_lines", "prior_funding", "warnings"}

_PG_READ = (
    "SELECT "
    + ", ".join(f"a.{c}" for c in _APP_COLUMNS)
    + ", "
    + ", ".join(f"c.{c} AS call_{c}" for c in _CALL_COLUMNS)
    + ", s.doc AS standing_doc, s.registry_sequence AS standing_sequence, "
    "(SELECT json_agg(json_build_object('id', o.id, 'call_id', o.call_id, 'project_title', o.project_title, "
    "'period_start', o.period_start, 'period_end', o.period_end)) FROM grants.applications o "
    "WHERE o.org_id = a.org_id AND o.status IN ('submitted', 'awarded') AND o.id <> a.id) AS others "
    "FROM grants.applications a JOIN grants.calls c ON c.id = a.call_id "
    "LEFT JOIN grants.standings s ON s.org_id = a.org_id WHERE a.id = $1 FOR UPDATE OF a"
)
_PG_WRITE = (
    "WITH u AS (UPDATE grants.applications SET status = 'submitted', submitted_at = $2, organization = $3, "
    "region_code = $4, warnings = $5, project_budget_fen = $6, personnel_fen = $7, version = $8, updated_at = $2, "
    "eligible = $9, screening_id = $10 WHERE id = $1) "
    "INSERT INTO grants.screenings (id, application_id, call_id, org_id, screened_at, on_date, eligible, reasons, "
    "warnings, snapshot, rule_set, rescreen) VALUES ($10, $1, $11, $12, $2, $13, $9, $14, $5, $15, $16, false)"
)


class StandingUnknown(Exception):
    """The organization was never seen: the caller fetches the registry's answer and retries."""

    def __init__(self, org_id: str) -> None:
        super().__init__(org_id)
        self.org_id = org_id


@dataclass
class Context:
    app: dict[str, Any]
    call: dict[str, Any]
    doc: dict[str, Any] | None
    others: list[dict[str, Any]]


async def _driver(uow: UnitOfWork) -> Any:
    fairy = await uow.conn.get_raw_connection()
    return fairy.driver_connection


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


async def _read_postgres(uow: UnitOfWork, application_id: str) -> Context | None:
    row = await (await _driver(uow)).fetchrow(_PG_READ, application_id)
    if row is None:
        return None
    app = {c: (_json(row[c]) if c in _JSON_APP else row[c]) for c in _APP_COLUMNS}
    call = {c: row[f"call_{c}"] for c in _CALL_COLUMNS}
    call["eligibility"] = _json(call["eligibility"])
    doc = _json(row["standing_doc"])
    others = [
        {**o, "period_start": _date(o["period_start"]), "period_end": _date(o["period_end"])}
        for o in (_json(row["others"]) or [])
    ]
    return Context(app, call, doc, others)


async def _read_portable(uow: UnitOfWork, application_id: str) -> Context | None:
    stmt = select(*(APPLICATIONS.c[c] for c in _APP_COLUMNS)).where(APPLICATIONS.c.id == application_id)
    row = (await uow.conn.execute(stmt.with_for_update())).first()
    if row is None:
        return None
    app = dict(row._mapping)
    call_row = (
        await uow.conn.execute(select(*(CALLS.c[c] for c in _CALL_COLUMNS)).where(CALLS.c.id == app["call_id"]))
    ).first()
    assert call_row is not None
    standing = (await uow.conn.execute(select(STANDINGS.c.doc).where(STANDINGS.c.org_id == app["org_id"]))).first()
    others = (
        await uow.conn.execute(
            select(
                APPLICATIONS.c.id,
                APPLICATIONS.c.call_id,
                APPLICATIONS.c.project_title,
                APPLICATIONS.c.period_start,
                APPLICATIONS.c.period_end,
            ).where(
                APPLICATIONS.c.org_id == app["org_id"], APPLICATIONS.c.status.in_(OPEN), APPLICATIONS.c.id != app["id"]
            )
        )
    ).all()
    doc = standing[0] if standing is not None else None
    return Context(app, dict(call_row._mapping), doc, [dict(o._mapping) for o in others])


def _text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    return date.fromisoformat(value) if isinstance(value, str) else None


def _known(doc: dict[str, Any] | None) -> bool:
    return doc is not None and doc.get("status") is not None


async def submit(uow: UnitOfWork, *, principal: Principal, application_id: str, version: int | None) -> dict[str, Any]:
    """Submit a draft: deadline to the second, caps, screening from the read model, two events.

    The receive instant is `uow.now`, read once (a retry after fetching an unknown organization's
    standing keeps it). Returns the application row as a dict, with its screening under `_eligibility`.
    """
    postgres = uow.dialect == "postgresql"
    ctx = await (_read_postgres if postgres else _read_portable)(uow, application_id)
    if ctx is None or principal.role != "org" or ctx.app["org_id"] != principal.org_id:
        raise NotFound(f"application {application_id} not found")
    app, call = ctx.app, ctx.call
    rules.require_status(app["status"], ("draft",), "submit")
    if version is not None and version != app["version"]:
        raise PreconditionFailed(f"the draft is at version {app['version']}; reload it and retry")
    received_at = uow.now
    submission_window(call["opens_at"], call["closes_at"], call["status"], received_at)
    rules.check_complete(app["project_title"], app["period_start"], app["period_end"])
    caps = Caps(call["min_award_fen"], call["max_award_fen"], call["max_grant_bp"], call["personnel_cap_bp"])
    lines = [BudgetLine(str(b["category"]), int(b["amount_fen"])) for b in app["budget_lines"]]
    totals = rules.check_money(caps, lines, app["requested_fen"])
    if not _known(ctx.doc):
        raise StandingUnknown(app["org_id"])
    assert ctx.doc is not None
    doc = ctx.doc
    on = local_date(received_at)
    rule_set = rules_from(call["eligibility"], call["call_type"])
    answer = screen(
        rule_set,
        doc,
        on=on,
        call_region=call["region_code"],
        within=within,
        other_applications=sum(1 for o in ctx.others if o["call_id"] == app["call_id"]),
    )
    warnings = []
    if rule_set.double_funding_check:
        warnings = rules.double_funding(
            app["project_title"],
            app["period_start"],
            app["period_end"],
            [
                Funded(o["project_title"], o["period_start"], o["period_end"], f"application {o['id']}")
                for o in ctx.others
            ],
            [
                Funded(p["project_title"], _date(p.get("period_start")), _date(p.get("period_end")), p["funder"])
                for p in app["prior_funding"]
            ],
        )
    screening_id = new_id()
    was_announced = events.announced(app)
    app.update(
        status="submitted",
        submitted_at=received_at,
        organization=doc.get("organization") or {"org_id": app["org_id"]},
        region_code=doc.get("region_code"),
        warnings=[w.as_dict() for w in warnings],
        project_budget_fen=totals.project_budget_fen,
        personnel_fen=totals.personnel_fen,
        version=app["version"] + 1,
        eligible=answer.eligible,
        screening_id=screening_id,
    )
    ref = {"id": f"call:{app['call_id']}", "version": call["rules_version"]}
    reasons = [r.as_dict() for r in answer.reasons]
    if postgres:
        await _write_postgres(uow, app, answer, reasons, ref, on, doc)
    else:
        await _write_portable(uow, app, answer, reasons, ref, on, doc)
    if not was_announced:  # drafted before grants knew the organization: announced now
        uow.stage(events.application_event("drafted", app, project_title=app["project_title"]))
    uow.stage(
        events.application_event(
            "submitted", app, submitted_at=events.instant(received_at), requested=money(totals.requested_fen)
        ),
        events.application_event(
            "screened",
            app,
            eligible=answer.eligible,
            reasons=reasons,
            warnings=app["warnings"],
            screened_at=events.instant(received_at),
            rescreen=False,
        ),
    )
    uow.audit(
        "application.submitted",
        f"applications/{app['id']}",
        {
            "call_id": app["call_id"],
            "screening_id": screening_id,
            "eligible": answer.eligible,
            "rules": [r.rule for r in answer.reasons],
            "rule_set": ref,
        },
    )
    app["_eligibility"] = {
        "eligible": answer.eligible,
        "reasons": reasons,
        "on": on,
        "screened_at": received_at,
        "rescreen": False,
        "rule_set": ref,
    }
    return app


async def _write_postgres(
    uow: UnitOfWork,
    app: dict[str, Any],
    answer: Answer,
    reasons: list[dict[str, str]],
    ref: dict[str, Any],
    on: date,
    doc: dict[str, Any],
) -> None:
    # SQLAlchemy's asyncpg dialect gives the driver a JSON codec: decoded objects out, text in.
    await (await _driver(uow)).execute(
        _PG_WRITE,
        app["id"],
        app["submitted_at"],
        _text(app["organization"]),
        app["region_code"],
        _text(app["warnings"]),
        app["project_budget_fen"],
        app["personnel_fen"],
        app["version"],
        answer.eligible,
        app["screening_id"],
        app["call_id"],
        app["org_id"],
        on,
        _text(reasons),
        _text(doc),
        _text(ref),
    )


async def _write_portable(
    uow: UnitOfWork,
    app: dict[str, Any],
    answer: Answer,
    reasons: list[dict[str, str]],
    ref: dict[str, Any],
    on: date,
    doc: dict[str, Any],
) -> None:
    now: datetime = app["submitted_at"]
    await uow.conn.execute(
        update(APPLICATIONS)
        .where(APPLICATIONS.c.id == app["id"])
        .values(
            status="submitted",
            submitted_at=now,
            organization=app["organization"],
            region_code=app["region_code"],
            warnings=app["warnings"],
            project_budget_fen=app["project_budget_fen"],
            personnel_fen=app["personnel_fen"],
            version=app["version"],
            updated_at=now,
            eligible=answer.eligible,
            screening_id=app["screening_id"],
        )
    )
    await uow.conn.execute(
        SCREENINGS.insert().values(
            id=app["screening_id"],
            application_id=app["id"],
            call_id=app["call_id"],
            org_id=app["org_id"],
            screened_at=now,
            on_date=on,
            eligible=answer.eligible,
            reasons=reasons,
            warnings=app["warnings"],
            snapshot=doc,
            rule_set=ref,
            rescreen=False,
        )
    )


async def submit_pending(uow: UnitOfWork, *, principal: Principal, application_id: str) -> dict[str, Any]:
    """Submission when the registry cannot tell who the organization is: accepted (the deadline is
    the applicant's, not the registry's) and screened as soon as its standing arrives. Called only
    after `submit` passed every check but the standing in the same unit of work."""
    stmt = select(*(APPLICATIONS.c[c] for c in _APP_COLUMNS)).where(APPLICATIONS.c.id == application_id)
    row = (await uow.conn.execute(stmt.with_for_update())).first()
    assert row is not None
    app = dict(row._mapping)
    warning = {
        "rule": "standing.unavailable",
        "basis": "ARCHITECTURE.md（注册登记信息暂不可得）",
        "detail": "the organization's standing is not known yet; it is screened as soon as the registry's "
        "record arrives",
    }
    app.update(status="submitted", submitted_at=uow.now, eligible=None, warnings=[warning], version=app["version"] + 1)
    await uow.conn.execute(
        update(APPLICATIONS)
        .where(APPLICATIONS.c.id == app["id"])
        .values(
            status="submitted", submitted_at=uow.now, warnings=[warning], version=app["version"], updated_at=uow.now
        )
    )
    if events.announced(app):
        requested = money(app["requested_fen"] or 0)
        uow.stage(events.application_event("submitted", app, submitted_at=events.instant(uow.now), requested=requested))
    # else `drafted` and `submitted` are published with the first screening, when the registry's
    # record arrives and the organization can be named (rescreen_open_applications)
    uow.audit("application.submitted", f"applications/{app['id']}", {"screening": "pending"})
    return app
