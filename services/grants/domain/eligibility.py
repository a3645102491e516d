"""Eligibility (DOMAIN.md §3) over the local read model of an organization's standing.

The standing is a JSON document built from `registry.organization` and `evaluation.rating` events
(`apply_registry_event`, `apply_rating_event`): effective-dated facts — listings with
`listed_on`/`removed_on`, grades with `valid_from`/`valid_until` and an early `ended_on`, annual
results per year, penalties, investigations. `screen` computes every failed rule with its basis
on the application date; `rescreen` adds the continuing rules (status, listings, a grade ended
early) evaluated on a later day, for open applications whose organization's standing changed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.grants.domain.calls import GRADES, Rules
from services.grants.domain.money import add_months, yuan

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


def _d(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _basis(rules: Rules, key: str) -> str:
    return rules.bases.get(key) or DEFAULT_BASES[key]


def grade_rank(grade: str | None) -> int:
    """5A → 5 … 1A → 1; no grade → 0."""
    return 5 - GRADES.index(grade) if grade in GRADES else 0


@dataclass(frozen=True, slots=True)
class GradeHeld:
    grade: str
    valid_from: date
    valid_until: date
    ended_on: date | None

    def in_force(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_until and (self.ended_on is None or day < self.ended_on)

    @property
    def ended_early(self) -> bool:
        return self.ended_on is not None and self.ended_on <= self.valid_until


def grades_of(doc: Mapping[str, Any]) -> list[GradeHeld]:
    held = []
    for g in doc.get("grades") or ():
        start, until = _d(g.get("valid_from")), _d(g.get("valid_until"))
        if g.get("grade") in GRADES and start is not None and until is not None:
            held.append(GradeHeld(str(g["grade"]), start, until, _d(g.get("ended_on"))))
    return held


def grade_on(doc: Mapping[str, Any], day: date) -> GradeHeld | None:
    """The grade in force on `day` (a pending grade, valid only later, is not)."""
    in_force = [g for g in grades_of(doc) if g.in_force(day)]
    return max(in_force, key=lambda g: (g.valid_from, grade_rank(g.grade))) if in_force else None


def _listing_intervals(doc: Mapping[str, Any], which: str) -> list[tuple[date, date | None, str]]:
    out = []
    for item in doc.get("listings") or ():
        listed = _d(item.get("listed_on"))
        if item.get("list") == which and listed is not None:
            out.append((listed, _d(item.get("removed_on")), str(item.get("listing_id") or "")))
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
        decided = _d(penalty.get("decided_on"))
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
        since = _d(doc.get("registered_on")) or _d(doc.get("filed_on"))
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
        opened, closed = _d(item.get("opened_on")), _d(item.get("closed_on"))
        if opened is not None and opened <= day and (closed is None or closed > day):
            return [
                Reason(
                    "eligibility.investigation",
                    f"investigation: under investigation since {opened.isoformat()}",
                    _basis(rules, "investigation"),
                )
            ]
    return []


# -- the read model: applying events to the standing document ------------------------------------

_TOP = ("kind", "region_code", "status")


def new_standing(org_id: str) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "kind": None,
        "region_code": None,
        "status": None,
        "organization": {"org_id": org_id},
        "registered_on": None,
        "filed_on": None,
        "listings": [],
        "annual_results": [],
        "penalties": [],
        "investigations": [],
        "grades": [],
    }


def _upsert(items: list[dict[str, Any]], key: str, value: Any, item: dict[str, Any]) -> None:
    for i, existing in enumerate(items):
        if existing.get(key) == value:
            items[i] = {**existing, **item}
            return
    items.append(item)


def _fine_fen(fine: Any) -> int:
    if not isinstance(fine, Mapping) or not isinstance(fine.get("amount"), str):
        return 0
    whole, _, frac = fine["amount"].partition(".")
    try:
        return int(whole) * 100 + int((frac + "00")[:2])
    except ValueError:
        return 0


def apply_registry_event(doc: Mapping[str, Any], verb: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A `registry.organization` event applied to the standing (tolerant: unknown fields ignored)."""
    out = copy.deepcopy(dict(doc))
    for name in _TOP:
        if data.get(name) is not None:
            out[name] = data[name]
    if isinstance(data.get("organization"), Mapping):
        out["organization"] = {**out.get("organization", {}), **dict(data["organization"])}
    if verb in ("registered", "upgraded"):
        out["registered_on"] = data.get("registered_on") or out.get("registered_on")
    elif verb == "filed":
        out["filed_on"] = data.get("filed_on") or out.get("filed_on")
    elif verb == "annual_report_recorded" and isinstance(data.get("year"), int):
        item = {"year": data["year"], "result": data.get("result"), "report_status": data.get("report_status")}
        _upsert(out["annual_results"], "year", data["year"], item)
    elif verb == "penalty_recorded" and data.get("penalty_id"):
        item = {
            "penalty_id": data["penalty_id"],
            "penalty_type": data.get("penalty_type"),
            "fine_fen": _fine_fen(data.get("fine")),
            "decided_on": data.get("decided_on") or data.get("effective_on"),
            "executed_on": data.get("executed_on"),
        }
        _upsert(out["penalties"], "penalty_id", data["penalty_id"], item)
    elif verb == "investigation_opened" and data.get("investigation_id"):
        opened = data.get("opened_on") or data.get("effective_on")
        item = {"investigation_id": data["investigation_id"], "opened_on": opened}
        _upsert(out["investigations"], "investigation_id", data["investigation_id"], item)
    elif verb == "investigation_closed" and data.get("investigation_id"):
        closed = data.get("closed_on") or data.get("effective_on")
        item = {"investigation_id": data["investigation_id"], "closed_on": closed}
        _upsert(out["investigations"], "investigation_id", data["investigation_id"], item)
    elif verb == "listed" and data.get("listing_id"):
        item = {
            "listing_id": data["listing_id"],
            "list": data.get("list"),
            "listed_on": data.get("listed_on") or data.get("effective_on"),
            "removed_on": None,
            "reason_code": data.get("reason_code"),
        }
        _upsert(out["listings"], "listing_id", data["listing_id"], item)
    elif verb == "delisted" and data.get("listing_id"):
        item = {
            "listing_id": data["listing_id"],
            "list": data.get("list"),
            "removed_on": data.get("removed_on") or data.get("effective_on"),
            "removal_reason": data.get("removal_reason"),
        }
        _upsert(out["listings"], "listing_id", data["listing_id"], item)
    return out


