"""CloudEvents 1.0 structured-mode envelope (EVENTS.md).

Contract:
- `new_event(...)` fixes the event id (UUIDv7) when the outbox row is written; that id is reused by
  every publish retry, redrive and webhook attempt.
- The outbox stores `encode_without_sequence(event)`; `render(body, sequence)` adds the per-key
  `sequence` (20-digit zero-padded decimal) deterministically, so the same row always yields the
  same bytes.
- `parse(value)` accepts any structured CloudEvent JSON with the attributes we require and keeps
  unknown extension attributes (tolerant reader); it raises `InvalidEnvelope` otherwise.
- `routing_headers(event)` are the Kafka headers copied from the envelope (`ce_id`, `ce_type`,
  `ce_source`, `ce_subject`, `content-type`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import uuid6

CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
SEQUENCE_DIGITS = 20
MAX_EVENT_BYTES = 64 * 1024


class InvalidEnvelope(ValueError):
    """The record is not a CloudEvent this system can read."""


def event_type(service: str, aggregate: str, verb: str, major: int = 1) -> str:
    return f"cn.gongyi.{service}.{aggregate}.{verb}.v{major}"


def schema_uri(type_: str) -> str:
    return f"urn:gongyi:schema:{type_}"


def format_sequence(sequence: int) -> str:
    return str(sequence).zfill(SEQUENCE_DIGITS)


@dataclass(frozen=True, slots=True)
class CloudEvent:
    id: str
    source: str
    type: str
    subject: str
    time: datetime
    partitionkey: str
    data: dict[str, Any]
    sequence: int | None = None
    correlationid: str | None = None
    causationid: str | None = None
    dataschema: str | None = None
    extensions: dict[str, Any] = field(default_factory=dict)

    def attributes(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "specversion": "1.0",
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "subject": self.subject,
            "time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "dataschema": self.dataschema or schema_uri(self.type),
            "partitionkey": self.partitionkey,
        }
        if self.correlationid:
            attrs["correlationid"] = self.correlationid
        if self.causationid:
            attrs["causationid"] = self.causationid
        attrs.update(self.extensions)
        if self.sequence is not None:
            attrs["sequence"] = format_sequence(self.sequence)
        return attrs

    def to_dict(self) -> dict[str, Any]:
        return {**self.attributes(), "data": self.data}

    def encode(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @property
    def effective_on(self) -> str | None:
        value = self.data.get("effective_on")
        return value if isinstance(value, str) else None


def new_event(
    *,
    source: str,
    type_: str,
    subject: str,
    key: str,
    data: dict[str, Any],
    time: datetime,
    correlationid: str | None = None,
    causationid: str | None = None,
) -> CloudEvent:
    return CloudEvent(
        id=str(uuid6.uuid7()),
        source=source,
        type=type_,
        subject=subject,
        time=time,
        partitionkey=key,
        data=data,
        correlationid=correlationid,
        causationid=causationid,
    )


def encode_without_sequence(event: CloudEvent) -> bytes:
    body = orjson.dumps({**event.attributes(), "data": event.data})
    if len(body) > MAX_EVENT_BYTES:
        raise ValueError(f"event {event.type} is {len(body)} bytes; the contract caps events at 64 KiB")
    return body


def render(body_without_sequence: bytes, sequence: int) -> bytes:
    """Insert `sequence` as the last attribute: a pure function of the stored row."""
    if not body_without_sequence.endswith(b"}"):
        raise InvalidEnvelope("stored event body is not a JSON object")
    return body_without_sequence[:-1] + b',"sequence":"' + format_sequence(sequence).encode() + b'"}'


_REQUIRED = ("specversion", "id", "source", "type")
_KNOWN = frozenset(
    {
        "specversion",
        "id",
        "source",
        "type",
        "subject",
        "time",
        "datacontenttype",
        "dataschema",
        "partitionkey",
        "sequence",
        "correlationid",
        "causationid",
        "data",
    }
)


def parse(value: bytes) -> CloudEvent:
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidEnvelope(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidEnvelope("a CloudEvent is a JSON object")
    missing = [name for name in _REQUIRED if not raw.get(name)]
    if missing:
        raise InvalidEnvelope(f"missing attributes: {', '.join(missing)}")
    if raw["specversion"] != "1.0":
        raise InvalidEnvelope(f"unsupported specversion {raw['specversion']!r}")
    data = raw.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidEnvelope("data must be a JSON object")
    sequence_raw = raw.get("sequence")
    try:
        sequence = int(sequence_raw) if sequence_raw is not None else None
        time = datetime.fromisoformat(raw["time"]) if raw.get("time") else datetime.fromtimestamp(0, UTC)
    except (TypeError, ValueError) as exc:
        raise InvalidEnvelope(f"bad attribute: {exc}") from None
    return CloudEvent(
        id=str(raw["id"]),
        source=str(raw["source"]),
        type=str(raw["type"]),
        subject=str(raw.get("subject") or ""),
        time=time,
        partitionkey=str(raw.get("partitionkey") or ""),
        data=data,
        sequence=sequence,
        correlationid=raw.get("correlationid"),
        causationid=raw.get("causationid"),
        dataschema=raw.get("dataschema"),
        extensions={k: v for k, v in raw.items() if k not in _KNOWN},
    )


def routing_headers(event: CloudEvent) -> list[tuple[str, bytes]]:
    return [
        ("ce_id", event.id.encode()),
        ("ce_type", event.type.encode()),
        ("ce_source", event.source.encode()),
        ("ce_subject", event.subject.encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]
