"""Annual inspections / reports, penalties and investigations: facts with dates that listings,
rating exclusions and downgrades depend on."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import uuid6
from sqlalchemy import and_, func, insert
from sqlmodel import select

from services.registry import events
from services.registry.domain import credit as credit_rules
from services.registry.domain import organizations as rules
from services.registry.domain.codes import Finding
from services.registry.handlers.common import refuse_findings, refuse_if_closed, today, touch
from services.registry.models import AnnualReport, Investigation, Organization, Penalty, io
from shared.auth import Principal
from shared.http import Money
from shared.problems import Conflict, NotFound
from shared.scheduler import SHANGHAI
from shared.uow import UnitOfWork

LIST_NAMES = {"serious": "严重违法失信名单", "irregular": "活动异常名录"}
RESULTS_ZH = {
    "qualified": "合格",
    "basically_qualified": "基本合格",
    "unqualified": "不合格",
    "not_inspected": "未参检",
}


def report_public(row: AnnualReport, kind: str) -> io.AnnualReportPublic:
    return io.AnnualReportPublic(
        org_id=row.org_id,
        year=row.year,
        result=row.result,  # type: ignore[arg-type]
        report_status=row.report_status,  # type: ignore[arg-type]
        effective_on=row.effective_on,
        source=row.source,
        deadline=rules.annual_report_deadline(kind, direct=True, year=row.year),
    )


async def record_annual_report(
    uow: UnitOfWork, *, principal: Principal, org: Organization, body: io.AnnualReportCreate, source: str = "officer"
) -> io.AnnualReportPublic:
    refuse_if_closed(principal, org)
    day = today(uow)
    effective_on = body.effective_on or day
    findings: list[Finding] = []
    started = org.registered_on or org.filed_on
    if started is not None and body.year < started.year:
        findings.append(Finding("year", "annual_report.before_registration", f"{body.year} 年早于成立登记年份"))
    if body.year >= day.year:
        findings.append(Finding("year", "annual_report.year_not_over", f"{body.year} 年度尚未结束"))
    if effective_on > day:
        findings.append(Finding("effective_on", "date.future", "日期不能晚于今天"))
    refuse_findings(findings)
    existing = (
        await uow.session.exec(
            select(AnnualReport).where(AnnualReport.org_id == org.id, AnnualReport.year == body.year)
        )
    ).first()
    if existing is not None and existing.source != "deadline_job":
        raise Conflict(
            f"{body.year} 年度结果已记录为 {RESULTS_ZH.get(existing.result, existing.result)}",
            code="annual_report.already_recorded",
            rule="annual_report.already_recorded",
        )
    report_status = body.report_status
    if report_status is None:
        deadline = rules.annual_report_deadline(org.kind, direct=True, year=body.year)
        if body.result != "not_inspected" and deadline is not None:
            report_status = "on_time" if effective_on <= deadline else "late"
    row = existing or AnnualReport(
        org_id=org.id, year=body.year, result=body.result, effective_on=effective_on, source=source, recorded_at=uow.now
    )
    row.result, row.report_status, row.effective_on, row.source, row.recorded_at = (
        body.result,
        report_status,
        effective_on,
        source,
        uow.now,
    )
    uow.session.add(row)
    touch(org, uow)
    uow.session.add(org)
    uow.stage(
        events.organization_event(
            org,
            "annual_report_recorded",
            year=body.year,
            result=body.result,
            report_status=report_status,
            effective_on=effective_on,
        )
    )
    uow.audit("annual_report.recorded", f"organizations/{org.id}", {"year": body.year, "result": body.result})
    return report_public(row, org.kind)


async def list_annual_reports(uow: UnitOfWork, org: Organization) -> list[io.AnnualReportPublic]:
    rows = (
        await uow.session.exec(select(AnnualReport).where(AnnualReport.org_id == org.id).order_by(AnnualReport.year))
    ).all()
    return [report_public(r, org.kind) for r in rows]


async def sweep_missed_annual_reports(uow: UnitOfWork, key: str, due_at: datetime) -> None:
    """After the registry's deadline for year Y: every active organization of that kind registered
    before the end of Y that has no result for Y is recorded 未报送 / 未参检 (`not_filed`), once; an
    officer can still record the real result later (it replaces this one). Schedules next year's."""
    year_text, _, kind = key.partition(":")
    year = int(year_text)
    deadline = rules.annual_report_deadline(kind, direct=True, year=year)
    if deadline is None:
        return
    reports = AnnualReport.__table__  # type: ignore[attr-defined]
    orgs = Organization.__table__  # type: ignore[attr-defined]
    started = func.coalesce(orgs.c.registered_on, orgs.c.filed_on)
    missing = (
        select(orgs.c.id)
        .outerjoin(reports, and_(reports.c.org_id == orgs.c.id, reports.c.year == year))
        .where(orgs.c.kind == kind, orgs.c.status == "active", started <= date(year, 12, 31), reports.c.id.is_(None))
    )
    ids = list((await uow.conn.execute(missing)).scalars().all())
    effective_on = deadline + timedelta(days=1)
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        await uow.conn.execute(
            insert(reports),
            [
                {
                    "org_id": i,
                    "year": year,
                    "result": "not_inspected",
                    "report_status": "not_filed",
                    "effective_on": effective_on,
                    "source": "deadline_job",
                    "recorded_at": uow.now,
                }
                for i in chunk
            ],
        )
        for org in (await uow.session.exec(select(Organization).where(Organization.id.in_(chunk)))).all():  # type: ignore[attr-defined]
            uow.stage(
                events.organization_event(
                    org,
                    "annual_report_recorded",
                    year=year,
                    result="not_inspected",
                    report_status="not_filed",
                    effective_on=effective_on,
                )
            )
    uow.audit(
        "annual_report.deadline_swept",
        f"annual-reports/{year}/{kind}",
        {"missed": len(ids), "deadline": deadline.isoformat()},
    )
    next_deadline = rules.annual_report_deadline(kind, direct=True, year=year + 1)
    assert next_deadline is not None
    uow.schedule(
        "registry.annual_report_deadline",
        f"{year + 1}:{kind}",
        datetime.combine(next_deadline + timedelta(days=1), time(1, 0), SHANGHAI),
    )


