"""Pure rules of the grants service (DOMAIN.md §3): money, caps, tranches, eligibility, review,
payments. No fixtures, no I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.grants.domain import DomainError
from services.grants.domain.applications import BudgetLine, Caps, Funded, check_money, double_funding, title_key
from services.grants.domain.awards import assessment_plan, check_objection_window, fit_budget, tranches_for
from services.grants.domain.calls import (
    CallSpec,
    Criterion,
    Lookback,
    Rules,
    TrancheRule,
    purchase_rules,
    submission_window,
    validate_call,
)
from services.grants.domain.disbursements import Attempt, Posting, decide_posting, require_retryable
from services.grants.domain.eligibility import rescreen, screen
from services.grants.domain.money import add_months, fen_text, mean_half_up, share_within, split_tranches, yuan
from services.grants.domain.review import Candidate, Ranked, Reviewer, assign, final_score, rank, reviewer_total
from services.grants.domain.standing import (
    apply_rating_event,
    apply_registry_event,
    grade_on,
    new_standing,
    standing_from_registry_answer,
)

# -- money ------------------------------------------------------------------------------------------


def test_tranches_floor_and_the_last_takes_the_remainder():
    assert split_tranches(10_000_001, [3333, 3333, 3334]) == [3_333_000, 3_333_000, 3_334_001]
    assert split_tranches(100, [3000, 3000, 4000]) == [30, 30, 40]
    assert split_tranches(7, [5000, 5000]) == [3, 4]


@given(
    st.integers(min_value=0, max_value=10**15),
    st.lists(st.integers(min_value=1, max_value=9999), min_size=1, max_size=6),
)
def test_tranches_always_sum_to_the_award(amount, parts):
    if sum(parts) >= 10_000:
        return
    bps = [*parts, 10_000 - sum(parts)]
    tranches = split_tranches(amount, bps)
    assert sum(tranches) == amount
    assert all(t >= 0 for t in tranches)


def test_a_schedule_that_does_not_sum_to_10000_is_refused():
    with pytest.raises(ValueError, match="9000"):
        split_tranches(100, [5000, 4000])


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2025, 3, 31), -1, date(2025, 2, 28)),
        (date(2024, 3, 31), -1, date(2024, 2, 29)),
        (date(2026, 3, 2), -12, date(2025, 3, 2)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2026, 3, 2), -24, date(2024, 3, 2)),
    ],
)
def test_calendar_months_are_clipped_to_the_month_end(day, months, expected):
    assert add_months(day, months) == expected


def test_caps_are_integer_comparisons():
    assert share_within(60_000_00, 100_000_00, 6000)
    assert not share_within(60_000_01, 100_000_00, 6000)
    assert fen_text(-200000) == "-2000.00" and yuan(123456789) == "¥1,234,567.89"
    assert mean_half_up([8550, 8551]) == 8551  # 85.505 → 85.51
    assert mean_half_up([8550, 8550, 8551]) == 8550


CAPS = Caps(min_award_fen=1_000_000, max_award_fen=10_000_000, max_grant_bp=6000, personnel_cap_bp=4000)
LINES = [BudgetLine("personnel", 4_000_000), BudgetLine("activities", 5_000_000), BudgetLine("materials", 1_000_000)]


def test_a_coherent_budget_passes_and_reports_its_totals():
    totals = check_money(CAPS, LINES, 6_000_000)
    assert (totals.project_budget_fen, totals.self_raised_fen, totals.personnel_fen) == (
        10_000_000,
        4_000_000,
        4_000_000,
    )


@pytest.mark.parametrize(
    ("requested", "lines", "rule"),
    [
        (10_000_001, [BudgetLine("activities", 30_000_000)], "application.over_cap"),
        (999_999, LINES, "application.below_minimum"),
        (6_000_001, LINES, "application.cofunding_too_low"),
        (
            5_000_000,
            [BudgetLine("personnel", 4_100_000), BudgetLine("activities", 5_900_000)],
            "application.personnel_over_cap",
        ),
        (5_000_000, [BudgetLine("activities", 4_000_000)], "application.budget_mismatch"),
        (5_000_000, [], "application.incomplete"),
    ],
)
def test_money_refusals_name_their_rule(requested, lines, rule):
    with pytest.raises(DomainError) as refused:
        check_money(CAPS, lines, requested)
    assert refused.value.rule == rule


def test_cofunding_refusal_tells_the_applicant_the_most_it_may_ask():
    with pytest.raises(DomainError) as refused:
        check_money(CAPS, LINES, 6_000_100)
    assert "at most ¥60,000.00" in refused.value.detail


# -- calls -------------------------------------------------------------------------------------------

OPENS = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
SPEC = CallSpec(
    call_type="venture_philanthropy",
    title="t",
    region_code="440111",
    budget_fen=100_000_000,
    min_award_fen=1_000_000,
    max_award_fen=10_000_000,
    max_grant_bp=6000,
    personnel_cap_bp=4000,
    opens_at=OPENS,
    closes_at=OPENS + timedelta(days=30),
    notice_working_days=5,
    tranches=(TrancheRule(4000, "signing"), TrancheRule(3000, "midterm_passed"), TrancheRule(3000, "final_passed")),
    rubric=(Criterion("a", "A", 5000), Criterion("b", "B", 5000)),
    reviewers_per_application=3,
    roadshow_weight_bp=0,
    tie_break="earlier_submission",
    funding_source="welfare_lottery",
    budget_classification_code="2081099",
    fiscal_year=2026,
    authorisation_number="x",
    rules=Rules(),
)


def test_a_coherent_call_has_no_errors():
    assert validate_call(SPEC) == []


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"tranches": (TrancheRule(4000, "signing"), TrancheRule(5000, "final_passed"))}, "tranches", "sum to 9000"),
        ({"max_award_fen": 200_000_000}, "max_award", "exceeds the budget"),
        ({"closes_at": OPENS}, "closes_at", "is not after opens_at"),
        ({"closes_at": OPENS - timedelta(seconds=1)}, "closes_at", "is not after opens_at"),
        ({"budget_fen": 0}, "budget", "no budget"),
        ({"rubric": (Criterion("a", "A", 5000),)}, "rubric", "sum to 5000"),
        ({"min_award_fen": 20_000_000}, "min_award", "exceeds max_award"),
        ({"tranches": (TrancheRule(5000, "final_passed"), TrancheRule(5000, "signing"))}, "tranches", "signing, then"),
    ],
)
def test_an_incoherent_call_is_refused_naming_the_field(changes, field, text):
    errors = validate_call(replace(SPEC, **changes))
    assert any(e["field"] == field and text in e["message"] for e in errors), errors


def test_service_purchase_needs_a_method_a_term_and_no_filed_groups():
    spec = replace(
        SPEC,
        call_type="service_purchase",
        rules=Rules(kinds=("social_group", "community_filed")),
        contract_term_months=24,
    )
    fields = {e["field"] for e in validate_call(spec)}
    assert {"procurement_method", "contract_term_justification", "eligibility.kinds"} <= fields
    assert purchase_rules(Rules()).major_violation_months == 36


def test_award_subsidies_name_an_amount_per_grade():
    spec = replace(SPEC, call_type="award_subsidy", rubric=(), amount_per_grade={"5A": 5_000_000, "6A": 1})
    assert [e["field"] for e in validate_call(spec)] == ["amount_per_grade.6A"]


def test_a_submission_one_second_late_is_refused_and_one_second_early_accepted():
    closes = OPENS + timedelta(days=30)
    submission_window(OPENS, closes, "open", closes - timedelta(seconds=1))
    with pytest.raises(DomainError) as late:
        submission_window(OPENS, closes, "open", closes)
    assert late.value.rule == "call.closed" and late.value.kind == "conflict"
    with pytest.raises(DomainError):
        submission_window(OPENS, closes, "closed", closes + timedelta(seconds=1))
    with pytest.raises(DomainError, match="opens at"):
        submission_window(OPENS, closes, "published", OPENS - timedelta(seconds=1))


# -- eligibility ---------------------------------------------------------------------------------------


def _within(code, region):
    prefix = region.rstrip("0") if len(region) == 6 and region != "100000" else region
    return code.startswith(prefix)


def org(**facts):
    doc = apply_registry_event(
        new_standing("o1"),
        "registered",
        {
            "kind": "social_service_agency",
            "region_code": "440111",
            "status": "active",
            "registered_on": "2019-06-01",
            "organization": {"org_id": "o1", "scheme": "CN-USCI", "id": "52440111MJK9980480", "name": "启智"},
        },
    )
    for verb, data in facts.get("registry", []):
        doc = apply_registry_event(doc, verb, data)
    for verb, data in facts.get("rating", []):
        doc = apply_rating_event(doc, verb, data)
    return doc


GRADE_2A = (
    "published",
    {"evaluation_id": "e1", "grade": "2A", "valid_from": "2023-01-01", "valid_until": "2027-12-31"},
)
GRADE_4A = (
    "published",
    {"evaluation_id": "e2", "grade": "4A", "valid_from": "2025-05-20", "valid_until": "2030-05-19"},
)
RULES = Rules(min_grade="3A", lookbacks=(Lookback("irregular", 12), Lookback("serious", 24)))
D = date(2026, 3, 2)


def reasons(doc, rules=RULES, on=D, **kw):
    return {r.rule: r.detail for r in screen(rules, doc, on=on, call_region="440111", within=_within, **kw).reasons}


def test_a_good_organization_is_eligible():
    assert reasons(org(rating=[GRADE_4A])) == {}


def test_min_grade_names_the_grade_held_and_its_validity():
    assert reasons(org(rating=[GRADE_2A])) == {
        "eligibility.min_grade": "min_grade: 3A required, organization holds 2A (valid until 2027-12-31)"
    }


def test_a_pending_grade_does_not_count_on_the_application_date():
    pending = (
        "published",
        {"evaluation_id": "e3", "grade": "5A", "valid_from": "2027-01-01", "valid_until": "2031-12-31"},
    )
    detail = reasons(org(rating=[pending]))["eligibility.min_grade"]
    assert "holds no grade in force on 2026-03-02" in detail and "5A pending from 2027-01-01" in detail


def test_a_revoked_grade_stops_counting_from_its_effective_date():
    doc = org(
        rating=[
            GRADE_4A,
            ("revoked", {"previous_grade": "4A", "reason": "serious_listing", "effective_on": "2026-02-01"}),
        ]
    )
    assert "4A ended 2026-02-01" in reasons(doc)["eligibility.min_grade"]
    assert grade_on(doc, date(2026, 1, 31)).grade == "4A"


def test_listing_within_the_look_back_window_fails_and_outside_it_passes():
    listed = [
        ("listed", {"listing_id": "l1", "list": "irregular", "listed_on": "2025-01-10"}),
        ("delisted", {"listing_id": "l1", "list": "irregular", "removed_on": "2025-03-02"}),
    ]
    doc = org(rating=[GRADE_4A], registry=listed)
    detail = reasons(doc)["eligibility.lookback.irregular"]
    assert "2025-01-10 – 2025-03-02, within 12 months before 2026-03-02" in detail
    assert reasons(doc, on=date(2026, 3, 3)) == {}  # removed the day before the window opened


def test_month_end_clipping_applies_to_look_backs():
    listed = [
        ("listed", {"listing_id": "l1", "list": "irregular", "listed_on": "2024-01-01"}),
        ("delisted", {"listing_id": "l1", "list": "irregular", "removed_on": "2025-02-28"}),
    ]
    doc = org(rating=[GRADE_4A], registry=listed)
    assert "eligibility.lookback.irregular" in reasons(doc, on=date(2026, 2, 28))
    one_month = Rules(lookbacks=(Lookback("irregular", 1),))
    assert "eligibility.lookback.irregular" in reasons(doc, rules=one_month, on=date(2025, 3, 31))  # 03-31 − 1 = 02-28


def test_every_failed_rule_is_listed_at_once():
    doc = org(
        rating=[GRADE_2A],
        registry=[
            ("listed", {"listing_id": "s", "list": "serious", "listed_on": "2026-01-05"}),
            ("deregistered", {"status": "deregistered", "deregistered_on": "2026-02-01"}),
        ],
    )
    doc["kind"] = "community_filed"
    doc["region_code"] = "440106"
    got = reasons(doc, other_applications=1, rules=replace(RULES, max_applications=1))
    assert set(got) == {
        "eligibility.status",
        "eligibility.kind",
        "eligibility.region",
        "eligibility.min_grade",
        "eligibility.credit_list",
        "eligibility.lookback.serious",
        "eligibility.max_applications",
    }
    assert got["eligibility.kind"].startswith("kind: filed community groups")


def test_filed_groups_are_admitted_only_where_the_call_says_so():
    doc = org(rating=[GRADE_4A])
    doc["kind"] = "community_filed"
    assert "eligibility.kind" in reasons(doc)
    assert reasons(doc, rules=replace(RULES, kinds=(*RULES.kinds, "community_filed"))) == {}


def test_annual_results_major_violations_and_investigations():
    rules = Rules(
        annual_results=("qualified", "basically_qualified"), major_violation_months=36, exclude_under_investigation=True
    )
    doc = org(
        registry=[
            ("annual_report_recorded", {"year": 2025, "result": "unqualified", "report_status": "on_time"}),
            (
                "penalty_recorded",
                {
                    "penalty_id": "p",
                    "penalty_type": "fine",
                    "fine": {"amount": "50000.00", "currency": "CNY"},
                    "decided_on": "2024-06-01",
                },
            ),
            ("investigation_opened", {"investigation_id": "i", "opened_on": "2026-02-01"}),
        ]
    )
    got = reasons(doc, rules=rules)
    assert "was unqualified (不合格)" in got["eligibility.annual_result"]
    assert "fine of ¥50,000.00" in got["eligibility.major_violation"]
    assert "under investigation since 2026-02-01" in got["eligibility.investigation"]


def test_rescreen_adds_the_continuing_rules_on_the_later_day():
    before = org(rating=[GRADE_4A])
    assert screen(RULES, before, on=D, call_region="440111", within=_within).eligible
    after = apply_registry_event(before, "listed", {"listing_id": "l9", "list": "irregular", "listed_on": "2026-03-10"})
    again = rescreen(RULES, after, on=D, today=date(2026, 3, 12), call_region="440111", within=_within)
    assert not again.eligible
    assert {r.rule for r in again.reasons} == {"eligibility.credit_list", "eligibility.lookback.irregular"}
    assert all("(after submission)" in r.detail for r in again.reasons)
    downgraded = apply_rating_event(
        before,
        "downgraded",
        {
            "previous_grade": "4A",
            "grade": "2A",
            "effective_on": "2026-03-11",
            "valid_from": "2026-03-11",
            "valid_until": "2030-05-19",
        },
    )
    again = rescreen(RULES, downgraded, on=D, today=date(2026, 3, 12), call_region="440111", within=_within)
    assert [r.rule for r in again.reasons] == ["eligibility.min_grade"]
    assert "holds 2A" in again.reasons[0].detail


def test_the_registry_answer_seeds_a_standing_without_grades():
    doc = standing_from_registry_answer(
        "o1",
        {
            "kind": "social_group",
            "region_code": "440111",
            "status": "active",
            "sequence": 7,
            "organization": {"scheme": "CN-USCI", "id": "51440111X", "name": "n"},
            "listings": [{"id": "l1", "list": "irregular", "listed_on": "2025-06-01", "removed_on": None}],
            "current_grade": {"grade": "5A", "valid_from": "2025-01-01", "valid_until": "2029-12-31"},
        },
    )
    assert doc["listings"][0]["listing_id"] == "l1" and doc["grades"] == []


def test_double_funding_is_a_warning_for_same_titles_with_overlapping_periods():
    assert title_key(" 长者 饭堂ＡＢ ") == "长者饭堂ab"
    other = Funded("长者饭堂 AB", date(2026, 1, 1), date(2026, 12, 31), "application x")
    warnings = double_funding("长者饭堂ab", date(2026, 5, 1), date(2027, 4, 30), [other], [])
    assert [w.rule for w in warnings] == ["double_funding"]
    assert double_funding("长者饭堂ab", date(2027, 1, 1), date(2027, 4, 30), [other], []) == []


# -- awards, review, payments ------------------------------------------------------------------------------


def test_a_batch_beyond_the_remaining_budget_is_refused_as_a_whole_naming_the_shortfall():
    fit_budget(300, [100, 200])
    with pytest.raises(DomainError) as refused:
        fit_budget(299, [100, 200])
    assert refused.value.rule == "budget.exceeded" and refused.value.extra["shortfall"] == {
        "amount": "0.01",
        "currency": "CNY",
    }


def test_tranches_follow_the_call_schedule():
    plan = tranches_for(6_000_001, [TrancheRule(4000, "signing"), TrancheRule(6000, "final_passed")])
    assert [(t.tranche_no, t.amount_fen, t.trigger) for t in plan] == [
        (1, 2_400_000, "signing"),
        (2, 3_600_001, "final_passed"),
    ]
    assessment = assessment_plan(
        {"template_id": "t", "pass_threshold": "60.00", "midterm_months": 6}, date(2026, 8, 31), date(2027, 4, 30)
    )
    assert assessment["midterm_due"] == "2027-02-28" and assessment["final_due"] == "2027-04-30"


def test_objections_only_during_the_notice():
    ends = datetime(2026, 3, 10, 16, tzinfo=UTC)
    check_objection_window("noticed", ends, ends - timedelta(seconds=1))
    with pytest.raises(DomainError):
        check_objection_window("noticed", ends, ends)


def test_review_scores_are_weighted_and_ranked_with_the_tie_break():
    rubric = [Criterion("need", "需求", 3000), Criterion("design", "设计", 4000), Criterion("cap", "能力", 3000)]
    assert reviewer_total(rubric, {"need": 9000, "design": 8550, "cap": 8000}) == 8520
    with pytest.raises(DomainError, match="not scored"):
        reviewer_total(rubric, {"need": 9000})
    assert final_score(8000, 9000, 2000) == 8200
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    entries = [
        Ranked("b", 8000, 5_000_000, t0 + timedelta(hours=1), None),
        Ranked("a", 8000, 6_000_000, t0, None),
        Ranked("c", 9000, 1, t0, None),
    ]
    assert [e.application_id for _, e in rank(entries, "earlier_submission")] == ["c", "a", "b"]
    assert [e.application_id for _, e in rank(entries, "lower_request")] == ["c", "b", "a"]


def test_assignment_balances_load_and_never_picks_a_conflicted_reviewer():
    pool = [Reviewer("r1", frozenset({"org-a"})), Reviewer("r2", frozenset()), Reviewer("r3", frozenset())]
    pairs, short = assign(pool, [Candidate("x", "org-a"), Candidate("y", "org-b")], 2, {}, {})
    assert {s for a, s in pairs if a == "x"} == {"r2", "r3"}
    assert len([s for a, s in pairs if a == "y"]) == 2 and short == {}
    pairs, short = assign(pool, [Candidate("x", "org-a")], 3, {}, {"x": {"r2"}})
    assert pairs == [("x", "r3")] and short == {"x": 2}


def test_paid_only_for_the_open_instruction_and_never_twice():
    open_ = Attempt("i1", "open", None)
    assert decide_posting("released", open_, Posting("i1", "paid", "B1")) == "paid"
    with pytest.raises(DomainError) as twice:
        decide_posting("paid", Attempt("i1", "paid", "B1"), Posting("i1", "paid", "B2"))
    assert twice.value.rule == "payment.already_paid"
    with pytest.raises(DomainError) as stale:
        decide_posting("released", Attempt("i1", "failed", None), Posting("i1", "paid", "B1"))
    assert stale.value.rule == "payment.instruction_superseded"
    with pytest.raises(DomainError) as unknown:
        decide_posting("released", None, Posting("i9", "paid", "B1"))
    assert unknown.value.rule == "payment.instruction_unknown"
    assert decide_posting("released", open_, Posting("i1", "failed", "F1")) == "failed"
    assert decide_posting("paid", Attempt("i1", "paid", "B1"), Posting("i1", "reversed", "R1")) == "reversed"
    with pytest.raises(DomainError, match="only a paid instruction"):
        decide_posting("released", open_, Posting("i1", "reversed", "R1"))
    require_retryable("failed", "signed")
    with pytest.raises(DomainError):
        require_retryable("released", "signed")
    with pytest.raises(DomainError):
        require_retryable("failed", "suspended")
