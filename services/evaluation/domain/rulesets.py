"""Rating rule sets as data (DOMAIN.md §2): eligibility, exclusions, validity, procedure, policies.

The shipped presets are `national-2011` (民政部令第39号), `mca-2021` (the 2011 rules plus the
exclusions for 民政部-registered organizations) and `national-2026` (the revised 办法 in force
2026-03-01). Officers copy and adjust them; a decision stores the `{id, version}` it used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from services.evaluation.domain.bands import GRADES
from services.evaluation.domain.points import Invalid, parse_points

ANNUAL_RESULTS = ("qualified", "basically_qualified", "unqualified", "not_inspected")
PENALTY_TYPES = ("warning", "fine", "suspension", "licence_revoked")
LISTS = ("irregular", "serious")
DOWNGRADE_REASONS = (
    "unqualified_inspection",
    "basically_qualified_twice",
    "administrative_penalty",
    "falsified_materials",
)
VALIDITY_RULES = ("decision_date_plus_years", "announcement_next_january")
SERIOUS_LISTING_POLICIES = ("revoke", "flag_for_committee")


@dataclass(frozen=True)
class PenaltyFilter:
    types: frozenset[str]
    fine_at_least: int  # fen; fines below it do not count (a "minor" penalty under national-2026)
    basis: str

    def matches(self, penalty_type: str, fine_fen: int | None) -> bool:
        if penalty_type not in self.types:
            return False
        return not (penalty_type == "fine" and (fine_fen or 0) < self.fine_at_least)


@dataclass(frozen=True)
class RuleSet:
    id: str
    version: int
    name: str
    basis: str
    effective_from: date
    # eligibility
    registered_years_before_round: int
    registration_basis: str
    reapply_when_expiring_in_round_year: bool
    re_evaluation_within_years: int | None
    simplified_visit_within_years: int | None
    grade_basis: str
    annual_inspection_excluded: frozenset[str]
    annual_inspection_basis: str
    basically_qualified_years_running: int | None
    basically_qualified_basis: str
    penalty_last_year: PenaltyFilter | None
    penalty_not_carried_out: PenaltyFilter | None
    under_investigation: bool
    investigation_basis: str
    credit_lists: frozenset[str]
    credit_basis: str
    annual_report_not_filed: bool
    annual_report_basis: str
    check_working_days: int
    # procedure
    notice_working_days: int
    appeal_decided_by: str
    appeal_notify_calendar_days: int
    appeal_basis: str
    quorum_basis: str
    certificate_min_grade: str
    certificate_return_calendar_days: int
    # scoring
    cap: int | None  # hundredths; None = the template's total
    max_spread: int  # hundredths, default for rounds
    # validity and after
    validity_rule: str
    validity_years: int
    validity_basis: str
    on_serious_listing: str
    downgrade_on: frozenset[str]
    downgrade_basis: str

    @property
    def ref(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version}


MAPPINGS = (
    "eligibility",
    "eligibility.grade_in_force",
    "eligibility.exclusions",
    "eligibility.exclusions.annual_inspection_last_year",
    "eligibility.exclusions.basically_qualified_years_running",
    "eligibility.exclusions.under_investigation",
    "eligibility.exclusions.credit_lists",
    "eligibility.exclusions.annual_report_not_filed_last_year",
    "procedure",
    "procedure.appeal",
    "scoring",
    "validity",
    "after_publication",
)
SMALL_INTS = {
    "procedure.appeal.notify_within_calendar_days": 15,
    "after_publication.certificate_return_calendar_days": 15,
}


def _get(doc: Mapping[str, Any], path: str, default: Any = ...) -> Any:
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            if default is ...:
                raise KeyError(path)
            return default
        node = node[part]
    return node


def parse_rule_set(doc: Mapping[str, Any]) -> RuleSet:
    """Validate a rule-set document (YAML preset or API body) into a `RuleSet`."""
    errors: list[dict[str, str]] = []

    def req(path: str, kind: type | tuple[type, ...], check: Any = None, message: str = "") -> Any:
        try:
            value = _get(doc, path)
        except KeyError:
            errors.append({"field": path, "message": "required"})
            return None
        wrong_type = not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)
        if wrong_type or (check and not check(value)):
            errors.append({"field": path, "message": message or f"expected {getattr(kind, '__name__', kind)}"})
            return None
        return value

    def opt(path: str, default: Any) -> Any:
        return _get(doc, path, default)

    def penalty(path: str) -> PenaltyFilter | None:
        node = opt(path, None)
        if node is None:
            return None
        if not isinstance(node, Mapping):
            errors.append({"field": path, "message": "{types, fine_at_least, basis} or null"})
            return None
        types = node.get("types", list(PENALTY_TYPES))
        if not isinstance(types, list) or not set(types) <= set(PENALTY_TYPES):
            errors.append({"field": f"{path}.types", "message": f"a subset of {', '.join(PENALTY_TYPES)}"})
            types = []
        fine = 0
        try:
            fine = parse_points(node.get("fine_at_least", "0"), f"{path}.fine_at_least")
        except Invalid as e:
            errors.extend(e.errors)
        return PenaltyFilter(frozenset(types), fine, str(node.get("basis") or basis))

    def positive(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v > 0

    for section in MAPPINGS:
        value = _get(doc, section, None)
        if value is not None and not isinstance(value, Mapping):
            errors.append({"field": section, "message": "a mapping of settings"})
    for path, default in SMALL_INTS.items():
        value = _get(doc, path, default) if isinstance(_get(doc, path.rsplit(".", 1)[0], {}), Mapping) else default
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 366:
            errors.append({"field": path, "message": "a number of days between 1 and 366"})
    if errors:
        raise Invalid(errors)
    rid = req("id", str, lambda v: 0 < len(v) <= 60, "an id of 1–60 characters")
    version = req("version", int, positive, "a positive integer")
    name = req("name", str, lambda v: v.strip() != "", "a name")
    basis = req("basis", str, lambda v: v.strip() != "", "the regulation the rule set implements")
    effective = opt("effective_from", None)
    if isinstance(effective, str):
        try:
            effective = date.fromisoformat(effective)
        except ValueError:
            effective = None
    if not isinstance(effective, date):
        errors.append({"field": "effective_from", "message": "a date (YYYY-MM-DD)"})
    basis = basis or ""
    inspection = opt("eligibility.exclusions.annual_inspection_last_year.results", [])
    if not isinstance(inspection, list) or not set(inspection) <= set(ANNUAL_RESULTS):
        errors.append(
            {
                "field": "eligibility.exclusions.annual_inspection_last_year.results",
                "message": f"a subset of {', '.join(ANNUAL_RESULTS)}",
            }
        )
        inspection = []
    lists = opt("eligibility.exclusions.credit_lists.lists", [])
    if not isinstance(lists, list) or not set(lists) <= set(LISTS):
        errors.append(
            {"field": "eligibility.exclusions.credit_lists.lists", "message": "a subset of irregular, serious"}
        )
        lists = []
    downgrade = opt("after_publication.downgrade_on", list(DOWNGRADE_REASONS))
    if not isinstance(downgrade, list) or not set(downgrade) <= set(DOWNGRADE_REASONS):
        errors.append(
            {"field": "after_publication.downgrade_on", "message": f"a subset of {', '.join(DOWNGRADE_REASONS)}"}
        )
        downgrade = []
    validity_rule = req("validity.rule", str, lambda v: v in VALIDITY_RULES, f"one of {', '.join(VALIDITY_RULES)}")
    serious = req(
        "after_publication.on_serious_listing",
        str,
        lambda v: v in SERIOUS_LISTING_POLICIES,
        "revoke or flag_for_committee",
    )
    certificate = opt("procedure.certificate_min_grade", "3A")
    if certificate not in GRADES:
        errors.append({"field": "procedure.certificate_min_grade", "message": "a grade 5A…1A"})
    cap_raw = opt("scoring.cap", "template_total")
    cap: int | None = None
    spread = 0
    try:
        cap = None if cap_raw == "template_total" else parse_points(cap_raw, "scoring.cap")
        spread = parse_points(opt("scoring.max_spread", "50"), "scoring.max_spread")
    except Invalid as e:
        errors.extend(e.errors)
    ints = {
        "eligibility.registered_years_before_round": req("eligibility.registered_years_before_round", int, positive),
        "eligibility.check_working_days": req("eligibility.check_working_days", int, positive),
        "procedure.notice_working_days": req("procedure.notice_working_days", int, positive),
        "validity.years": req("validity.years", int, positive),
    }
    re_eval = opt("eligibility.grade_in_force.re_evaluation_within_years", None)
    simplified = opt("eligibility.grade_in_force.simplified_visit_within_years", None)
    for path, value in (("re_evaluation_within_years", re_eval), ("simplified_visit_within_years", simplified)):
        if value is not None and not positive(value):
            errors.append({"field": f"eligibility.grade_in_force.{path}", "message": "a positive integer or null"})
    bq = opt("eligibility.exclusions.basically_qualified_years_running.years", None)
    if bq is not None and not positive(bq):
        errors.append(
            {
                "field": "eligibility.exclusions.basically_qualified_years_running.years",
                "message": "a positive integer or null",
            }
        )
    p_last = penalty("eligibility.exclusions.penalty_last_year")
    p_open = penalty("eligibility.exclusions.penalty_not_carried_out")
    if errors:
        raise Invalid(errors)

    def text(path: str) -> str:
        value = opt(path, None)
        return str(value) if value else basis

    return RuleSet(
        id=rid,
        version=version,
        name=name,
        basis=basis,
        effective_from=effective,
        registered_years_before_round=ints["eligibility.registered_years_before_round"],
        registration_basis=text("eligibility.registration_basis"),
        reapply_when_expiring_in_round_year=bool(
            opt("eligibility.grade_in_force.reapply_when_expiring_in_round_year", True)
        ),
        re_evaluation_within_years=re_eval,
        simplified_visit_within_years=simplified,
        grade_basis=text("eligibility.grade_in_force.basis"),
        annual_inspection_excluded=frozenset(inspection),
        annual_inspection_basis=text("eligibility.exclusions.annual_inspection_last_year.basis"),
        basically_qualified_years_running=bq,
        basically_qualified_basis=text("eligibility.exclusions.basically_qualified_years_running.basis"),
        penalty_last_year=p_last,
        penalty_not_carried_out=p_open,
        under_investigation=bool(opt("eligibility.exclusions.under_investigation.applies", False)),
        investigation_basis=text("eligibility.exclusions.under_investigation.basis"),
        credit_lists=frozenset(lists),
        credit_basis=text("eligibility.exclusions.credit_lists.basis"),
        annual_report_not_filed=bool(opt("eligibility.exclusions.annual_report_not_filed_last_year.applies", False)),
        annual_report_basis=text("eligibility.exclusions.annual_report_not_filed_last_year.basis"),
        check_working_days=ints["eligibility.check_working_days"],
        notice_working_days=ints["procedure.notice_working_days"],
        appeal_decided_by=str(opt("procedure.appeal.decided_by", "evaluation_committee")),  # a label
        appeal_notify_calendar_days=int(opt("procedure.appeal.notify_within_calendar_days", 15)),
        appeal_basis=text("procedure.appeal.basis"),
        quorum_basis=text("procedure.quorum_basis"),
        certificate_min_grade=str(certificate),
        certificate_return_calendar_days=int(opt("after_publication.certificate_return_calendar_days", 15)),
        cap=cap,
        max_spread=spread,
        validity_rule=validity_rule,
        validity_years=ints["validity.years"],
        validity_basis=text("validity.basis"),
        on_serious_listing=serious,
        downgrade_on=frozenset(downgrade),
        downgrade_basis=text("after_publication.downgrade_basis"),
    )


# -- validity ----------------------------------------------------------------------------------


def anniversary(day: date, years: int) -> date:
    """The same calendar day `years` later; 29 February becomes 1 March in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


def validity(rule_set: RuleSet, *, decided_on: date, announced_on: date) -> tuple[date, date]:
    """`(valid_from, valid_until)` of a grade under the rule set (DOMAIN.md §2 examples are tests)."""
    if rule_set.validity_rule == "decision_date_plus_years":
        # valid from the committee decision until the day before its N-th anniversary
        return decided_on, anniversary(decided_on, rule_set.validity_years) - timedelta(days=1)
    # national-2026: 1 January after the announcement year … 31 December of announcement year + N
    return date(announced_on.year + 1, 1, 1), date(announced_on.year + rule_set.validity_years, 12, 31)
