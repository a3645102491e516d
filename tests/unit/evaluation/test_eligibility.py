"""Eligibility per rule set (DOMAIN.md §2), on the facts the registry reported."""

from __future__ import annotations

from datetime import date

import yaml

from services.evaluation.domain.eligibility import (
    AnnualResult,
    GradeInForce,
    Investigation,
    Listing,
    Penalty,
    Standing,
    check,
    downgrade_reason_for_annual,
)
from services.evaluation.domain.rulesets import parse_rule_set
from services.evaluation.handlers.catalog import PRESETS, plain


def rule_set(name: str):
    return parse_rule_set(plain(yaml.safe_load((PRESETS / "rule-sets" / f"{name}.yaml").read_text(encoding="utf-8"))))


R2011, R2026, MCA = rule_set("national-2011"), rule_set("national-2026"), rule_set("mca-2021")
GOOD = {2024: AnnualResult("qualified", "on_time"), 2025: AnnualResult("qualified", "on_time")}
APPLIED = date(2026, 3, 10)


def standing(**kw) -> Standing:
    values = {
        "org_id": "o",
        "kind": "social_group",
        "status": "active",
        "registered_on": date(2019, 6, 1),
        "annual": GOOD,
    }
    values.update(kw)
    return Standing(**values)


def rules(rs, s: Standing, grade: GradeInForce | None = None, year: int = 2026) -> list[str]:
    result = check(
        rs, s, round_year=year, round_kinds=["social_group"], in_round_region=True, applied_on=APPLIED, grade=grade
    )
    assert result.eligible == (not result.reasons)
    return [r.rule for r in result.reasons]


def test_a_clean_organization_registered_two_full_years_before_is_eligible_under_every_preset():
    for rs in (R2011, R2026, MCA):
        assert rules(rs, standing(registered_on=date(2023, 12, 31))) == []


def test_registration_after_31_december_of_round_year_minus_3_is_too_recent():
    assert rules(R2011, standing(registered_on=date(2024, 1, 1))) == ["eligibility.certificate_two_full_years"]


def test_kind_region_and_status_are_checked():
    result = check(
        R2011,
        standing(kind="foundation", status="revoked"),
        round_year=2026,
        round_kinds=["social_group"],
        in_round_region=False,
        applied_on=APPLIED,
        grade=None,
    )
    assert [r.rule for r in result.reasons] == ["eligibility.kind", "eligibility.region", "eligibility.status"]


def test_a_failed_inspection_excludes_under_2011_but_not_under_2026():
    s = standing(annual={2024: AnnualResult("qualified", None), 2025: AnnualResult("unqualified", None)})
    assert rules(R2011, s) == ["eligibility.annual_inspection"]
    assert rules(R2026, s) == []


def test_not_taking_part_in_last_years_inspection_excludes_under_both():
    s = standing(annual={2024: AnnualResult("qualified", None)})
    assert rules(R2011, s) == rules(R2026, s) == ["eligibility.annual_inspection"]


def test_basically_qualified_two_years_running_excludes_only_under_2011():
    bq = AnnualResult("basically_qualified", None)
    s = standing(annual={2024: bq, 2025: bq})
    assert rules(R2011, s) == ["eligibility.basically_qualified_running"]
    assert rules(R2026, s) == []


def test_a_minor_penalty_last_year_excludes_under_2011_only_and_a_heavy_one_under_both():
    warning = Penalty("p1", "warning", None, date(2025, 4, 1), date(2025, 4, 1))
    small_fine = Penalty("p2", "fine", 1_000_000, date(2025, 4, 1), date(2025, 5, 1))
    big_fine = Penalty("p3", "fine", 5_000_000, date(2025, 4, 1), date(2025, 5, 1))
    assert rules(R2011, standing(penalties=[warning])) == ["eligibility.penalty_last_year"]
    assert rules(R2026, standing(penalties=[warning, small_fine])) == []
    assert rules(R2026, standing(penalties=[big_fine])) == ["eligibility.penalty_last_year"]


def test_a_penalty_not_carried_out_excludes():
    open_penalty = Penalty("p1", "suspension", None, date(2023, 4, 1), None)
    assert rules(R2011, standing(penalties=[open_penalty])) == ["eligibility.penalty_not_carried_out"]
    assert rules(R2026, standing(penalties=[open_penalty])) == ["eligibility.penalty_not_carried_out"]


def test_an_open_investigation_excludes_under_2011_only():
    s = standing(investigations=[Investigation("i1", date(2026, 1, 5), None)])
    assert rules(R2011, s) == ["eligibility.under_investigation"]
    assert rules(R2026, s) == []
    closed = standing(investigations=[Investigation("i1", date(2026, 1, 5), date(2026, 2, 1))])
    assert rules(R2011, closed) == []


def test_credit_listings_and_an_unfiled_report_exclude_under_the_mca_preset():
    listed = standing(listings=[Listing("l1", "irregular", date(2026, 1, 5), None)])
    assert rules(MCA, listed) == ["eligibility.credit_list.irregular"]
    assert rules(R2011, listed) == []
    removed = standing(listings=[Listing("l1", "irregular", date(2025, 1, 5), date(2025, 7, 5))])
    assert rules(MCA, removed) == []
    unfiled = standing(annual={2024: GOOD[2024], 2025: AnnualResult("qualified", "not_filed")})
    assert rules(MCA, unfiled) == ["eligibility.annual_report_not_filed"]


def test_a_grade_in_force_blocks_a_new_application_until_its_validity_ends_under_2011():
    running = GradeInForce("3A", date(2023, 5, 20), date(2028, 5, 19))
    ending = GradeInForce("3A", date(2021, 5, 20), date(2026, 5, 19))
    assert rules(R2011, standing(), running) == ["eligibility.grade_in_force"]
    assert rules(R2011, standing(), ending) == []


def test_2026_allows_re_evaluation_in_the_first_four_years_with_a_simplified_visit_in_the_first_two():
    young = GradeInForce("3A", date(2025, 1, 1), date(2029, 12, 31))
    result = check(
        R2026,
        standing(),
        round_year=2026,
        round_kinds=["social_group"],
        in_round_region=True,
        applied_on=APPLIED,
        grade=young,
    )
    assert result.eligible and result.re_evaluation and result.simplified_visit
    older = GradeInForce("3A", date(2023, 1, 1), date(2027, 12, 31))
    result = check(
        R2026,
        standing(),
        round_year=2026,
        round_kinds=["social_group"],
        in_round_region=True,
        applied_on=APPLIED,
        grade=older,
    )
    assert result.eligible and result.re_evaluation and not result.simplified_visit
    fifth_year = GradeInForce("3A", date(2022, 1, 1), date(2026, 12, 31))
    assert rules(R2026, standing(), fifth_year) == []  # its validity ends in the round year


def test_annual_results_propose_downgrades_per_the_grades_rule_set():
    bq = AnnualResult("basically_qualified", None)
    assert (
        downgrade_reason_for_annual(R2011, {2025: AnnualResult("unqualified", None)}, 2025) == "unqualified_inspection"
    )
    assert downgrade_reason_for_annual(R2011, {2024: bq, 2025: bq}, 2025) == "basically_qualified_twice"
    assert downgrade_reason_for_annual(R2011, {2024: GOOD[2024], 2025: bq}, 2025) is None
