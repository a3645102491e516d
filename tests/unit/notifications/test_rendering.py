"""Every notification type renders in Simplified Chinese and in English, from producers' payloads."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError

from services.notifications.domain import catalogue, rendering
from services.notifications.domain.messages_en import EN
from services.notifications.domain.messages_zh import ZH
from tests.unit.notifications.samples import MUST_MENTION, ORG_NAME, SAMPLES

EVENT_TYPES = sorted(name for name, t in catalogue.TYPES.items() if t.from_event)
REMINDER_CONTEXTS = {
    "reminder.call_closing": {
        "org": ORG_NAME,
        "call_title": "2026年白云区公益创投活动",
        "closes_at": "2026-03-31T16:00:00+00:00",
    },
    "reminder.notice_ending": {"org": ORG_NAME, "ends_at": "2026-04-27T16:00:00+00:00", "notice_kind": "rating"},
    "reminder.annual_report_due": {
        "org": ORG_NAME,
        "report_year": 2025,
        "deadline": "2026-05-31",
        "dual_managed": False,
    },
    "reminder.assessment_due": {"org": ORG_NAME, "award_id": "A-1", "stage": "midterm", "due_on": "2026-09-30"},
    "digest.daily": {
        "today": "2026-03-03",
        "total": 3,
        "items": [
            {"title": "公示异议：某组织", "created_at": "2026-03-02T03:00:00+00:00"},
            {"title": "评估复核申请：某组织", "created_at": "2026-03-02T05:30:00+00:00"},
        ],
    },
}


def context(name: str) -> dict:
    if name in REMINDER_CONTEXTS:
        return REMINDER_CONTEXTS[name]
    data = SAMPLES[name]
    org = data.get("organization", {}).get("name", "")
    return {"d": data, "org": org, "event": {"id": "e-1", "type": f"cn.gongyi.{name}.v1", "subject": "x/1"}}


def test_every_type_has_a_template_in_both_languages():
    assert set(ZH) == set(catalogue.TYPES) == set(EN)


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("name", sorted(catalogue.TYPES))
def test_every_type_renders(name, locale):
    out = rendering.render(name, locale, context(name))
    assert out.locale == locale
    assert out.subject and out.body
    text = out.subject + "\n" + out.body
    for leftover in ("{{", "}}", "{%", "None", "Undefined", "neutral"):
        assert leftover not in text, (name, locale, text)
    if "org" in catalogue.TYPES[name].audiences and context(name).get("org"):
        assert ORG_NAME in text, (name, locale, text)
    if locale == "zh-CN":
        assert any("\u4e00" <= c <= "\u9fff" for c in out.subject)
    for fact in MUST_MENTION.get(name, []):
        assert fact in text, (name, fact, text)


def test_chinese_money_dates_and_instants():
    out = rendering.render("grants.award.confirmed", "zh-CN", context("grants.award.confirmed"))
    assert "50,000.00 元" in out.subject
    assert "2026年4月28日" in out.body
    notice = rendering.render("grants.award.publicly_noticed", "zh-CN", context("grants.award.publicly_noticed"))
    assert "2026年4月27日24:00" in notice.body  # 16:00Z is 24:00 Beijing time


def test_english_money_dates_and_instants():
    out = rendering.render("grants.award.confirmed", "en", context("grants.award.confirmed"))
    assert "CNY 50,000.00" in out.subject and "28 April 2026" in out.body
    submitted = rendering.render("grants.application.submitted", "en", context("grants.application.submitted"))
    assert "10 March 2026, 10:30 (Beijing time)" in submitted.body


def test_missing_fields_render_empty_instead_of_failing():
    out = rendering.render("grants.award.confirmed", "zh-CN", {"d": {}, "org": ""})
    assert out.subject and "None" not in out.body


def test_reasons_of_ineligibility_are_listed_with_their_basis():
    out = rendering.render("grants.application.screened", "zh-CN", context("grants.application.screened"))
    assert "资格审查未通过" in out.subject
    assert "· 原因：未达到3A等级（依据：本次申报通知 第三条（3A及以上））" in out.body


def test_an_unknown_locale_falls_back_to_english():
    assert rendering.render("grants.award.confirmed", "fr", context("grants.award.confirmed")).locale == "en"


def test_templates_run_in_a_sandbox():
    env = rendering._environment("zh-CN")
    with pytest.raises(SecurityError):
        env.from_string("{{ d.__class__.__mro__[1].__subclasses__() }}").render(d={})
    # and a payload carrying template syntax is data, never code
    out = rendering.render("grants.call.cancelled", "zh-CN", {"d": {"call_id": "{{ 7 * 7 }}", "reason": "{% x %}"}})
    assert "{{ 7 * 7 }}" in out.body and "49" not in out.body


def test_a_broken_template_falls_back_to_a_neutral_message(monkeypatch):
    monkeypatch.setitem(rendering.CATALOGUES["zh-CN"], "grants.award.confirmed", "{{ d.amount | money(1, 2, 3) }}")
    rendering._template.cache_clear()
    try:
        out = rendering.render("grants.award.confirmed", "zh-CN", {"d": {}, "event": {"subject": "awards/1"}})
        assert out.subject == "新通知：grants.award.confirmed" and "awards/1" in out.body
    finally:
        rendering._template.cache_clear()