# -- penalties ----------------------------------------------------------------------------------


def penalty_public(row: Penalty, warnings: list[io.Finding] | None = None) -> io.PenaltyPublic:
    return io.PenaltyPublic(
        id=row.id,
        org_id=row.org_id,
        penalty_type=row.penalty_type,  # type: ignore[arg-type]
        fine=Money.of_fen(row.fine_fen) if row.fine_fen is not None else None,
        decided_on=row.decided_on,
        executed_on=row.executed_on,
        reason=row.reason,
        document_number=row.document_number,
        warnings=warnings or [],
    )


async def record_penalty(
    uow: UnitOfWork, *, principal: Principal, org: Organization, body: io.PenaltyCreate
) -> io.PenaltyPublic:
    refuse_if_closed(principal, org)
    day = today(uow)
    findings: list[Finding] = []
    if body.penalty_type == "fine" and (body.fine is None or body.fine.fen <= 0):
        findings.append(Finding("fine", "penalty.fine_required", "罚款须写明金额"))
    if body.penalty_type != "fine" and body.fine is not None:
        findings.append(Finding("fine", "penalty.fine_only", "只有罚款处罚填写金额"))
    if body.decided_on > day:
        findings.append(Finding("decided_on", "date.future", "决定日期不能晚于今天"))
    if body.executed_on is not None and (body.executed_on < body.decided_on or body.executed_on > day):
        findings.append(Finding("executed_on", "date.range", "执行日期应在决定日期与今天之间"))
    refuse_findings(findings)
    fine_fen = body.fine.fen if body.fine is not None else None
    three_years_ago = credit_rules.add_months(body.decided_on, -36)
    minor = (
        await uow.conn.execute(
            select(func.count())
            .select_from(Penalty.__table__)
            .where(  # type: ignore[attr-defined]
                Penalty.org_id == org.id,
                Penalty.decided_on >= three_years_ago,
                Penalty.penalty_type.in_(("warning", "fine")),  # type: ignore[attr-defined]
                func.coalesce(Penalty.fine_fen, 0) < credit_rules.MAJOR_FINE_FEN,
            )
        )
    ).scalar_one()
    is_minor = body.penalty_type == "warning" or (
        body.penalty_type == "fine" and (fine_fen or 0) < credit_rules.MAJOR_FINE_FEN
    )
    row = Penalty(
        id=str(uuid6.uuid7()),
        org_id=org.id,
        penalty_type=body.penalty_type,
        fine_fen=fine_fen,
        decided_on=body.decided_on,
        executed_on=body.executed_on,
        reason=body.reason.strip(),
        document_number=body.document_number,
        recorded_at=uow.now,
    )
    uow.session.add(row)
    touch(org, uow)
    uow.stage(
        events.organization_event(
            org,
            "penalty_recorded",
            penalty_id=row.id,
            penalty_type=row.penalty_type,
            fine=Money.of_fen(fine_fen).model_dump() if fine_fen is not None else None,
            decided_on=row.decided_on,
            executed_on=row.executed_on,
            effective_on=row.decided_on,
        )
    )
    uow.audit("penalty.recorded", f"organizations/{org.id}", {"penalty_id": row.id, "penalty_type": row.penalty_type})
    if body.penalty_type == "licence_revoked" and org.status == "active":
        # 吊销登记证书 ends the registration: the same fact as a revocation.
        on = body.executed_on or body.decided_on
        org.status, org.revoked_on, org.status_reason = "revoked", on, row.reason
        uow.stage(
            events.organization_event(
                org, "revoked", revoked_on=on, reason=row.reason, measure="licence_revoked", effective_on=on
            )
        )
        uow.audit("organization.revoked", f"organizations/{org.id}", {"on": on.isoformat(), "penalty_id": row.id})
    uow.session.add(org)
    triggers = credit_rules.penalty_triggers(body.penalty_type, fine_fen, int(minor) + (1 if is_minor else 0))
    warnings = [
        io.Finding(
            field="penalty_type",
            rule="credit_listing.trigger",
            message=f"可依据本处罚列入{LIST_NAMES[list_]}（{code}：{credit_rules.reason_text(list_, code)}）",
            basis=credit_rules.ORDER_60 + " " + credit_rules.REASONS[list_][code][1],
        )
        for list_, code in triggers
    ]
    return penalty_public(row, warnings)


