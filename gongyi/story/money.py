"""Chapters 5 and 6 (协议与拨付 · 中期评估): agreements are signed, the signing tranches released and
paid, the reference finance consumer books every entry; the evaluation service schedules the project
assessments; in October the mid-term assessment passes and the second tranche follows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gongyi.story.cast import FINANCE
from gongyi.story.context import Person, StoryError, shanghai, yuan
from gongyi.story.grants import AWARDS, officer_of

if TYPE_CHECKING:
    from gongyi.story import Story

ASSESSED = ("a_venture", "a_purchase")  # calls with an assessment template; the micro call has none
MIDTERM = ({"P1.1": "18", "P1.2": "17.5", "P2": "25", "P3": "15", "P4": "8"},  # 83.50
           {"P1.1": "18", "P1.2": "17.5", "P2": "26", "P3": "15", "P4": "8"})  # 84.50


async def sign_and_pay(s: Story) -> None:
    await s.begin("协议与拨付")
    r = s.result
    await s.clock.set(shanghai("2026-08-03 10:00"))
    for key, award in r.awards.items():
        officer, user = officer_of(AWARDS[key]), r.orgs[key[0]].user
        assert user is not None
        r.awards[key] = await s.api.post(f"/grants/v1/awards/{award['id']}/agreement", officer, {}, idempotent=True)
        tranches = await _tranches(s, award["id"])
        s.tell(officer.label, f"与{award['organization']['name']}签订资助协议（{r.awards[key]['signed_on']}）",
               *(_tranche_line(t) for t in tranches))
        s.expect_inbox(user, "grants.award.agreement_signed", f"awards/{award['id']}")
        s.expect_inbox(user, "grants.disbursement.released", f"disbursements/{tranches[0]['id']}")
        s.expect_inbox(user, "grants.disbursement.paid", f"disbursements/{tranches[0]['id']}")

    await s.clock.set(shanghai("2026-08-05 11:00"))
    for key, award in r.awards.items():
        first = (await _tranches(s, award["id"]))[0]
        await pay(s, first, f"GZCZ-2026-{key.upper()}-1")
    await books_balance(s)
    for key in ASSESSED:
        award = r.awards[key]

        async def scheduled(award_id: str = award["id"], officer: Person = officer_of(AWARDS[key])) -> Any:
            page = await s.api.get("/evaluation/v1/project-assessments", officer, params={"award_id": award_id})
            return page["items"] if len(page["items"]) == 2 else None

        for item in await s.api.eventually(scheduled, f"assessments of award {award['id']} to be scheduled"):
            r.assessments[f"{key}.{item['stage']}"] = item
            s.expect_inbox(r.orgs[key[0]].user, "evaluation.assessment.scheduled",  # type: ignore[arg-type]
                           f"awards/{award['id']}")
        midterm, final = r.assessments[key + ".midterm"], r.assessments[key + ".final"]
        s.tell("评估服务", f"根据资助协议为《{award['project_title']}》安排中期评估（{midterm['due_on']} 前）"
               f"与结项评估（{final['due_on']} 前）")


async def pay(s: Story, tranche: dict[str, Any], reference: str) -> dict[str, Any]:
    body = {"instruction_id": tranche["payment_instruction_id"], "status": "paid", "finance_reference": reference}
    paid = await s.api.post(f"/grants/v1/disbursements/{tranche['id']}/payments", FINANCE, body)
    s.tell(FINANCE.label, f"回传支付结果：第{tranche['tranche_no']}期 {yuan(tranche['amount'])} 已支付",
           f"支付指令 {tranche['payment_instruction_id']}，银行流水 {reference}")
    return dict(paid)


async def _tranches(s: Story, award_id: str) -> list[dict[str, Any]]:
    return list(await s.api.get(f"/grants/v1/awards/{award_id}/disbursements", FINANCE))


def _tranche_line(t: dict[str, Any]) -> str:
    share = f"{t['basis_points'] / 100:g}%"
    line = f"第{t['tranche_no']}期 {yuan(t['amount'])}（{share}，{_trigger(t['trigger'])}）：{t['status']}"
    if t["status"] == "released":
        line += f"，支付指令 {t['payment_instruction_id']}，应付日 {t['due_on']}"
    return line


def _trigger(trigger: str) -> str:
    return {"signing": "协议签订后", "midterm_passed": "中期评估通过后", "final_passed": "结项评估通过后"}[trigger]


async def ledger(s: Story) -> list[dict[str, Any]]:
    """`GET /grants/v1/ledger` entries of the story's calls (finance)."""
    entries: list[dict[str, Any]] = []
    for call in s.result.calls.values():
        cursor = None
        while True:
            params = {"call_id": call["id"], "limit": 200, **({"cursor": cursor} if cursor else {})}
            page = await s.api.get("/grants/v1/ledger", FINANCE, params=params)
            entries += page["items"]
            if not (cursor := page["next_cursor"]):
                break
    return sorted(entries, key=lambda e: e["entry_id"])


