"""Pure parts of the building blocks: relay waves, cursors, money, JSON depth, settings, scheduling."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.app import json_depth_exceeds
from shared.http import Cursor, Money, from_fen, to_fen
from shared.outbox import _Row, _waves
from shared.pii import generate_secret
from shared.problems import BadRequest
from shared.scheduler import Recurring
from shared.settings import ServiceSettings


def row(i: int, topic: str, key: str) -> _Row:
    return _Row(id=i, event_id=str(i), topic=topic, key=key, sequence=i, body=b"{}", traceparent=None, attempts=0)


def test_a_disbursement_waits_for_the_earlier_award_records_of_its_award():
    rows = [row(1, "grants.award", "a1"), row(2, "grants.award", "a1"), row(3, "grants.disbursement", "a1"),
            row(4, "grants.award", "a2"), row(5, "grants.award", "a1")]
    waves = [[r.id for r in wave] for wave in _waves(rows)]
    assert waves == [[1, 2, 4], [3], [5]]


@given(st.lists(st.tuples(st.sampled_from(["t1", "t2"]), st.sampled_from(["a", "b", "c"])), max_size=40))
def test_waves_keep_every_key_in_outbox_order_and_cross_topic_records_in_later_waves(items):
    rows = [row(i, topic, key) for i, (topic, key) in enumerate(items)]
    wave_of = {r.id: n for n, wave in enumerate(_waves(rows)) for r in wave}
    for a in rows:
        for b in rows:
            if a.key == b.key and a.id < b.id:
                assert wave_of[a.id] <= wave_of[b.id]
                if a.topic != b.topic:
                    assert wave_of[a.id] < wave_of[b.id]


@given(st.lists(st.one_of(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.text(max_size=20)), max_size=5))
def test_cursors_round_trip(values):
    assert Cursor.decode(Cursor.encode(values)) == values


def test_a_tampered_cursor_is_a_400():
    cursor = Cursor.encode(["2026-01-01", 5])
    tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    with pytest.raises(BadRequest):
        Cursor.decode(tampered)


@given(st.integers(min_value=0, max_value=10**15 - 1))
def test_money_strings_and_fen_convert_exactly(fen):
    assert to_fen(from_fen(fen)) == fen
    assert Money(amount=from_fen(fen)).fen == fen


@pytest.mark.parametrize("amount", ["1.5", "0.05", "1234567890123.99", "0"])
def test_valid_amounts_are_accepted(amount):
    assert Money(amount=amount).amount == amount


@pytest.mark.parametrize("amount", [1, 1.5, "1.234", "-1", "+1", "1e3", "01", "12345678901234", " 1", "NaN"])
def test_amounts_outside_the_grammar_are_refused(amount):
    with pytest.raises(ValidationError):
        Money(amount=amount)


def test_json_nesting_is_measured_outside_strings():
    assert not json_depth_exceeds(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', 32)
    assert json_depth_exceeds(b"[" * 33 + b"]" * 33, 32)
    assert not json_depth_exceeds(b"[" * 32 + b"]" * 32, 32)
    assert not json_depth_exceeds(b'{"a": "\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', 32)


class _Settings(ServiceSettings):
    service = "demo"


def test_production_refuses_placeholder_secrets_and_development_issuers():
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        _Settings(env="production", jwt_jwks_url="https://idp.example/jwks", jwt_issuer="https://idp.example")
    with pytest.raises(ValidationError, match="base64"):
        _Settings(env="production", secret_key="x" * 40, jwt_jwks_url="https://idp.example/jwks",
                  jwt_issuer="https://idp.example")
    with pytest.raises(ValidationError, match="JWKS"):
        _Settings(env="production", secret_key=generate_secret(), jwt_issuer="https://idp.example")
    with pytest.raises(ValidationError, match="development issuer"):
        _Settings(env="production", secret_key=generate_secret(), jwt_jwks_url="https://idp.example/jwks")
    ok = _Settings(env="production", secret_key=generate_secret(), jwt_jwks_url="https://idp.example/jwks",
                   jwt_issuer="https://idp.example")
    assert not ok.development
    assert _Settings(env="development").development


def test_service_settings_win_over_shared_ones(monkeypatch):
    monkeypatch.setenv("GONGYI_DEPLOYMENT", "shared")
    monkeypatch.setenv("GONGYI_DEMO_DEPLOYMENT", "mine")
    monkeypatch.setenv("GONGYI_TOPIC_PREFIX", "p.")
    settings = _Settings(env="test")
    assert settings.deployment == "mine" and settings.event_source == "urn:gongyi:mine:demo"
    assert settings.topic("grants.award") == "p.grants.award"
    assert settings.logical_topic("p.grants.award") == "grants.award"


def test_a_daily_job_is_due_at_its_local_time_in_shanghai():
    job = Recurring("grade.expire", time(1, 0))
    # 2026-03-01 16:30 UTC is 00:30 on 2 March in Shanghai: next 01:00 local is 17:00 UTC the same day
    assert job.next_due(datetime(2026, 3, 1, 16, 30, tzinfo=UTC)) == datetime(2026, 3, 1, 17, 0, tzinfo=UTC)
    assert job.next_due(datetime(2026, 3, 1, 17, 0, tzinfo=UTC)) == datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