async def list_penalties(uow: UnitOfWork, org_id: str) -> list[io.PenaltyPublic]:
    rows = (
        await uow.session.exec(select(Penalty).where(Penalty.org_id == org_id).order_by(Penalty.decided_on, Penalty.id))
    ).all()
    return [penalty_public(r) for r in rows]


# -- investigations -----------------------------------------------------------------------------


def investigation_public(row: Investigation) -> io.InvestigationPublic:
    return io.InvestigationPublic(
        id=row.id,
        org_id=row.org_id,
        opened_on=row.opened_on,
        closed_on=row.closed_on,
        reason=row.reason,
        outcome=row.outcome,
        version=row.version,
    )


async def open_investigation(
    uow: UnitOfWork, *, principal: Principal, org: Organization, body: io.InvestigationCreate
) -> io.InvestigationPublic:
    refuse_if_closed(principal, org)
    if body.opened_on > today(uow):
        refuse_findings([Finding("opened_on", "date.future", "立案日期不能晚于今天")])
    row = Investigation(id=str(uuid6.uuid7()), org_id=org.id, opened_on=body.opened_on, reason=body.reason.strip())
    uow.session.add(row)
    touch(org, uow)
    uow.session.add(org)
    uow.stage(
        events.organization_event(
            org, "investigation_opened", investigation_id=row.id, opened_on=row.opened_on, effective_on=row.opened_on
        )
    )
    uow.audit("investigation.opened", f"organizations/{org.id}", {"investigation_id": row.id})
    return investigation_public(row)


async def close_investigation(
    uow: UnitOfWork, *, principal: Principal, org: Organization, investigation_id: str, body: io.InvestigationClosure
) -> io.InvestigationPublic:
    row = await uow.session.get(Investigation, investigation_id, with_for_update=True)
    if row is None or row.org_id != org.id:
        raise NotFound(f"no investigation {investigation_id}")
    if row.closed_on is not None:
        raise Conflict(f"the investigation was closed on {row.closed_on.isoformat()}", code="investigation.closed")
    if body.closed_on < row.opened_on or body.closed_on > today(uow):
        refuse_findings([Finding("closed_on", "date.range", "结案日期应在立案日期与今天之间")])
    row.closed_on, row.outcome, row.version = body.closed_on, body.outcome.strip(), row.version + 1
    uow.session.add(row)
    touch(org, uow)
    uow.session.add(org)
    uow.stage(
        events.organization_event(
            org, "investigation_closed", investigation_id=row.id, closed_on=row.closed_on, effective_on=row.closed_on
        )
    )
    uow.audit("investigation.closed", f"organizations/{org.id}", {"investigation_id": row.id})
    return investigation_public(row)


async def list_investigations(uow: UnitOfWork, org_id: str) -> list[io.InvestigationPublic]:
    rows = (
        await uow.session.exec(
            select(Investigation).where(Investigation.org_id == org_id).order_by(Investigation.opened_on)
        )
    ).all()
    return [investigation_public(r) for r in rows]
