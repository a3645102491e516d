"""Who hears what, which notices are legal, and how preferences choose channels."""

from __future__ import annotations

import pytest

from services.notifications.domain import catalogue
from services.notifications.domain.preferences import (
    PreferenceError,
    Preferences,
    choose_channels,
    mask_email,
    normalize_email,
    normalize_locale,
    normalize_mobile,
    validate_preferences,
)

TYPES = catalogue.TYPES


def test_exactly_the_four_legal_categories_are_mandatory():
    mandatory = {name for name, t in TYPES.items() if t.mandatory}
    assert mandatory == {
        "registry.organization.listed",
        "registry.organization.delisted",
        "evaluation.rating.published",
        "evaluation.rating.downgraded",
        "evaluation.rating.revoked",
        "evaluation.rating.appeal_decided",
        "grants.award.decided",
        "grants.award.objection_upheld",
        "grants.award.confirmed",
        "grants.award.terminated",
        "grants.disbursement.payment_failed",
    }
    assert {t.legal for t in TYPES.values() if t.legal} == set(catalogue.LEGAL_BASIS)


def test_every_event_type_of_every_consumed_topic_is_known():
    topics = {catalogue.topic_of(t) for t in catalogue.CONSUMED_EVENT_TYPES}
    assert topics == {
        "registry.organization",
        "evaluation.round",
        "evaluation.rating",
        "evaluation.assessment",
        "grants.call",
        "grants.application",
        "grants.award",
        "grants.disbursement",
    }
    assert len(catalogue.CONSUMED_EVENT_TYPES) == 59


@pytest.mark.parametrize(
    ("name", "audiences"),
    [
        ("grants.application.submitted", ("org",)),
        ("evaluation.rating.assigned", ("evaluator",)),
        ("evaluation.rating.appealed", ("officers",)),
        ("grants.award.objection_filed", ("officers",)),
        ("evaluation.rating.conflict_declared", ("officers",)),
        ("grants.disbursement.payment_failed", ("org", "officers")),
        ("notifications.delivery.dead_lettered", ("officers",)),
        ("evaluation.round.closed", ("round_evaluators",)),
    ],
)
def test_domain_section_4_audiences(name, audiences):
    assert TYPES[name].audiences == audiences


def test_subscription_patterns():
    t = "cn.gongyi.grants.award.confirmed.v1"
    assert catalogue.matches("*", t)
    assert catalogue.matches("cn.gongyi.grants.award.*", t)
    assert catalogue.matches(t, t)
    assert not catalogue.matches("cn.gongyi.grants.disbursement.*", t)
    assert catalogue.valid_pattern("cn.gongyi.grants.*") and catalogue.valid_pattern(t)
    assert not catalogue.valid_pattern("cn.gongyi.grants.award.confirmed.v2")
    assert not catalogue.valid_pattern("grants.award.confirmed")
    assert catalogue.short_name(t) == "grants.award.confirmed" and catalogue.topic_of(t) == "grants.award"


def channels(name, *, prefs=Preferences(), chosen=("inbox", "email"), email=True, phone=False):
    return choose_channels(TYPES[name], channels=chosen, preferences=prefs, has_email=email, has_phone=phone)


def test_a_muted_optional_type_reaches_nobody_but_a_legal_notice_still_does():
    prefs = Preferences(muted_types=frozenset({"grants.application.submitted"}))
    assert channels("grants.application.submitted", prefs=prefs) == ()
    assert channels("grants.award.decided", prefs=prefs) == ("inbox", "email")


def test_legal_notices_go_to_inbox_and_email_whatever_the_channel_choice():
    assert channels("grants.disbursement.payment_failed", chosen=("inbox",)) == ("inbox", "email")
    assert channels("grants.disbursement.payment_failed", chosen=("inbox",), email=False) == ("inbox",)


def test_the_inbox_is_always_on_and_sms_needs_a_phone():
    assert channels("grants.application.submitted", chosen=("sms",)) == ("inbox",)
    assert channels("grants.application.submitted", chosen=("sms",), phone=True) == ("inbox", "sms")


def test_per_type_channels_override_the_default():
    prefs = Preferences(channels_by_type={"grants.application.submitted": frozenset({"inbox"})})
    assert channels("grants.application.submitted", prefs=prefs) == ("inbox",)
    assert channels("grants.application.reviewed", prefs=prefs) == ("inbox", "email")


def test_the_digest_holds_back_optional_emails_but_not_legal_ones():
    prefs = Preferences(digest="daily")
    assert channels("grants.award.objection_filed", prefs=prefs) == ("inbox",)
    assert channels("grants.disbursement.payment_failed", prefs=prefs) == ("inbox", "email")


def test_legal_or_unknown_types_cannot_be_muted():
    with pytest.raises(PreferenceError) as refused:
        validate_preferences(["grants.application.submitted", "grants.award.confirmed"], {})
    assert (refused.value.rule, refused.value.field) == ("preferences.mandatory_type", "muted_types.1")
    with pytest.raises(PreferenceError) as unknown:
        validate_preferences(["grants.nothing"], {})
    assert unknown.value.rule == "preferences.unknown_type"
    with pytest.raises(PreferenceError):
        validate_preferences([], {"grants.award.decided": ["pigeon"]})


def test_directory_fields():
    assert normalize_email("  Zhang.San@Example.ORG ") == "Zhang.San@example.org"
    assert mask_email("zhang.san@example.org") == "z********@example.org"
    assert normalize_mobile("+86 138-0000-0000") == "13800000000"
    assert normalize_locale("en-US") == "en" and normalize_locale("zh_Hans") == "zh-CN"
    for bad in ("no-at-sign", "a@b", "two@@example.org", "x@example.org\nBcc: y@example.org"):
        with pytest.raises(PreferenceError):
            normalize_email(bad)
    with pytest.raises(PreferenceError):
        normalize_mobile("020-12345678")
    with pytest.raises(PreferenceError):
        normalize_locale("fr")
