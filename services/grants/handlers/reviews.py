"""Expert review: the call's reviewer pool, assignment without conflicts, scores, roadshow, ranking."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from services.grants import events
from services.grants.domain import DomainError
from services.grants.domain import review as domain
from services.grants.domain.calls import Criterion
from services.grants.domain.money import score_text
from services.grants.handlers.common import load, new_id, require_officer
from services.grants.models import Application, Award, Call, ReviewAssignment, Reviewer
from services.grants.models.io_applications import ReviewIn, ReviewPublic
from services.grants.models.io_calls import RankingEntry, RankingPublic, ReviewerPublic, ReviewersIn
from shared.auth import Principal
from shared.http import Money
from shared.problems import Forbidden, NotFound
from shared.uow import UnitOfWork

RANKABLE = ("submitted", "awarded")


def parse_score(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def _rubric(call: Call) -> list[Criterion]:
    return [Criterion(c["code"], c["title"], int(c["weight_bp"])) for c in call.rubric]


async def _review_call(uow: UnitOfWork, principal: Principal, call_id: str, *, lock: bool = False) -> Call:
    call = await load(uow, Call, call_id, lock=lock, what="call")
    if call.status == "draft" and not principal.can_act_on_region(call.region_code):
        raise NotFound(f"call {call_id} not found")
    require_officer(principal, call.region_code)
    if call.call_type == "award_subsidy":
        raise DomainError("call.no_review", "award subsidies are not reviewed", kind="conflict")
    return call


async def add_reviewers(
    uow: UnitOfWork, *, principal: Principal, call_id: str, body: ReviewersIn
) -> list[ReviewerPublic]:
    call = await _review_call(uow, principal, call_id)
    for item in body.reviewers:
        existing = await uow.session.get(Reviewer, (call.id, item.sub))
        if existing is None:
            uow.session.add(
                Reviewer(
                    call_id=call.id,
                    reviewer_sub=item.sub,
                    agency_id=item.agency_id,
                    conflicts=sorted(set(item.conflicts)),
                    added_by=principal.sub,
                    added_at=uow.now,
                )
            )
        else:
            existing.conflicts = sorted(set(existing.conflicts) | set(item.conflicts))
            existing.agency_id = item.agency_id or existing.agency_id
    uow.audit("review.pool_updated", f"calls/{call.id}", {"reviewers": [r.sub for r in body.reviewers]})
    await uow.session.flush()
    return await list_reviewers(uow, call_id=call.id)


async def list_reviewers(uow: UnitOfWork, *, call_id: str) -> list[ReviewerPublic]:
    rows = (await uow.session.exec(select(Reviewer).where(Reviewer.call_id == call_id))).all()
    return [ReviewerPublic(sub=r.reviewer_sub, agency_id=r.agency_id, conflicts=r.conflicts) for r in rows]


async def _assignments(uow: UnitOfWork, call_id: str) -> list[ReviewAssignment]:
    stmt = select(ReviewAssignment).where(ReviewAssignment.call_id == call_id)
    return list((await uow.session.exec(stmt)).all())


async def assign_reviewers(
    uow: UnitOfWork, *, principal: Principal, call_id: str, per_application: int | None
) -> dict[str, Any]:
    call = await _review_call(uow, principal, call_id, lock=True)
    if uow.now < call.closes_at:
        raise DomainError("review.call_open", "reviewers are assigned after the call closes", kind="conflict")
    n = per_application or call.reviewers_per_application
    pool = [
        domain.Reviewer(r.reviewer_sub, frozenset(r.conflicts))
        for r in (await uow.session.exec(select(Reviewer).where(Reviewer.call_id == call.id))).all()
    ]
    apps = (
        await uow.session.exec(
            select(Application)
            .where(
                Application.call_id == call.id,
                col(Application.status).in_(RANKABLE),
                col(Application.eligible).is_(True),
            )
            .order_by(Application.id)
        )
    ).all()
    existing: dict[str, set[str]] = {}
    excluded: dict[str, set[str]] = {}
    for a in await _assignments(uow, call.id):
        (excluded if a.status == "excluded" else existing).setdefault(a.application_id, set()).add(a.reviewer_sub)
    pairs, short = domain.assign(pool, [domain.Candidate(a.id, a.org_id) for a in apps], n, existing, excluded)
    for application_id, sub in pairs:
        uow.session.add(
            ReviewAssignment(
                id=new_id(), application_id=application_id, call_id=call.id, reviewer_sub=sub, assigned_at=uow.now
            )
        )
    uow.audit("review.assigned", f"calls/{call.id}", {"assignments": len(pairs), "short": short, "per_application": n})
    return {
        "call_id": call.id,
        "assigned": [{"application_id": a, "reviewer_sub": s} for a, s in pairs],
        "short": short,
    }


async def _my_assignment(uow: UnitOfWork, principal: Principal, application_id: str) -> ReviewAssignment:
    if principal.role != "evaluator":
        raise Forbidden("reviews are written by the call's reviewers (evaluator tokens)")
    stmt = (
        select(ReviewAssignment)
        .where(ReviewAssignment.application_id == application_id, ReviewAssignment.reviewer_sub == principal.sub)
        .with_for_update()
    )
    row = (await uow.session.exec(stmt)).first()
    if row is None:
        raise NotFound(f"application {application_id} not found")
    return row


async def declare_conflict(
    uow: UnitOfWork, *, principal: Principal, application_id: str, reason: str
) -> dict[str, Any]:
    """The reviewer is excluded, the tie is remembered in the pool, a replacement is assigned."""
    mine = await _my_assignment(uow, principal, application_id)
    app = await load(uow, Application, application_id, what="application")
    if mine.status == "excluded":
        return {"application_id": application_id, "excluded": principal.sub, "replacement": None}
    mine.status, mine.conflict_reason, mine.scores, mine.total = "excluded", reason, {}, None
    mine.version += 1
    member = await uow.session.get(Reviewer, (app.call_id, principal.sub))
    if member is not None:
        member.conflicts = sorted({*member.conflicts, app.org_id})
    call = await load(uow, Call, app.call_id, what="call")
    pool = [
        domain.Reviewer(r.reviewer_sub, frozenset(r.conflicts))
        for r in (await uow.session.exec(select(Reviewer).where(Reviewer.call_id == call.id))).all()
    ]
    existing: dict[str, set[str]] = {}
    excluded: dict[str, set[str]] = {app.id: {principal.sub}}
    for a in await _assignments(uow, call.id):
        if a.id != mine.id:
            (excluded if a.status == "excluded" else existing).setdefault(a.application_id, set()).add(a.reviewer_sub)
    pairs, _ = domain.assign(
        pool, [domain.Candidate(app.id, app.org_id)], call.reviewers_per_application, existing, excluded
    )
    replacement = None
    for application_id_, sub in pairs:
        replacement = sub
        uow.session.add(
            ReviewAssignment(
                id=new_id(), application_id=application_id_, call_id=call.id, reviewer_sub=sub, assigned_at=uow.now
            )
        )
    uow.audit(
        "review.conflict_declared", f"applications/{app.id}", {"reviewer": principal.sub, "replacement": replacement}
    )
    await uow.session.flush()
    await _maybe_reviewed(uow, app, call)
    return {"application_id": app.id, "excluded": principal.sub, "replacement": replacement}


async def put_review(uow: UnitOfWork, *, principal: Principal, application_id: str, body: ReviewIn) -> ReviewAssignment:
    mine = await _my_assignment(uow, principal, application_id)
    if mine.status == "excluded":
        raise DomainError("review.excluded", "you declared a conflict on this application", kind="conflict")
    if mine.status == "submitted":
        raise DomainError("review.submitted", "the review is submitted and can no longer change", kind="conflict")
    app = await load(uow, Application, application_id, what="application")
    call = await load(uow, Call, app.call_id, what="call")
    scores = {code: parse_score(value) for code, value in body.scores.items()}
    rubric = _rubric(call)
    unknown = sorted(set(scores) - {c.code for c in rubric})
    if unknown:
        raise DomainError("review.unknown_criterion", f"not in the call's rubric: {', '.join(unknown)}")
    mine.scores, mine.comment = scores, body.comment
    mine.version += 1
    if body.submit:
        mine.total = domain.reviewer_total(rubric, scores)
        mine.status, mine.submitted_at = "submitted", uow.now
        uow.audit("review.submitted", f"applications/{app.id}", {"reviewer": principal.sub, "total": mine.total})
        await uow.session.flush()
        await _maybe_reviewed(uow, app, call)
    return mine


async def _maybe_reviewed(uow: UnitOfWork, app: Application, call: Call) -> None:
    """When every assigned, non-excluded reviewer has submitted: the application's review score."""
    live = [a for a in await _assignments(uow, call.id) if a.application_id == app.id and a.status != "excluded"]
    if not live or any(a.status != "submitted" for a in live):
        return
    score = domain.review_score([a.total or 0 for a in live])
    if app.review_score == score and app.reviews_count == len(live):
        return
    app.review_score, app.reviews_count = score, len(live)
    app.version += 1
    uow.stage(events.application_event("reviewed", app.model_dump(), score=score_text(score), reviews=len(live)))


