"""DOMAIN.md §1 test vectors and properties of the code validators."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.registry.domain import codes
from services.registry.domain.codes import (
    USCC_ALPHABET,
    check_id_number,
    check_uscc_for_registry,
    check_uscc_format,
    id_check_character,
    normalise_code,
    org_code_check_character,
    org_code_passes_check,
    uscc_check_character,
    uscc_passes_check,
)

TODAY = date(2026, 3, 2)


@pytest.mark.parametrize(
    "code",
    ["91350100M000100Y43", "51100000500019541K", "52440111MJK9980480", "52610500MJU60350X1", "52120000MJ0529018E"],
)
def test_valid_check_character_vectors_pass(code):
    assert uscc_passes_check(code)
    assert check_uscc_format(code) == []


@pytest.mark.parametrize("code", ["91350200M000000510", "91350128M00000019A"])
def test_invalid_check_character_vectors_fail(code):
    assert not uscc_passes_check(code)
    assert [f.rule for f in check_uscc_format(code)] == ["uscc.check_character"]


def test_123456789012345678_passes_mod31_fails_position_17_and_is_refused_by_the_registry():
    code = "123456789012345678"
    assert uscc_passes_check(code)
    assert not org_code_passes_check(code)
    findings = check_uscc_format(code)
    assert [(f.rule, f.warning) for f in findings] == [("uscc.organization_code_check", True)]
    rules = {f.rule for f in check_uscc_for_registry(code, kind="social_group", region_code="440111")}
    assert {"uscc.department", "uscc.division_unknown"} <= rules


def test_codes_are_normalised_before_checking():
    assert normalise_code(" 5244 0111-MJK998 0480 ") == "52440111MJK9980480"
    assert normalise_code("５２４４０１１１ｍｊｋ９９８０４８０") == "52440111MJK9980480"  # full-width, lower case


def test_letters_outside_the_alphabet_are_a_format_error():
    assert [f.rule for f in check_uscc_format("52440111MJK998048I")] == ["uscc.format"]
    assert [f.rule for f in check_uscc_format("5244011")] == ["uscc.length"]


def test_kind_digit_must_match_the_kind():
    rules = [f.rule for f in check_uscc_for_registry("52440111MJK9980480", kind="social_group", region_code="440111")]
    assert rules == ["uscc.kind_digit"]
    assert check_uscc_for_registry("52440111MJK9980480", kind="social_service_agency", region_code="440111") == []


def test_national_authority_and_city_authority_are_known():
    assert check_uscc_for_registry("51100000500019541K", kind="social_group", region_code="100000") == []
    assert check_uscc_for_registry("52610500MJU60350X1", kind="social_service_agency", region_code="610500") == []


def test_authority_different_from_region_is_refused_unless_renumbered():
    mismatch = check_uscc_for_registry("52440111MJK9980480", kind="social_service_agency", region_code="440100")
    assert [f.rule for f in mismatch] == ["uscc.authority_mismatch"]
    first17 = "52440524" + "MJ000001" + org_code_check_character("MJ000001")
    renumbered = first17 + uscc_check_character(first17)  # 440524 潮阳县 existed 1983–1993
    found = check_uscc_for_registry(renumbered, kind="social_service_agency", region_code="440513")
    assert [(f.rule, f.warning) for f in found] == [("uscc.division_renumbered", True)]


@pytest.mark.parametrize("number", ["11010519491231002X", "440524188001010014", "440111196001011232"])
def test_valid_citizen_ids(number):
    assert check_id_number(number, today=TODAY, field="id") == []


def test_invalid_citizen_id_check_digit():
    assert [f.rule for f in check_id_number("110105194912310021", today=TODAY, field="id")] == ["id_number.check_digit"]


def test_address_code_of_a_past_year_is_accepted_even_for_a_birth_year_before_it():
    # stdnum.cn.ric.validate refuses this real number: 440524 did not exist in 1880.
    from stdnum.cn import ric

    assert not ric.is_valid("440524188001010014")
    assert check_id_number("440524188001010014", today=TODAY, field="id") == []


def _with_check(first17: str) -> str:
    return first17 + id_check_character(first17)


def test_semantic_errors_are_separate_rules_from_the_check_digit():
    assert [f.rule for f in check_id_number(_with_check("99010519491231002"), today=TODAY, field="id")] == [
        "id_number.address_unknown"
    ]
    assert [f.rule for f in check_id_number(_with_check("11010519490231002"), today=TODAY, field="id")] == [
        "id_number.birth_date"
    ]
    assert [f.rule for f in check_id_number(_with_check("11010520300101002"), today=TODAY, field="id")] == [
        "id_number.birth_date"
    ]
    assert [f.rule for f in check_id_number("1101051949123100", today=TODAY, field="id")] == ["id_number.format"]


def test_masked_like_the_design_says():
    from shared.pii import mask_id_number

    assert mask_id_number("11010519491231002X") == "110105********002X"


def test_division_codes_known_in_any_year():
    assert codes.is_known_division("440111")
    assert codes.is_known_division("440524") and codes.is_historical_division("440524")
    assert not codes.is_known_division("449999")
    assert [f.rule for f in codes.check_region_code("449999", field="r")] == ["region.unknown"]
    assert codes.check_region_code("100000", field="r") == []


def test_street_codes_need_a_known_county_and_the_loaded_table():
    assert [f.rule for f in codes.check_region_code("440111002", field="r", street_known=True)] == []
    assert [f.rule for f in codes.check_region_code("440111999", field="r", street_known=False)] == [
        "region.unknown_street"
    ]
    missing = codes.check_region_code("440111002", field="r", street_known=None)
    assert [(f.rule, f.warning) for f in missing] == [("region.street_table_missing", True)]
    assert [f.rule for f in codes.check_region_code("449999001", field="r", street_known=True)] == ["region.unknown"]


@pytest.mark.parametrize(
    ("region", "prefix"),
    [
        ("100000", ""),
        ("440000", "44"),
        ("440100", "4401"),
        ("441900", "4419"),
        ("440111", "440111"),
        ("440111002", "440111002"),
    ],
)
def test_authority_prefix(region, prefix):
    assert codes.authority_prefix(region) == prefix


# -- properties --------------------------------------------------------------------------------

alphabet = st.sampled_from(USCC_ALPHABET)
body17 = st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17)


@settings(max_examples=300)
@given(body17)
def test_every_generated_code_with_its_check_character_passes(first17):
    assert uscc_passes_check(first17 + uscc_check_character(first17))


@settings(max_examples=300)
@given(body17, st.integers(min_value=0, max_value=17), alphabet)
def test_every_single_character_change_fails_the_check(first17, position, replacement):
    code = first17 + uscc_check_character(first17)
    if code[position] == replacement:
        replacement = USCC_ALPHABET[(USCC_ALPHABET.index(replacement) + 1) % 31]
    changed = code[:position] + replacement + code[position + 1 :]
    assert not uscc_passes_check(changed)


org_body = st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8)


@settings(max_examples=200)
@given(org_body)
def test_every_generated_organization_code_passes_position_17_and_a_digit_change_fails_it(body8):
    code = "52440111" + body8 + org_code_check_character(body8) + "0"
    assert org_code_passes_check(code)
    # a digit changed by one unit changes the weighted sum by its weight (coprime to 11)
    i = next((k for k, c in enumerate(body8) if c.isdigit() and c != "9"), None)
    if i is not None:
        changed = body8[:i] + str(int(body8[i]) + 1) + body8[i + 1 :]
        assert not org_code_passes_check("52440111" + changed + code[16] + "0")


id17 = st.from_regex(r"\A[0-9]{17}\Z", fullmatch=True)


@settings(max_examples=300)
@given(id17)
def test_every_generated_citizen_id_has_a_valid_check_digit(first17):
    findings = check_id_number(first17 + id_check_character(first17), today=TODAY, field="id")
    assert "id_number.check_digit" not in {f.rule for f in findings}
    assert "id_number.format" not in {f.rule for f in findings}


@settings(max_examples=300)
@given(id17, st.integers(min_value=0, max_value=17), st.sampled_from("0123456789X"))
def test_every_single_character_change_of_a_citizen_id_fails_its_check(first17, position, replacement):
    number = first17 + id_check_character(first17)
    if number[position] == replacement or (position < 17 and replacement == "X"):
        return
    changed = number[:position] + replacement + number[position + 1 :]
    assert [f.rule for f in check_id_number(changed, today=TODAY, field="id")] == ["id_number.check_digit"]
