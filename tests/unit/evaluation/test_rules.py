"""Pure rules of the evaluation service: bands, templates, aggregation, validity, quorum, notices."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from services.evaluation.domain.bands import one_grade_down, parse_band_table
from services.evaluation.domain.points import Invalid, RuleBroken, fmt, mean_half_up, parse_points
from services.evaluation.domain.rating import (
    Quorum,
    affiliation_conflict,
    check_appeal_window,
    check_quorum,
    public_notice,
)
from services.evaluation.domain.rulesets import parse_rule_set, validity
from services.evaluation.domain.scoring import Sheet, aggregate, outliers
from services.evaluation.domain.templates import parse_template
from services.evaluation.handlers.catalog import PRESETS, plain
from shared.workdays import WorkingCalendar


def preset(folder: str, name: str) -> dict:
    return plain(yaml.safe_load((PRESETS / folder / f"{name}.yaml").read_text(encoding="utf-8")))


ANHUI = parse_band_table(preset("band-tables", "anhui-anqing"))
LUOYANG = parse_band_table(preset("band-tables", "henan-luoyang-chanhe"))
SHENZHEN = parse_band_table(preset("band-tables", "shenzhen"))
R2011 = parse_rule_set(preset("rule-sets", "national-2011"))
R2026 = parse_rule_set(preset("rule-sets", "national-2026"))
CALENDAR = WorkingCalendar.from_package()


# -- points --------------------------------------------------------------------------------------


def test_points_are_exact_hundredths_and_floats_are_refused():
    assert parse_points("912.5", "x") == 91250
    assert parse_points("0.05", "x") == 5
    assert parse_points(45, "x") == 4500
    for bad in (45.5, "45.555", "-1", "1e3", " 4", True, None):
        with pytest.raises(Invalid):
            parse_points(bad, "x")
    assert fmt(91250) == "912.50"


def test_the_mean_rounds_half_up_to_a_hundredth():
    assert mean_half_up([90000, 90001]) == 90001  # 900.005 → 900.01
    assert mean_half_up([90000, 90000, 90001]) == 90000  # 900.0033 → 900.00
    assert mean_half_up([92000, 93000, 91000]) == 92000


# -- bands -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "total", "grade"),
    [
        (ANHUI, "900.5", "3A"),  # DOMAIN.md §2: half-open [851, 901)
        (ANHUI, "901", "4A"),
        (ANHUI, "950", "5A"),  # the source's overlap at 950 resolved as ≥ 950 → 5A
        (ANHUI, "949.99", "4A"),
        (ANHUI, "701", "1A"),
        (ANHUI, "700.99", None),
        (LUOYANG, "0", "1A"),
        (LUOYANG, "899.99", "4A"),
        (LUOYANG, "900", "5A"),
        (SHENZHEN, "100", "5A"),  # [91, 100] is closed at 100
        (SHENZHEN, "91", "5A"),
        (SHENZHEN, "90.99", "4A"),
        (SHENZHEN, "50.99", None),
    ],
)
def test_band_tables_give_the_grade_of_a_total(table, total, grade):
    assert table.grade_for(parse_points(total, "t")) == grade


def _bands(*bands):
    return {"scale": 1000, "bands": [dict(zip(("grade", "from", "to"), b, strict=False)) for b in bands]}


def test_a_band_table_with_a_gap_is_refused():
    with pytest.raises(Invalid) as info:
        parse_band_table(_bands(("5A", "950"), ("4A", "900", "940"), ("3A", "850", "900")))
    assert "gap between 4A [900.00, 940.00) and 5A [950.00, ∞)" in str(info.value)


def test_a_band_table_with_an_overlap_is_refused():
    with pytest.raises(Invalid) as info:
        parse_band_table(_bands(("5A", "950"), ("4A", "900", "951")))
    assert "overlaps" in str(info.value)


def test_a_band_table_with_grades_out_of_order_or_twice_is_refused():
    with pytest.raises(Invalid):
        parse_band_table(_bands(("4A", "950"), ("5A", "900", "950")))
    with pytest.raises(Invalid):
        parse_band_table(_bands(("5A", "950"), ("5A", "900", "950")))


def test_downgrade_is_one_grade_and_1a_loses_its_grade():
    assert [one_grade_down(g) for g in ("5A", "4A", "3A", "2A", "1A")] == ["4A", "3A", "2A", "1A", None]


# -- templates ------------------------------------------------------------------------------------


def test_every_preset_template_adds_up_and_the_foundation_set_is_60_420_400_120():
    foundation = parse_template(preset("templates", "foundation-national"))
    assert [(code, fmt(m)) for code, _, m in foundation.groups] == [
        ("A", "60.00"),
        ("B", "420.00"),
        ("C", "400.00"),
        ("D", "120.00"),
    ]
    for name in ("social-group-example", "social-service-agency-example", "project-assessment-example"):
        doc = preset("templates", name)
        template = parse_template(doc)
        assert sum(m for _, _, m in template.groups) == template.total
        assert len(template.groups) == 4
    assert preset("templates", "social-group-example")["label"] == "example"
    assert parse_template(preset("templates", "social-service-agency-example")).groups[2][1] == "业务活动和诚信建设"


def test_a_template_whose_children_do_not_add_up_is_refused_naming_the_node():
    doc = preset("templates", "social-group-example")
    doc["indicators"][1]["children"][0]["children"][0]["max"] = "31"
    with pytest.raises(Invalid) as info:
        parse_template(doc)
    assert "indicator B1 组织机构 is worth 80.00 but its children add up to 81.00" in str(info.value)


def test_scores_above_a_leaf_max_or_for_unknown_leaves_are_refused_naming_the_indicator():
    template = parse_template(preset("templates", "social-group-example"))
    with pytest.raises(Invalid) as info:
        template.validate_scores({"A1": "30.01", "B1": "10", "Q9": "1"})
    fields = {e["field"]: e["message"] for e in info.value.errors}
    assert fields["scores.A1"] == "indicator A1 法人资格 is worth at most 30.00 points; got 30.01"
    assert "group, not a leaf" in fields["scores.B1"]
    assert "does not exist" in fields["scores.Q9"]
    assert info.value.rule == "scores.above_leaf_max"


def test_bonus_points_count_but_the_total_is_capped():
    template = parse_template(preset("templates", "social-group-example"))
    full = {code: leaf.max for code, leaf in template.leaves.items()}
    assert full["X1"] == 2000
    assert template.total_of(full, None) == 100000  # 1000 + 20 bonus → capped at the template's 1000
    assert template.total_of(full, 101000) == 101000  # a rule set may cap elsewhere


# -- aggregation ----------------------------------------------------------------------------------


def test_aggregation_means_spreads_and_outliers_against_the_median_of_the_others():
    sheets = [Sheet("a", {"A1": 2500}, 92000), Sheet("b", {"A1": 2600}, 93000), Sheet("c", {"A1": 2000}, 85000)]
    agg = aggregate(sheets, max_spread=5000, bands=ANHUI)
    assert fmt(agg.total) == "900.00" and agg.proposed_grade == "3A"
    assert fmt(agg.spread) == "80.00"
    assert fmt(agg.leaves["A1"].mean) == "23.67" and fmt(agg.leaves["A1"].spread) == "6.00"
    # c: |850 − median(920, 930) = 925| = 75 > 50 → outlier; a: |920 − 890| = 30; b: |930 − 885| = 45
    assert agg.outliers == ("c",)


def test_an_outlier_exactly_at_the_spread_is_not_flagged():
    assert outliers({"a": 90000, "b": 95000}, 5000) == ()
    assert outliers({"a": 90000, "b": 95001}, 5000) == ("a", "b")


@given(st.lists(st.integers(min_value=0, max_value=100000), min_size=1, max_size=9))
def test_the_mean_lies_between_min_and_max(values):
    mean = mean_half_up(values)
    assert min(values) <= mean <= max(values)


# -- validity (DOMAIN.md §2 examples) -------------------------------------------------------------


def test_national_2011_validity_runs_from_the_decision_to_the_day_before_its_fifth_anniversary():
    assert validity(R2011, decided_on=date(2026, 5, 20), announced_on=date(2026, 6, 10)) == (
        date(2026, 5, 20),
        date(2031, 5, 19),
    )
    assert validity(R2011, decided_on=date(2024, 2, 29), announced_on=date(2024, 3, 20)) == (
        date(2024, 2, 29),
        date(2029, 2, 28),
    )


def test_national_2026_validity_runs_from_next_january_for_five_calendar_years():
    assert validity(R2026, decided_on=date(2026, 5, 20), announced_on=date(2026, 6, 10)) == (
        date(2027, 1, 1),
        date(2031, 12, 31),
    )


def test_the_presets_record_their_policies():
    assert R2011.on_serious_listing == R2026.on_serious_listing == "revoke"
    assert R2011.appeal_decided_by == "review_committee" and R2026.appeal_decided_by == "evaluation_committee"
    assert R2011.check_working_days == 10
    mca = parse_rule_set(preset("rule-sets", "mca-2021"))
    assert mca.credit_lists == {"irregular", "serious"} and mca.annual_report_not_filed


# -- committee, notice, appeal, recusal ------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "rule"),
    [
        (Quorum(9, 6, 5), None),
        (Quorum(9, 5, 5), "decision.quorum"),
        (Quorum(9, 9, 4), "decision.majority"),  # a majority of all members, not of those present
        (Quorum(9, 7, 8), "decision.quorum_counts"),
    ],
)
def test_committee_quorum(q, rule):
    if rule is None:
        check_quorum(q, R2011)
        return
    with pytest.raises(RuleBroken) as info:
        check_quorum(q, R2011)
    assert info.value.rule == rule


def test_a_five_working_day_notice_across_the_spring_festival_counts_the_adjusted_saturday():
    # DOMAIN.md §5: published Thursday 2026-02-12 → ends at the end of Thursday 2026-02-26;
    # Saturday 2026-02-14 is an adjusted working day, 2026-02-15 … 2026-02-23 are holidays.
    notice = public_notice(CALENDAR, decided_at=datetime(2026, 2, 12, 2, 0, tzinfo=UTC), working_days=5)
    assert notice.starts_on == date(2026, 2, 12)
    assert notice.ends_at == datetime(2026, 2, 26, 16, 0, tzinfo=UTC)


def test_a_notice_across_national_day_counts_the_adjusted_saturday_10_october():
    # 2026-10-01 … 2026-10-07 are holidays; Saturday 2026-10-10 is an adjusted working day:
    # 10-08 (1), 10-09 (2), 10-10 (3), 10-12 (4), 10-13 (5)
    notice = public_notice(CALENDAR, decided_at=datetime(2026, 9, 30, 3, 0, tzinfo=UTC), working_days=5)
    assert notice.ends_at == datetime(2026, 10, 13, 16, 0, tzinfo=UTC)


def test_a_decision_late_in_the_evening_starts_the_notice_on_the_shanghai_date():
    notice = public_notice(CALENDAR, decided_at=datetime(2026, 3, 2, 17, 0, tzinfo=UTC), working_days=1)  # 01:00 03-03
    assert notice.starts_on == date(2026, 3, 3) and notice.ends_at == datetime(2026, 3, 4, 16, 0, tzinfo=UTC)


def test_an_appeal_after_the_notice_is_refused_naming_the_rule():
    ends = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)
    check_appeal_window(now=datetime(2026, 3, 9, 15, 59, 59, tzinfo=UTC), notice_ends_at=ends, rule_set=R2026)
    with pytest.raises(RuleBroken) as info:
        check_appeal_window(now=ends, notice_ends_at=ends, rule_set=R2026)
    assert info.value.rule == "appeal.notice_ended" and info.value.status == 409


def test_an_evaluator_who_left_less_than_two_years_ago_is_conflicted():
    assert affiliation_conflict(None, date(2026, 3, 2))
    assert affiliation_conflict(date(2024, 3, 3), date(2026, 3, 2))
    assert not affiliation_conflict(date(2024, 3, 2), date(2026, 3, 2))


def test_an_installation_without_its_presets_refuses_to_start_rather_than_run_without_rules(tmp_path):
    from services.evaluation.handlers.catalog import preset_documents

    kinds = [kind for kind, _ in preset_documents()]
    assert kinds.count("rule_set") == 3 and kinds.count("band_table") == 3 and kinds.count("template") == 4
    with pytest.raises(FileNotFoundError):
        preset_documents(tmp_path)
