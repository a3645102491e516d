"""Who may be rated in a round (DOMAIN.md §2), from the registry facts of the local read model.

Every reason names its rule and its basis; the check runs on the application date (Asia/Shanghai)
and considers only the grade *in force* on that date (a pending grade does not count).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from services.evaluation.domain.rulesets import RuleSet, anniversary


@dataclass(frozen=True)
class Penalty:
    penalty_id: str
    penalty_type: str
    fine_fen: int | None
    decided_on: date
    executed_on: date | None


@dataclass(frozen=True)
class Investigation:
    investigation_id: str
    opened_on: date
    closed_on: date | None


@dataclass(frozen=True)
class Listing:
    listing_id: str
    list: str
    listed_on: date
    removed_on: date | None

    def on(self, day: date) -> bool:
        return self.listed_on <= day and (self.removed_on is None or self.removed_on > day)


@dataclass(frozen=True)
class AnnualResult:
    result: str | None
    report_status: str | None


@dataclass(frozen=True)
class Standing:
    org_id: str
    kind: str
    status: str
    registered_on: date | None
    annual: Mapping[int, AnnualResult] = field(default_factory=dict)
    penalties: Sequence[Penalty] = ()
    investigations: Sequence[Investigation] = ()
    listings: Sequence[Listing] = ()


@dataclass(frozen=True)
class GradeInForce:
    grade: str
    valid_from: date
    valid_until: date


@dataclass(frozen=True)
class Reason:
    rule: str
    detail: str
    basis: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "detail": self.detail, "basis": self.basis}


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    reasons: tuple[Reason, ...]
    re_evaluation: bool = False
    simplified_visit: bool = False


def check(
    rule_set: RuleSet,
    standing: Standing,
    *,
    round_year: int,
    round_kinds: Sequence[str],
    in_round_region: bool,
    applied_on: date,
    grade: GradeInForce | None,
) -> Eligibility:
    rs = rule_set
    reasons: list[Reason] = []
    last_year = round_year - 1

    def refuse(rule: str, detail: str, basis: str) -> None:
        reasons.append(Reason(rule, detail, basis))

    if standing.kind not in round_kinds:
        refuse(
            "eligibility.kind",
            f"this round rates {', '.join(round_kinds)}; the organization is a {standing.kind}",
            "本轮评估通知（参评组织类型）",
        )
    if not in_round_region:
        refuse(
            "eligibility.region",
            "the organization is registered outside the round's region",
            "本轮评估通知（评估范围）",
        )
    if standing.status != "active":
        refuse("eligibility.status", f"the organization is {standing.status}", rs.registration_basis)
    cutoff = date(round_year - rs.registered_years_before_round, 12, 31)
    if standing.registered_on is None:
        refuse(
            "eligibility.registered",
            "only registered organizations (with a certificate) are rated",
            rs.registration_basis,
        )
    elif standing.registered_on > cutoff:
        refuse(
            "eligibility.certificate_two_full_years",
            f"registered on {standing.registered_on}; a {round_year} round needs registration on or before "
            f"{cutoff} (certificate held two full years)",
            rs.registration_basis,
        )
    re_evaluation = simplified = False
    if grade is not None:
        expiring = rs.reapply_when_expiring_in_round_year and grade.valid_until <= date(round_year, 12, 31)
        within = rs.re_evaluation_within_years
        if not expiring and within is not None and applied_on < anniversary(grade.valid_from, within):
            re_evaluation = True
            short = rs.simplified_visit_within_years
            simplified = short is not None and applied_on < anniversary(grade.valid_from, short)
        elif not expiring:
            refuse(
                "eligibility.grade_in_force",
                f"holds {grade.grade} valid until {grade.valid_until}; it may apply again when that validity ends",
                rs.grade_basis,
            )
    result = standing.annual.get(last_year)
    inspected = result.result if result is not None and result.result else "not_inspected"
    if inspected in rs.annual_inspection_excluded:
        refuse(
            "eligibility.annual_inspection",
            f"annual inspection {last_year}: {inspected}" + (" (no result recorded)" if result is None else ""),
            rs.annual_inspection_basis,
        )
    n = rs.basically_qualified_years_running
    if n is not None:
        years = [round_year - i for i in range(1, n + 1)]
        if all((r := standing.annual.get(y)) is not None and r.result == "basically_qualified" for y in years):
            refuse(
                "eligibility.basically_qualified_running",
                f"basically qualified (基本合格) {n} years running: {', '.join(map(str, sorted(years)))}",
                rs.basically_qualified_basis,
            )
    if rs.penalty_last_year is not None:
        for p in standing.penalties:
            if p.decided_on.year == last_year and rs.penalty_last_year.matches(p.penalty_type, p.fine_fen):
                refuse(
                    "eligibility.penalty_last_year",
                    f"administrative penalty ({p.penalty_type}) decided on {p.decided_on}",
                    rs.penalty_last_year.basis,
                )
    if rs.penalty_not_carried_out is not None:
        for p in standing.penalties:
            if (
                p.decided_on <= applied_on
                and (p.executed_on is None or p.executed_on > applied_on)
                and (rs.penalty_not_carried_out.matches(p.penalty_type, p.fine_fen))
            ):
                refuse(
                    "eligibility.penalty_not_carried_out",
                    f"administrative penalty ({p.penalty_type}) of {p.decided_on} not fully carried out",
                    rs.penalty_not_carried_out.basis,
                )
    if rs.under_investigation:
        for inv in standing.investigations:
            if inv.opened_on <= applied_on and (inv.closed_on is None or inv.closed_on > applied_on):
                refuse(
                    "eligibility.under_investigation",
                    f"under investigation since {inv.opened_on}",
                    rs.investigation_basis,
                )
    for listing in standing.listings:
        if listing.list in rs.credit_lists and listing.on(applied_on):
            refuse(
                f"eligibility.credit_list.{listing.list}",
                f"on the {listing.list} credit list since {listing.listed_on}",
                rs.credit_basis,
            )
    if rs.annual_report_not_filed and result is not None and result.report_status == "not_filed":
        refuse("eligibility.annual_report_not_filed", f"annual report {last_year} not filed", rs.annual_report_basis)
    return Eligibility(not reasons, tuple(reasons), re_evaluation, simplified)


def downgrade_reason_for_annual(rule_set: RuleSet, annual: Mapping[int, AnnualResult], year: int) -> str | None:
    """The downgrade an annual result triggers under the grade's rule set, if any."""
    result = annual.get(year)
    if result is None:
        return None
    if result.result == "unqualified" and "unqualified_inspection" in rule_set.downgrade_on:
        return "unqualified_inspection"
    previous = annual.get(year - 1)
    if (
        result.result == "basically_qualified"
        and previous is not None
        and previous.result == "basically_qualified"
        and "basically_qualified_twice" in rule_set.downgrade_on
    ):
        return "basically_qualified_twice"
    return None
