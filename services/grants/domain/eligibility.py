"""Eligibility (DOMAIN.md §3) over the standing read model (`domain/standing.py`).

`screen` computes every failed rule with its basis on the application date (Asia/Shanghai) over
effective-dated facts; `rescreen` adds the continuing rules (status, listings, a grade ended early)
evaluated on a later day, for open applications whose organization's standing changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.grants.domain.calls import Rules
from services.grants.domain.money import add_months, yuan
from services.grants.domain.standing import as_date, grade_on, grade_rank, grades_of

LIST_NAMES = {"irregular": "活动异常名录", "serious": "严重违法失信名单"}
RESULT_NAMES = {
    "qualified": "合格",
    "basically_qualified": "基本合格",
    "unqualified": "不合格",
    "not_inspected": "未参检",
}
STATUS_NAMES = {"active": "存续", "deregistered": "注销", "revoked": "撤销"}
MAJOR_FINE_FEN = 5_000_000  # a fine of ¥50,000 or more is a serious-list trigger (民政部令第60号)
CREDIT_BASIS = "《社会组织信用信息管理办法》（民政部令第60号）"
DEFAULT_BASES = {
    "status": "社会组织登记管理条例（存续状态）",
    "kind": "本次申报通知（申报主体）",
    "region": "本次申报通知（申报范围）",
    "min_grade": "本次申报通知（社会组织评估等级要求）",
    "lookback": f"本次申报通知（信用要求）；{CREDIT_BASIS}",
    "credit_list": CREDIT_BASIS,
    "major_violation": "本次申报通知（近三年无重大违法记录）",
    "annual_result": "本次申报通知（年度检查要求）",
    "investigation": "本次申报通知（未被立案调查）",
    "max_applications": "本次申报通知（申报数量）",
    "double_funding": "本次申报通知（不得重复申报、重复资助）",
}


@dataclass(frozen=True, slots=True)
class Reason:
    rule: str
    detail: str
    basis: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "detail": self.detail, "basis": self.basis}


@dataclass(frozen=True, slots=True)
class Screening:
    eligible: bool
    reasons: tuple[Reason, ...]

    @classmethod
    def of(cls, reasons: Iterable[Reason]) -> Screening:
        items = tuple(reasons)
        return cls(eligible=not items, reasons=items)


def _basis(rules: Rules, key: str) -> str:
    return rules.bases.get(key) or DEFAULT_BASES[key]


def _listing_intervals(doc: Mapping[str, Any], which: str) -> list[tuple[date, date | None, str]]:
    out = []
    for item in doc.get("listings") or ():
        listed = as_date(item.get("listed_on"))
        if item.get("list") == which and listed is not None:
            out.append((listed, as_date(item.get("removed_on")), str(item.get("listing_id") or "")))
    return out


def _describe_grade(doc: Mapping[str, Any], day: date) -> str:
    held = grade_on(doc, day)
    if held is not None:
        return f"organization holds {held.grade} (valid until {held.valid_until.isoformat()})"
    pending = sorted((g for g in grades_of(doc) if g.valid_from > day), key=lambda g: g.valid_from)
    past = sorted((g for g in grades_of(doc) if g.valid_from <= day), key=lambda g: g.valid_from)
    text = f"organization holds no grade in force on {day.isoformat()}"
    if past:
        last = past[-1]
        end = last.ended_on if last.ended_early and last.ended_on else last.valid_until
        verb = "ended" if last.ended_early else "expired"
        text += f" ({last.grade} {verb} {end.isoformat()})"
    if pending:
        text += f"; {pending[0].grade} pending from {pending[0].valid_from.isoformat()}"
    return text


def screen(
    rules: Rules,
    doc: Mapping[str, Any],
    *,
    on: date,
    call_region: str,
    within: Callable[[str, str], bool],
    other_applications: int = 0,
) -> Screening:
    """Every failed rule on the application date `on`, each with its basis."""
    reasons: list[Reason] = []
    reasons += _status(rules, doc)
    kind = str(doc.get("kind") or "")
    if kind not in rules.kinds:
        if kind == "community_filed":
            detail = "kind: filed community groups (备案的社区社会组织) are not admitted by this call"
        else:
            detail = f"kind: {kind or 'unknown'} is not among the admitted kinds ({', '.join(rules.kinds)})"
        reasons.append(Reason("eligibility.kind", detail, _basis(rules, "kind")))
    regions = rules.regions or (call_region,)
    region = str(doc.get("region_code") or "")
    if not region or not any(_safe_within(within, region, r) for r in regions):
        reasons.append(
            Reason(
                "eligibility.region",
                f"region: organization is registered in {region or 'an unknown region'}, "
                f"the call admits {', '.join(regions)}",
                _basis(rules, "region"),
            )
        )
    reasons += _min_grade(rules, doc, on)
    reasons += _credit(rules, doc, on)
    reasons += _major_violation(rules, doc, on)
    reasons += _annual_result(rules, doc, on)
    reasons += _investigation(rules, doc, on)
    if rules.max_applications is not None and other_applications >= rules.max_applications:
        reasons.append(
            Reason(
                "eligibility.max_applications",
                f"max_applications: at most {rules.max_applications} application(s) per organization in this call; "
                f"{other_applications} other already submitted",
                _basis(rules, "max_applications"),
            )
        )
    return Screening.of(reasons)


def rescreen(
    rules: Rules,
    doc: Mapping[str, Any],
    *,
    on: date,
    today: date,
    call_region: str,
    within: Callable[[str, str], bool],
    other_applications: int = 0,
) -> Screening:
    """The application-date screening over the updated facts, plus the continuing rules on `today`."""
    first = screen(rules, doc, on=on, call_region=call_region, within=within, other_applications=other_applications)
    failing = {r.rule for r in first.reasons}
    later: list[Reason] = []
    if today > on:
        later += _credit(rules, doc, today, suffix=" (after submission)")
        held = grade_on(doc, on)
        if rules.min_grade and held is not None and held.ended_early and held.ended_on and held.ended_on <= today:
            later += _min_grade(rules, doc, today, suffix=" (after submission)")
    return Screening.of([*first.reasons, *(r for r in later if r.rule not in failing)])


def _safe_within(within: Callable[[str, str], bool], code: str, region: str) -> bool:
    try:
        return within(code, region)
    except ValueError:
        return False


def _status(rules: Rules, doc: Mapping[str, Any]) -> list[Reason]:
    status = str(doc.get("status") or "unknown")
    if status == "active":
        return []
    name = STATUS_NAMES.get(status, status)
    return [Reason("eligibility.status", f"status: organization is {status} ({name})", _basis(rules, "status"))]


def _min_grade(rules: Rules, doc: Mapping[str, Any], day: date, suffix: str = "") -> list[Reason]:
    if rules.min_grade is None:
        return []
    held = grade_on(doc, day)
    if held is not None and grade_rank(held.grade) >= grade_rank(rules.min_grade):
        return []
    detail = f"min_grade: {rules.min_grade} required, {_describe_grade(doc, day)}{suffix}"
    return [Reason("eligibility.min_grade", detail, _basis(rules, "min_grade"))]


def _credit(rules: Rules, doc: Mapping[str, Any], day: date, suffix: str = "") -> list[Reason]:
    reasons: list[Reason] = []
    for which in ("serious", "irregular"):
        for listed, removed, _ in _listing_intervals(doc, which):
            if listed <= day and (removed is None or removed > day):
                reasons.append(
                    Reason(
                        "eligibility.credit_list",
                        f"credit_list: on the {which} list ({LIST_NAMES[which]}) since {listed.isoformat()}{suffix}",
                        _basis(rules, "credit_list"),
                    )
                )
                break
    for lookback in rules.lookbacks:
        start = add_months(day, -lookback.months)
        for listed, removed, _ in _listing_intervals(doc, lookback.list):
            end = removed or day
            if listed <= day and end >= start:
                until = removed.isoformat() if removed else "today"
                reasons.append(
                    Reason(
                        f"eligibility.lookback.{lookback.list}",
                        f"lookback.{lookback.list}: listed on the {lookback.list} list ({LIST_NAMES[lookback.list]}) "
                        f"{listed.isoformat()} – {until}, within {lookback.months} months before "
                        f"{day.isoformat()} (since {start.isoformat()}){suffix}",
                        _basis(rules, "lookback"),
                    )
                )
                break
    return reasons


def _major_violation(rules: Rules, doc: Mapping[str, Any], day: date) -> list[Reason]:
    months = rules.major_violation_months
    if months is None:
        return []
    start = add_months(day, -months)
    for penalty in doc.get("penalties") or ():
        decided = as_date(penalty.get("decided_on"))
        kind = penalty.get("penalty_type")
        fine = int(penalty.get("fine_fen") or 0)
        major = kind in ("suspension", "licence_revoked") or (kind == "fine" and fine >= MAJOR_FINE_FEN)
        if major and decided is not None and start <= decided <= day:
            what = f"fine of {yuan(fine)}" if kind == "fine" else str(kind)
            return [
                Reason(
                    "eligibility.major_violation",
                    f"major_violation: {what} decided {decided.isoformat()}, within {months} months "
                    f"before {day.isoformat()}",
                    _basis(rules, "major_violation"),
                )
            ]
    return []


def _annual_result(rules: Rules, doc: Mapping[str, Any], day: date) -> list[Reason]:
    allowed = rules.annual_results
    if not allowed:
        return []
    results = sorted(
        (r for r in doc.get("annual_results") or () if isinstance(r.get("year"), int) and r["year"] < day.year),
        key=lambda r: int(r["year"]),
    )
    wanted = " or ".join(allowed)
    if not results:
        since = as_date(doc.get("registered_on")) or as_date(doc.get("filed_on"))
        if since is not None and since >= date(day.year - 1, 1, 1):
            return []  # too young to have been inspected
        return [
            Reason(
                "eligibility.annual_result",
                f"annual_result: no annual inspection result on record; {wanted} required",
                _basis(rules, "annual_result"),
            )
        ]
    last = results[-1]
    result = str(last.get("result"))
    if result in allowed:
        return []
    return [
        Reason(
            "eligibility.annual_result",
            f"annual_result: last annual inspection ({last['year']}) was {result} "
            f"({RESULT_NAMES.get(result, result)}); "
            f"{wanted} required",
            _basis(rules, "annual_result"),
        )
    ]


def _investigation(rules: Rules, doc: Mapping[str, Any], day: date) -> list[Reason]:
    if not rules.exclude_under_investigation:
        return []
    for item in doc.get("investigations") or ():
        opened, closed = as_date(item.get("opened_on")), as_date(item.get("closed_on"))
        if opened is not None and opened <= day and (closed is None or closed > day):
            return [
                Reason(
                    "eligibility.investigation",
                    f"investigation: under investigation since {opened.isoformat()}",
                    _basis(rules, "investigation"),
                )
            ]
    return []
