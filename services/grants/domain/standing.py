"""The read model of an organization's standing, as a JSON document of effective-dated facts.

Built from `registry.organization` and `evaluation.rating` events (`apply_registry_event`,
`apply_rating_event`) or, once, from the registry's standing answer for an organization never seen
(`standing_from_registry_answer`): listings with `listed_on`/`removed_on`, grades with
`valid_from`/`valid_until` and an early `ended_on` (exclusive: the first day it no longer holds),
annual results per year, penalties, investigations. Tolerant: unknown fields are ignored.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.grants.domain.calls import GRADES


def as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


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
        start, until = as_date(g.get("valid_from")), as_date(g.get("valid_until"))
        if g.get("grade") in GRADES and start is not None and until is not None:
            held.append(GradeHeld(str(g["grade"]), start, until, as_date(g.get("ended_on"))))
    return held


def grade_on(doc: Mapping[str, Any], day: date) -> GradeHeld | None:
    """The grade in force on `day` (a pending grade, valid only later, is not)."""
    in_force = [g for g in grades_of(doc) if g.in_force(day)]
    return max(in_force, key=lambda g: (g.valid_from, grade_rank(g.grade))) if in_force else None


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
        start = as_date(data.get("valid_from"))
        if start is not None:
            for g in grades:  # a new grade replaces the one it overlaps from its start
                if g.get("evaluation_id") == data.get("evaluation_id") and g.get("evaluation_id"):
                    continue
                until, ended = as_date(g.get("valid_until")), as_date(g.get("ended_on"))
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
        effective = as_date(data.get("effective_on"))
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