async def books_balance(s: Story) -> None:
    """Wait until the reference finance consumer booked every ledger entry, then show what it holds."""
    s.result.ledger = await ledger(s)
    if s.finance is None:
        return
    finance = s.finance
    wanted = {e["event_id"] for e in s.result.ledger}

    async def all_booked() -> list[dict[str, Any]] | None:
        booked = await finance.bookings()
        have = {b["event_id"] for b in booked}
        return booked if wanted <= have and not await finance.table("finance_held") else None

    booked = await s.api.eventually(all_booked, f"the finance consumer to book {len(wanted)} entries")
    mine = [b for b in booked if b["event_id"] in wanted]
    if len(mine) != len(wanted):
        raise StoryError(f"the finance consumer booked {len(mine)} entries for {len(wanted)} events")
    s.result.bookings = mine
    totals: dict[str, int] = {}
    for b in mine:
        totals[b["kind"]] = totals.get(b["kind"], 0) + int(b["amount_fen"])
    s.tell("财政记账系统（examples/finance_consumer.py）", f"已入账 {len(mine)} 笔，与 GET /grants/v1/ledger 逐笔一致",
           *(f"{kind}：{yuan(f'{fen // 100}.{fen % 100:02d}')}" for kind, fen in sorted(totals.items())))


async def midterm(s: Story) -> None:
    await s.begin("中期评估")
    r = s.result
    award = r.awards["a_venture"]
    assessment = r.assessments["a_venture.midterm"]
    officer, user = officer_of("venture"), r.orgs["a"].user
    assert user is not None
    await s.clock.set(shanghai("2026-10-20 09:00"))
    experts = r.experts[:2]
    for expert in experts:
        await s.api.post(f"/evaluation/v1/evaluations/{assessment['id']}/assignments", officer,
                         {"evaluator_id": s.evaluator_ids[expert.sub]}, idempotent=True)
        s.expect_inbox(expert, "evaluation.rating.assigned", f"organizations/{award['org_id']}")
    for expert, scores in zip(experts, MIDTERM, strict=True):
        sheet = await s.api.put(f"/evaluation/v1/evaluations/{assessment['id']}/scores", expert, {"scores": scores},
                                headers={"If-None-Match": "*"})
        await s.api.post(f"/evaluation/v1/evaluations/{assessment['id']}/submission", expert)
        s.tell(expert.label, f"中期评估《{award['project_title']}》：{sheet['total']} 分")
    await s.clock.set(shanghai("2026-10-21 10:00"))
    done = await s.api.post(f"/evaluation/v1/project-assessments/{assessment['id']}/completion", officer)
    r.assessments["a_venture.midterm"] = done
    s.tell(officer.label, f"中期评估完成：平均 {done['score']} 分（合格线 {done['pass_threshold']}）"
           + ("，通过" if done["passed"] else "，未通过"))
    s.expect_inbox(user, "evaluation.assessment.completed", f"awards/{award['id']}")

    async def second_released() -> dict[str, Any] | None:
        second = (await _tranches(s, award["id"]))[1]
        return second if second["status"] == "released" else None

    second = await s.api.eventually(second_released, "the second tranche to be released after the mid-term")
    s.tell("资助服务", f"中期评估通过，第2期 {yuan(second['amount'])} 发出支付指令 {second['payment_instruction_id']}")
    s.expect_inbox(user, "grants.disbursement.released", f"disbursements/{second['id']}")
    s.expect_inbox(user, "grants.disbursement.paid", f"disbursements/{second['id']}")
    await s.clock.set(shanghai("2026-10-23 10:00"))
    await pay(s, second, "GZCZ-2026-A_VENTURE-2")
    await books_balance(s)
    r.tranches = {key: await _tranches(s, a["id"]) for key, a in r.awards.items()}