def review_public(a: ReviewAssignment) -> ReviewPublic:
    return ReviewPublic(
        application_id=a.application_id,
        reviewer_sub=a.reviewer_sub,
        status=a.status,
        scores={k: score_text(v) for k, v in a.scores.items()},
        total=score_text(a.total) if a.total is not None else None,
        comment=a.comment,
        version=a.version,
        submitted_at=a.submitted_at,
    )


async def list_reviews(uow: UnitOfWork, *, principal: Principal, application_id: str) -> list[ReviewPublic]:
    app = await load(uow, Application, application_id, what="application")
    await _review_call(uow, principal, app.call_id)
    stmt = select(ReviewAssignment).where(ReviewAssignment.application_id == app.id)
    return [review_public(a) for a in (await uow.session.exec(stmt)).all()]


async def set_roadshow(uow: UnitOfWork, *, principal: Principal, application_id: str, score: str) -> Application:
    app = await load(uow, Application, application_id, lock=True, what="application")
    call = await _review_call(uow, principal, app.call_id)
    if not call.roadshow_weight_bp:
        raise DomainError("review.no_roadshow", "this call has no roadshow score", kind="conflict")
    app.roadshow_score = parse_score(score)
    app.version += 1
    uow.audit("review.roadshow_scored", f"applications/{app.id}", {"score": app.roadshow_score})
    return app


