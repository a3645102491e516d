"""Aggregation (DOMAIN.md §2): mean per leaf and total, spread, outliers, proposed grade.

Reads the submitted sheets of the evaluators still assigned (a recused evaluator's sheet never
counts); `propose_round` aggregates a whole round at once — two queries for all its sheets, one
executemany for all its evaluations — and stages one `proposed` event per evaluation.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, select, update

from services.evaluation import events
from services.evaluation.domain.points import fmt
from services.evaluation.domain.scoring import Aggregate, Sheet, aggregate
from services.evaluation.handlers.context import Context
from services.evaluation.handlers.scoring import AS, EV, SH, documents_of
from shared.uow import UnitOfWork


async def sheets_by_evaluation(uow: UnitOfWork, evaluation_ids: list[str]) -> dict[str, tuple[int, list[Sheet]]]:
    """Per evaluation: how many evaluators are assigned (not recused) and the sheets they submitted."""
    out: dict[str, tuple[int, list[Sheet]]] = {eid: (0, []) for eid in evaluation_ids}
    assigned: dict[str, set[str]] = {eid: set() for eid in evaluation_ids}
    for chunk in range(0, len(evaluation_ids), 500):
        ids = evaluation_ids[chunk : chunk + 500]
        for row in await uow.conn.execute(
            select(AS.c.evaluation_id, AS.c.evaluator_sub).where(AS.c.evaluation_id.in_(ids), AS.c.status == "assigned")
        ):
            assigned[row.evaluation_id].add(row.evaluator_sub)
        rows = await uow.conn.execute(
            select(SH.c.evaluation_id, SH.c.evaluator_sub, SH.c.scores, SH.c.total)
            .select_from(
                SH.join(AS, and_(AS.c.evaluation_id == SH.c.evaluation_id, AS.c.evaluator_sub == SH.c.evaluator_sub))
            )
            .where(SH.c.evaluation_id.in_(ids), SH.c.status == "submitted", AS.c.status == "assigned")
        )
        for row in rows:
            out[row.evaluation_id][1].append(Sheet(row.evaluator_sub, row.scores, row.total))
    return {eid: (len(assigned[eid]), sheets) for eid, (_, sheets) in out.items()}


def public_aggregate(agg: Aggregate) -> dict[str, Any]:
    return {
        "total": fmt(agg.total),
        "spread": fmt(agg.spread),
        "outliers": list(agg.outliers),
        "evaluators": agg.evaluators,
        "totals": {sub: fmt(t) for sub, t in sorted(agg.totals.items())},
        "leaves": {code: {"mean": fmt(a.mean), "spread": fmt(a.spread)} for code, a in sorted(agg.leaves.items())},
        "proposed_grade": agg.proposed_grade,
    }


async def aggregate_one(ctx: Context, uow: UnitOfWork, ev: Any) -> tuple[Aggregate | None, int, int]:
    assigned, sheets = (await sheets_by_evaluation(uow, [ev.id]))[ev.id]
    if not sheets:
        return None, assigned, 0
    _, _, bands = await documents_of(ctx, uow, ev)
    return aggregate(sheets, max_spread=ev.max_spread, bands=bands), assigned, len(sheets)


async def propose_round(ctx: Context, uow: UnitOfWork, round_id: str, only: str | None = None) -> dict[str, Any]:
    """Aggregate every evaluation of the round whose assigned evaluators have all submitted; propose grades."""
    stmt = select(EV).where(EV.c.round_id == round_id, EV.c.status == "applied")
    if only is not None:
        stmt = stmt.where(EV.c.id == only)
    evs = (await uow.conn.execute(stmt.with_for_update())).all()
    by_id = await sheets_by_evaluation(uow, [e.id for e in evs])
    updates: list[dict[str, Any]] = []
    incomplete = []
    for ev in evs:
        assigned, sheets = by_id[ev.id]
        if assigned == 0 or len(sheets) < assigned:
            incomplete.append({"evaluation_id": ev.id, "assigned": assigned, "submitted": len(sheets)})
            continue
        _, _, bands = await documents_of(ctx, uow, ev)
        agg = aggregate(sheets, max_spread=ev.max_spread, bands=bands)
        updates.append(
            {
                "b_id": ev.id,
                "total": agg.total,
                "spread": agg.spread,
                "outliers": list(agg.outliers),
                "proposed_grade": agg.proposed_grade,
                "status": "proposed",
                "updated_at": uow.now,
                "version": ev.version + 1,
            }
        )
        uow.stage(
            events.rating_event(
                "proposed",
                org_id=ev.org_id,
                organization=ev.organization,
                region_code=ev.region_code,
                evaluation_id=ev.id,
                round_id=ev.round_id,
                proposed_grade=agg.proposed_grade,
                total=fmt(agg.total),
                spread=fmt(agg.spread),
                outliers=list(agg.outliers),
            )
        )
        uow.audit(
            "evaluation.proposed",
            f"evaluations/{ev.id}",
            {
                "total": fmt(agg.total),
                "spread": fmt(agg.spread),
                "outliers": list(agg.outliers),
                "proposed_grade": agg.proposed_grade,
                "totals": {s: fmt(t) for s, t in agg.totals.items()},
                "band_table": [ev.band_table_id, ev.band_table_version],
            },
        )
    if updates:
        await uow.conn.execute(
            update(EV)
            .where(EV.c.id == bindparam("b_id"))
            .values(
                total=bindparam("total"),
                spread=bindparam("spread"),
                outliers=bindparam("outliers"),
                proposed_grade=bindparam("proposed_grade"),
                status=bindparam("status"),
                updated_at=bindparam("updated_at"),
                version=bindparam("version"),
            ),
            updates,
        )
    return {"proposed": len(updates), "incomplete": incomplete}
