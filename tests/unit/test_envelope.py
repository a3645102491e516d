"""The CloudEvents envelope: ids, sequence rendering, parsing (EVENTS.md)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import envelope
from shared.envelope import InvalidEnvelope

CLOUDEVENTS_SCHEMA = {
    "type": "object",
    "required": ["specversion", "id", "source", "type"],
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {"type": "string", "minLength": 1},
        "source": {"type": "string", "format": "uri-reference", "minLength": 1},
        "type": {"type": "string", "minLength": 1},
        "time": {"type": "string", "format": "date-time"},
        "sequence": {"type": "string", "pattern": "^[0-9]{20}$"},
    },
}


def sample(**data):
    return envelope.new_event(
        source="urn:gongyi:test:grants", type_=envelope.event_type("grants", "award", "decided"),
        subject="awards/a1", key="a1", data=data or {"award_id": "a1"},
        time=datetime(2026, 3, 2, 1, 0, tzinfo=UTC), correlationid="req-1",
    )


def test_event_ids_are_time_ordered_uuid_v7():
    first, second = sample(), sample()
    assert uuid.UUID(first.id).version == 7
    assert first.id < second.id


def test_the_rendered_body_is_a_valid_structured_cloudevent_with_a_20_digit_sequence():
    event = sample(amount={"amount": "50000.00", "currency": "CNY"})
    body = envelope.render(envelope.encode_without_sequence(event), 42)
    raw = json.loads(body)
    jsonschema.validate(raw, CLOUDEVENTS_SCHEMA)
    assert raw["sequence"] == "00000000000000000042"
    assert raw["type"] == "cn.gongyi.grants.award.decided.v1"
    assert raw["partitionkey"] == "a1" and raw["subject"] == "awards/a1"
    assert raw["time"] == "2026-03-02T01:00:00Z"
    assert raw["datacontenttype"] == "application/json"
    assert raw["dataschema"] == "urn:gongyi:schema:cn.gongyi.grants.award.decided.v1"


def test_rendering_is_deterministic_so_a_republished_row_has_the_same_bytes():
    stored = envelope.encode_without_sequence(sample())
    assert envelope.render(stored, 7) == envelope.render(stored, 7)


@given(st.integers(min_value=1, max_value=10**19))
def test_parse_reads_back_what_render_wrote(sequence):
    event = sample()
    parsed = envelope.parse(envelope.render(envelope.encode_without_sequence(event), sequence))
    assert parsed.id == event.id and parsed.sequence == sequence and parsed.data == event.data
    assert parsed.time == event.time


def test_unknown_extension_attributes_are_kept_by_the_tolerant_reader():
    raw = {**json.loads(sample().encode()), "tenant": "gz"}
    assert envelope.parse(json.dumps(raw).encode()).extensions == {"tenant": "gz"}


@pytest.mark.parametrize(
    "value",
    [b"not json", b"[]", b'{"specversion": "1.0"}', b'{"specversion": "0.3", "id": "1", "source": "s", "type": "t"}',
     b'{"specversion": "1.0", "id": "1", "source": "s", "type": "t", "data": [1]}',
     b'{"specversion": "1.0", "id": "1", "source": "s", "type": "t", "sequence": "x"}'],
)
def test_records_that_are_not_cloudevents_we_can_read_are_refused(value):
    with pytest.raises(InvalidEnvelope):
        envelope.parse(value)


def test_events_over_64_kib_are_refused_at_staging():
    with pytest.raises(ValueError, match="64 KiB"):
        envelope.encode_without_sequence(sample(blob="x" * 70_000))