async def ranking(uow: UnitOfWork, *, principal: Principal, call_id: str) -> RankingPublic:
    call = await _review_call(uow, principal, call_id)
    apps = (
        await uow.session.exec(
            select(Application).where(
                Application.call_id == call.id,
                col(Application.status).in_(RANKABLE),
                col(Application.eligible).is_(True),
            )
        )
    ).all()
    awarded = set(
        (
            await uow.session.exec(
                select(Award.application_id).where(Award.call_id == call.id, Award.status != "cancelled")
            )
        ).all()
    )
    entries, incomplete, by_id = [], [], {}
    for a in apps:
        if a.review_score is None:
            incomplete.append(a.id)
            continue
        by_id[a.id] = a
        final = domain.final_score(a.review_score, a.roadshow_score, call.roadshow_weight_bp)
        entries.append(domain.Ranked(a.id, final, a.requested_fen or 0, a.submitted_at or uow.now, a.roadshow_score))
    items = []
    for rank, e in domain.rank(entries, call.tie_break):
        a = by_id[e.application_id]
        items.append(
            RankingEntry(
                rank=rank,
                application_id=a.id,
                org_id=a.org_id,
                organization=a.organization,
                project_title=a.project_title,
                requested=Money.of_fen(a.requested_fen) if a.requested_fen is not None else None,
                review_score=score_text(a.review_score) if a.review_score is not None else None,
                reviews=a.reviews_count,
                roadshow_score=score_text(a.roadshow_score) if a.roadshow_score is not None else None,
                score=score_text(e.score),
                awarded=a.id in awarded,
            )
        )
    return RankingPublic(
        call_id=call.id, tie_break=call.tie_break, frozen_at=call.ranked_at, items=items, incomplete=sorted(incomplete)
    )


async def freeze_ranking(uow: UnitOfWork, *, principal: Principal, call_id: str) -> RankingPublic:
    """Record each application's rank (the order reserves are offered in) and announce it."""
    result = await ranking(uow, principal=principal, call_id=call_id)
    call = await load(uow, Call, call_id, lock=True, what="call")
    if result.incomplete:
        raise DomainError(
            "review.incomplete",
            f"{len(result.incomplete)} eligible application(s) still lack their reviews",
            kind="conflict",
        )
    for item in result.items:
        app = await load(uow, Application, item.application_id, what="application")
        if app.rank != item.rank:
            app.rank = item.rank
            app.version += 1
        uow.stage(events.application_event("ranked", app.model_dump(), rank=item.rank, score=item.score))
    call.ranked_at = uow.now
    call.version += 1
    uow.audit("review.ranking_frozen", f"calls/{call.id}", {"ranked": len(result.items), "tie_break": call.tie_break})
    result.frozen_at = uow.now
    return result
