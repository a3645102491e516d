"""Names, authority, credit-list periods and grades in force (DOMAIN.md §1–2)."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from services.registry.domain import credit, names, organizations
from services.registry.domain.organizations import Actor
from services.registry.domain.standing import GradeSpan, grade_on, pending_grade, status_on


def test_names_are_trimmed_and_collapsed_but_never_rewritten():
    name, findings = names.clean_name("  广州市  启智（筹）\t服务中心 ")
    assert findings == [] and name == "广州市 启智（筹） 服务中心"


def test_name_key_is_nfkc_casefold_without_whitespace():
    assert names.name_key("ＡＢＣ 启智（筹）") == names.name_key("abc启智(筹)") == "abc启智(筹)"


def test_control_zero_width_bidi_and_nul_are_refused():
    for bad in ("启智\u200b中心", "启智\u202e中心", "启智\x00中心", "启智\x07中心"):
        assert [f.rule for f in names.clean_name(bad)[1]] == ["name.invalid_characters"]


@settings(max_examples=1000)
@given(st.text(min_size=1, max_size=30))
def test_the_key_has_no_whitespace_and_is_stable(text):
    key = names.name_key(text)
    assert not any(c.isspace() for c in key)
    assert names.name_key(key) == key


def test_grams_answer_one_and_two_character_queries():
    grams = names.name_grams(names.name_key("白云区养老服务中心"))
    assert "养老" in grams and "养" in grams and "服务" in grams and "养服" not in grams


def test_street_officers_file_county_officers_register():
    street, county = Actor("officer", "440111002"), Actor("officer", "440111")
    assert organizations.authority_to_file(street, "440111002", ()) is None
    assert organizations.authority_to_file(county, "440111002", ()).rule == "registry.authority.filing_level"
    assert (
        organizations.authority_to_register(street, "social_group", "440111").rule
        == "registry.authority.register_level"
    )
    assert organizations.authority_to_register(county, "social_group", "440111") is None
    # Shenzhen-like preset: district offices file
    assert organizations.authority_to_file(Actor("officer", "440304"), "440304001", ("4403",)) is None


def test_foundations_are_registered_by_the_province_or_above():
    assert (
        organizations.authority_to_register(Actor("officer", "440100"), "foundation", "440100").rule
        == "registry.authority.foundation_level"
    )
    assert organizations.authority_to_register(Actor("officer", "440000"), "foundation", "440000") is None


def test_out_of_region_registration_is_refused():
    assert (
        organizations.authority_to_register(Actor("officer", "440111"), "social_group", "440106").rule
        == "registry.authority.out_of_region"
    )


def test_annual_report_deadlines_per_kind():
    assert organizations.annual_report_deadline("foundation", direct=True, year=2025) == date(2026, 3, 31)
    assert organizations.annual_report_deadline("social_group", direct=False, year=2025) == date(2026, 5, 31)
    assert organizations.annual_report_deadline("community_filed", direct=True, year=2025) is None


def test_month_arithmetic_clips_to_month_end():
    assert credit.add_months(date(2025, 3, 31), -1) == date(2025, 2, 28)
    assert credit.auto_removal_on(date(2025, 8, 31)) == date(2026, 2, 28)
    assert credit.escalation_on(date(2024, 2, 29)) == date(2026, 2, 28)


def _listing(list_="serious", listed_on=date(2024, 3, 1), reason_code="major_fine", rectifiable=False):
    return credit.ListingFacts(list_, reason_code, listed_on, None, rectifiable)


def test_serious_listing_stays_two_clean_years_and_a_new_trigger_restarts_the_clock():
    early = credit.removal_refusal(
        _listing(),
        "clean_period",
        removed_on=date(2026, 2, 28),
        rectification_verified_on=None,
        org_status="active",
        last_trigger_on=None,
    )
    assert early is not None and early.rule == "credit_listing.serious_too_early"
    assert (
        credit.removal_refusal(
            _listing(),
            "clean_period",
            removed_on=date(2026, 3, 1),
            rectification_verified_on=None,
            org_status="active",
            last_trigger_on=None,
        )
        is None
    )
    restarted = credit.removal_refusal(
        _listing(),
        "clean_period",
        removed_on=date(2026, 3, 1),
        rectification_verified_on=None,
        org_status="active",
        last_trigger_on=date(2025, 1, 10),
    )
    assert restarted is not None and "2027-01-10" in restarted.message


def test_serious_listing_for_revocation_leaves_after_deregistration():
    listing = _listing(reason_code="licence_revoked")
    assert (
        credit.removal_refusal(
            listing,
            "deregistered",
            removed_on=date(2024, 5, 1),
            rectification_verified_on=None,
            org_status="deregistered",
            last_trigger_on=None,
        )
        is None
    )
    assert (
        credit.removal_refusal(
            listing,
            "deregistered",
            removed_on=date(2024, 5, 1),
            rectification_verified_on=None,
            org_status="active",
            last_trigger_on=None,
        )
        is not None
    )


def test_irregular_listing_with_nothing_to_rectify_expires_after_six_months_only():
    listing = _listing("irregular", date(2025, 9, 1), "minor_penalty", rectifiable=False)
    assert (
        credit.removal_refusal(
            listing,
            "expired",
            removed_on=date(2026, 2, 28),
            rectification_verified_on=None,
            org_status="active",
            last_trigger_on=None,
        ).rule
        == "credit_listing.too_early"
    )
    assert (
        credit.removal_refusal(
            listing,
            "expired",
            removed_on=date(2026, 3, 1),
            rectification_verified_on=None,
            org_status="active",
            last_trigger_on=None,
        )
        is None
    )


def test_rectified_removal_needs_the_verification_date():
    listing = _listing("irregular", date(2025, 9, 1), "unreachable", rectifiable=True)
    assert (
        credit.removal_refusal(
            listing,
            "rectified",
            removed_on=date(2026, 1, 5),
            rectification_verified_on=None,
            org_status="active",
            last_trigger_on=None,
        ).rule
        == "credit_listing.rectification_unverified"
    )
    assert (
        credit.removal_refusal(
            listing,
            "rectified",
            removed_on=date(2026, 1, 5),
            rectification_verified_on=date(2026, 1, 2),
            org_status="active",
            last_trigger_on=None,
        )
        is None
    )


def test_penalty_triggers():
    assert credit.penalty_triggers("fine", 50_000_00, 0) == [("serious", "major_fine")]
    assert credit.penalty_triggers("fine", 49_999_99, 1) == [("irregular", "minor_penalty")]
    assert credit.penalty_triggers("warning", None, 2) == [("serious", "repeated_minor_penalties")]
    assert credit.penalty_triggers("suspension", None, 0) == [("serious", "suspension_penalty")]


def test_grade_in_force_and_pending():
    old = GradeSpan("3A", date(2022, 1, 1), date(2026, 12, 31))
    new = GradeSpan("4A", date(2027, 1, 1), date(2031, 12, 31))
    assert grade_on([old, new], date(2026, 6, 10)).grade == "3A"
    assert pending_grade([old, new], date(2026, 6, 10)).grade == "4A"
    assert grade_on([old, new], date(2027, 1, 1)).grade == "4A"
    revoked = GradeSpan("3A", date(2022, 1, 1), date(2026, 12, 31), ended_on=date(2026, 4, 30))
    assert grade_on([revoked], date(2026, 5, 1)) is None


def test_status_on_a_date():
    assert (
        status_on(date(2019, 1, 1), started_on=date(2019, 6, 1), deregistered_on=None, revoked_on=None)
        == "not_registered"
    )
    assert (
        status_on(date(2026, 3, 1), started_on=date(2019, 6, 1), deregistered_on=date(2026, 3, 2), revoked_on=None)
        == "active"
    )
    assert (
        status_on(date(2026, 3, 2), started_on=date(2019, 6, 1), deregistered_on=date(2026, 3, 2), revoked_on=None)
        == "deregistered"
    )