def apply_rating_event(doc: Mapping[str, Any], verb: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """An `evaluation.rating` grade event applied to the standing's grade history."""
    out = copy.deepcopy(dict(doc))
    grades: list[dict[str, Any]] = out.setdefault("grades", [])
    if verb == "published" and data.get("grade") in GRADES:
        start = _d(data.get("valid_from"))
        if start is not None:
            for g in grades:  # a new grade replaces the one it overlaps from its start
                if g.get("evaluation_id") == data.get("evaluation_id") and g.get("evaluation_id"):
                    continue
                until, ended = _d(g.get("valid_until")), _d(g.get("ended_on"))
                if until is not None and until >= start and (ended is None or ended > start):
                    g["ended_on"], g["end_reason"] = start.isoformat(), "superseded"
        item = {
            "evaluation_id": data.get("evaluation_id"),
            "grade": data["grade"],
            "valid_from": data.get("valid_from"),
            "valid_until": data.get("valid_until"),
            "announced_on": data.get("announced_on"),
            "ended_on": None,
        }
        if data.get("evaluation_id"):
            _upsert(grades, "evaluation_id", data["evaluation_id"], item)
        else:
            grades.append(item)
    elif verb in ("downgraded", "revoked"):
        effective = _d(data.get("effective_on"))
        if effective is not None:
            for g in grades:
                held = grades_of({"grades": [g]})
                if held and held[0].in_force(effective):
                    g["ended_on"], g["end_reason"] = effective.isoformat(), verb
        if verb == "downgraded" and data.get("grade") in GRADES:
            grades.append(
                {
                    "evaluation_id": data.get("evaluation_id"),
                    "grade": data["grade"],
                    "valid_from": data.get("valid_from") or data.get("effective_on"),
                    "valid_until": data.get("valid_until"),
                    "announced_on": data.get("effective_on"),
                    "ended_on": None,
                }
            )
    return out


def standing_from_registry_answer(org_id: str, answer: Mapping[str, Any]) -> dict[str, Any]:
    """The registry's `GET …/standing` answer as a standing document (grades never come from it).

    Tolerant: list items are read by `listing_id` / `penalty_id` / `investigation_id` or by `id`.
    """
    doc = new_standing(org_id)
    for name in _TOP:
        if answer.get(name) is not None:
            doc[name] = answer[name]
    if isinstance(answer.get("organization"), Mapping):
        doc["organization"] = {"org_id": org_id, **dict(answer["organization"])}
    doc["registered_on"] = answer.get("registered_on")
    doc["filed_on"] = answer.get("filed_on")

    def items(name: str, key: str) -> list[dict[str, Any]]:
        out = []
        for item in answer.get(name) or ():
            if isinstance(item, Mapping):
                entry = dict(item)
                entry.setdefault(key, entry.get("id"))
                out.append(entry)
        return out

    for item in items("listings", "listing_id"):
        doc = apply_registry_event(doc, "listed", item)
        if item.get("removed_on"):
            doc = apply_registry_event(doc, "delisted", item)
    for item in items("annual_results", "year"):
        doc = apply_registry_event(doc, "annual_report_recorded", item)
    for item in items("penalties", "penalty_id"):
        doc = apply_registry_event(doc, "penalty_recorded", item)
    for item in items("investigations", "investigation_id") + items("open_investigations", "investigation_id"):
        doc = apply_registry_event(doc, "investigation_opened", item)
        if item.get("closed_on"):
            doc = apply_registry_event(doc, "investigation_closed", item)
    return doc
