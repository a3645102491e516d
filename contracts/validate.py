"""Validate events and Kafka records against the event contract (contracts/README.md).

- `validate_event(event)` -> list of problems (empty when valid): the event's type must be one of
  `contracts/events/<type>.json`; the whole structured CloudEvent is validated against that JSON
  Schema (draft 2020-12, formats asserted), then against the rules JSON Schema cannot express
  (`partitionkey` = the topic's key field, `organization.org_id` = `org_id`, USCC check character,
  booking amount = ± the amount it books, booking budget line and fiscal year = the event's,
  tranche arithmetic, date order) and the 64 KiB cap.
- `validate_record(value, topic=, key=, headers=)` adds what the Kafka record carries: the topic
  the type belongs to, the key = `partitionkey`, the routing headers copied from the envelope.
  `<topic>.dlt` records are checked for the dead-letter headers only (their body may be the very
  record that could not be read).
- `validate_log({topic: records})` validates every record and the stream: `sequence` increases
  per (topic, key) (a republished record repeats the id and sequence of a record seen earlier,
  possibly a whole run of them after a relay crash; a sequence never names two ids), and every disbursement's
  `award_sequence` names a `grants.award` record of that award when that topic is given.

Only the standard library, `jsonschema`, `referencing` and PyYAML: any test can import it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parent
EVENTS_DIR = ROOT / "events"
ASYNCAPI_FILE = ROOT / "asyncapi.yaml"
DEFS_FILE = "_defs.json"

CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
MAX_EVENT_BYTES = 64 * 1024
SCHEMA_URN = "urn:gongyi:schema:"
ROUTING_HEADERS = {"ce_id": "id", "ce_type": "type", "ce_source": "source", "ce_subject": "subject"}
DLT_HEADERS = (
    "gongyi-dlt-group",
    "gongyi-dlt-original-topic",
    "gongyi-dlt-original-partition",
    "gongyi-dlt-original-offset",
    "gongyi-dlt-error-type",
    "gongyi-dlt-error-detail",
    "gongyi-dlt-attempts",
    "gongyi-dlt-first-failure-at",
)
TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader when built with libyaml
_USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]

# Every event type of the contract (one schema file each) and the topic each belongs to: the topic
# of `cn.gongyi.<service>.<aggregate>.<verb>.v<n>` is `<service>.<aggregate>`.
TYPES: frozenset[str] = frozenset(p.name.removesuffix(".json") for p in EVENTS_DIR.glob("cn.gongyi.*.json"))


def topic_of(type_: str) -> str | None:
    """The topic an event type is published on, or None for a type outside the contract."""
    if type_ not in TYPES:
        return None
    parts = type_.split(".")
    return f"{parts[2]}.{parts[3]}"


def _topics() -> dict[str, tuple[str, ...]]:
    topics: dict[str, list[str]] = {}
    for type_ in sorted(TYPES):
        topics.setdefault(str(topic_of(type_)), []).append(type_)
    return {topic: tuple(types) for topic, types in sorted(topics.items())}


# topic -> its event types
TOPICS: dict[str, tuple[str, ...]] = _topics()


# -- schemas -----------------------------------------------------------------------------------


_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]*$")
_URI_REFERENCE = re.compile(r"^[^\s<>\"{}|\\^`]*$")


def _is_date_time(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    return bool(_DATE_TIME.match(instance)) and datetime.fromisoformat(instance.upper()) is not None


def _is_uri(instance: object) -> bool:
    return not isinstance(instance, str) or bool(_URI.match(instance))


def _is_uri_reference(instance: object) -> bool:
    return not isinstance(instance, str) or bool(_URI_REFERENCE.match(instance))


def format_checker() -> FormatChecker:
    """Draft 2020-12's format checks plus RFC 3339 `date-time`, `uri` and `uri-reference`, which
    jsonschema only asserts with optional packages this project does not install."""
    checker = FormatChecker(Draft202012Validator.FORMAT_CHECKER.checkers)
    checker.checks("date-time", raises=ValueError)(_is_date_time)
    checker.checks("uri")(_is_uri)
    checker.checks("uri-reference")(_is_uri_reference)
    return checker


@cache
def registry() -> Registry:
    """Every file of contracts/events under its file name, so `_defs.json#/$defs/...` resolves as
    it does next to the files (relative to a type schema, which has no `$id`)."""
    resources = []
    for path in sorted(EVENTS_DIR.glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((path.name, Resource.from_contents(contents, default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


def schema_for(type_: str) -> dict[str, Any] | None:
    """The JSON Schema of one event type (the whole structured CloudEvent), or None."""
    if type_ not in TYPES:
        return None
    contents: dict[str, Any] = registry()[f"{type_}.json"].contents
    return contents


@cache
def _validator(type_: str) -> Draft202012Validator:
    return Draft202012Validator(schema_for(type_), registry=registry(), format_checker=format_checker())


@cache
def partition_keys() -> dict[str, str]:
    """topic -> the `data` field that is its Kafka key (the AsyncAPI channels' `x-gongyi-partition-key`)."""
    doc = yaml.load(ASYNCAPI_FILE.read_text(encoding="utf-8"), Loader=SAFE_LOADER)  # noqa: S506 - a safe loader
    return {
        channel["address"]: channel["x-gongyi-partition-key"]
        for channel in doc["channels"].values()
        if "x-gongyi-partition-key" in channel
    }


# -- events ------------------------------------------------------------------------------------


def _where(event: Mapping[str, Any]) -> str:
    return f"{event.get('type')} {event.get('id')}"


def validate_event(event: Mapping[str, Any]) -> list[str]:
    """Problems with one structured CloudEvent (a parsed JSON object); empty when it is valid."""
    if not isinstance(event, Mapping):
        return [f"an event is a JSON object, not {type(event).__name__}"]
    size = len(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    return _validate(event, size)


def _validate(event: Mapping[str, Any], size: int) -> list[str]:
    type_ = event.get("type")
    where = _where(event)
    problems: list[str] = []
    if size > MAX_EVENT_BYTES:
        problems.append(f"{where}: {size} bytes; events are capped at {MAX_EVENT_BYTES}")
    if not isinstance(type_, str) or type_ not in TYPES:
        return [*problems, f"{where}: unknown event type {type_!r} (no contracts/events/<type>.json)"]
    schema_problems = []
    for error in _validator(type_).iter_errors(event):
        leaf = best_match([error])
        path = "/".join(str(p) for p in leaf.absolute_path) or "(event)"
        message = leaf.message if len(leaf.message) <= 300 else leaf.message[:297] + "..."
        schema_problems.append(f"{where}: {path}: {message}")
    if schema_problems:
        return problems + sorted(set(schema_problems))
    return problems + [f"{where}: {p}" for p in _semantic(type_, event)]


def uscc_check_char(first17: str) -> str:
    """GB 32100-2015 check character (position 18) of the first 17 characters."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_valid(code: str) -> bool:
    return len(code) == 18 and all(c in USCC_ALPHABET for c in code) and uscc_check_char(code[:17]) == code[17]


def _amount(money: Any) -> Decimal | None:
    raw = money.get("amount") if isinstance(money, Mapping) else money
    try:
        return Decimal(str(raw)) if raw is not None else None
    except InvalidOperation:
        return None


# What each finance-relevant type books (docs/events.md): the data field whose amount is booked and
# the sign of the delta.
BOOKED_AS: dict[str, tuple[str, int]] = {
    "cn.gongyi.grants.award.decided.v1": ("amount", 1),
    "cn.gongyi.grants.award.objection_upheld.v1": ("amount", -1),
    "cn.gongyi.grants.award.terminated.v1": ("cancelled_unpaid", -1),
    "cn.gongyi.grants.disbursement.released.v1": ("amount", 1),
    "cn.gongyi.grants.disbursement.paid.v1": ("amount", 1),
    "cn.gongyi.grants.disbursement.payment_reversed.v1": ("amount", -1),
    "cn.gongyi.grants.disbursement.clawback_recorded.v1": ("clawback", -1),
}


def _semantic(type_: str, event: Mapping[str, Any]) -> list[str]:
    """The rules of the contract that JSON Schema cannot state (cross-field equalities, check
    characters, sums). Called only on schema-valid events."""
    problems: list[str] = []
    data: Mapping[str, Any] = event["data"]
    topic = str(topic_of(type_))
    key_field = partition_keys().get(topic)
    if key_field is not None and event["partitionkey"] != data.get(key_field):
        problems.append(f"partitionkey {event['partitionkey']!r} is not data.{key_field} {data.get(key_field)!r}")
    org = data.get("organization")
    if isinstance(org, Mapping):
        if "org_id" in data and org.get("org_id") != data["org_id"]:
            problems.append("data/organization/org_id differs from data/org_id")
        if org.get("scheme") == "CN-USCI" and not uscc_valid(str(org.get("id"))):
            problems.append(f"data/organization/id {org.get('id')!r}: the USCC check character is wrong")
    verb = type_.split(".")[4]
    if topic == "registry.organization" and verb in ("registered", "upgraded"):
        uscc = str(data.get("uscc") or (org or {}).get("id") or "")
        if verb == "upgraded" and not uscc_valid(uscc):
            problems.append(f"data/uscc {uscc!r}: the USCC check character is wrong")
        if verb == "upgraded" and isinstance(org, Mapping) and org.get("id") != uscc:
            problems.append("data/organization/id is not the new data/uscc")
        if data.get("registration_authority") != uscc[2:8]:
            problems.append("data/registration_authority is not positions 3-8 of the USCC")
    booking = data.get("booking")
    if isinstance(booking, Mapping):
        for field in ("budget_line", "fiscal_year"):
            if booking.get(field) != data.get(field):
                problems.append(f"data/booking/{field} {booking.get(field)!r} is not data/{field} {data.get(field)!r}")
        if type_ in BOOKED_AS:
            field, sign = BOOKED_AS[type_]
            booked, base = _amount(booking), _amount(data.get(field))
            if booked is None or base is None or booked != sign * base:
                expected = f"{'-' if sign < 0 else '+'}data/{field}/amount"
                problems.append(f"data/booking/amount {booking.get('amount')!r} is not {expected} ({base})")
    if topic == "grants.disbursement" and data["tranche_no"] > data["tranche_count"]:
        problems.append(f"data/tranche_no {data['tranche_no']} exceeds data/tranche_count {data['tranche_count']}")
    if type_ == "cn.gongyi.grants.award.agreement_signed.v1":
        tranches = data["tranches"]
        if [t["tranche_no"] for t in tranches] != list(range(1, len(tranches) + 1)):
            problems.append("data/tranches are not numbered 1..n in order")
        if sum(t["basis_points"] for t in tranches) != 10_000:
            problems.append("data/tranches basis points do not sum to 10000")
        if sum(_amount(t["amount"]) or 0 for t in tranches) != _amount(data["amount"]):
            problems.append("data/tranches amounts do not sum to data/amount")
    for start, end in (("valid_from", "valid_until"), ("opens_at", "closes_at")):
        first, last = _when(data.get(start)), _when(data.get(end))
        if first is not None and last is not None and first.tzinfo == last.tzinfo and first > last:
            problems.append(f"data/{start} {data[start]} is after data/{end} {data[end]}")
    return problems


def _when(value: Any) -> datetime | None:
    """A date (naive midnight) or an instant (aware); None when absent."""
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


# -- Kafka records -----------------------------------------------------------------------------


class RecordLike(Protocol):
    """What `validate_log` reads of a record (`shared.bus.base.Record` has it)."""

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes: ...

    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


def validate_record(
    value: bytes,
    *,
    topic: str | None = None,
    key: bytes | None = None,
    headers: Sequence[tuple[str, bytes]] | None = None,
) -> list[str]:
    """Problems with one Kafka record: the event in its value, and (when given) its logical topic,
    key and headers."""
    found = _first_headers(headers or [])
    if topic is not None and topic.endswith(".dlt"):
        missing = [h for h in DLT_HEADERS if h not in found]
        return [f"{topic}: dead-letter record without headers {', '.join(missing)}"] if missing else []
    try:
        event = json.loads(value)
    except ValueError as exc:
        return [f"{topic or 'record'}: the value is not JSON ({exc})"]
    if not isinstance(event, dict):
        return [f"{topic or 'record'}: the value is not a JSON object"]
    problems = _validate(event, len(value))
    where = _where(event)
    type_ = event.get("type")
    if topic is not None and isinstance(type_, str) and type_ in TYPES and topic_of(type_) != topic:
        problems.append(f"{where}: published on {topic}, but the type belongs to {topic_of(type_)}")
    if key is not None and key.decode("utf-8", "replace") != event.get("partitionkey"):
        problems.append(f"{where}: Kafka key {key!r} is not partitionkey {event.get('partitionkey')!r}")
    if headers is not None:
        for header, attribute in ROUTING_HEADERS.items():
            if found.get(header) != event.get(attribute):
                problems.append(
                    f"{where}: header {header} {found.get(header)!r} is not {attribute} {event.get(attribute)!r}"
                )
        if found.get("content-type") != CONTENT_TYPE:
            problems.append(f"{where}: header content-type {found.get('content-type')!r} is not {CONTENT_TYPE!r}")
        if "traceparent" in found and not TRACEPARENT.match(found["traceparent"]):
            problems.append(f"{where}: header traceparent {found['traceparent']!r} is not W3C trace context")
    return problems


def _first_headers(headers: Iterable[tuple[str, bytes]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, raw in headers:
        found.setdefault(name, raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw))
    return found


def validate_log(records_by_topic: Mapping[str, Iterable[RecordLike]]) -> list[str]:
    """Every record of the given logical topics (each in partition and offset order, as
    `Bus.read_all` returns them), and the ordering rules across records."""
    problems: list[str] = []
    # (topic, key) -> sequence -> id of every record seen: a record published again (a relay that
    # crashed between the broker's acknowledgement and marking its rows) repeats an id and sequence
    # already seen, anywhere earlier in the log
    seen: dict[tuple[str, str], dict[int, str]] = {}
    award_sequences: dict[str, set[int]] = {}
    disbursements: list[tuple[str, str, int]] = []
    for topic, records in records_by_topic.items():
        if topic not in TOPICS and not (topic.endswith(".dlt") and topic.removesuffix(".dlt") in TOPICS):
            problems.append(f"{topic}: not a topic of the contract")
            continue
        for record in records:
            found = validate_record(record.value, topic=topic, key=record.key, headers=record.headers)
            problems.extend(found)
            if found or topic.endswith(".dlt"):
                continue
            event = json.loads(record.value)
            key, sequence, id_ = event["partitionkey"], int(event["sequence"]), event["id"]
            known = seen.setdefault((topic, key), {})
            if sequence in known and known[sequence] != id_:
                problems.append(f"{_where(event)}: sequence {sequence} on {topic} key {key} is also {known[sequence]}")
            elif sequence not in known and known and sequence < max(known):
                highest = max(known)
                problems.append(
                    f"{_where(event)}: sequence {sequence} on {topic} key {key} after {highest} ({known[highest]})"
                )
            known.setdefault(sequence, id_)
            if topic == "grants.award":
                award_sequences.setdefault(key, set()).add(sequence)
            elif topic == "grants.disbursement":
                disbursements.append((key, id_, int(event["data"]["award_sequence"])))
    if "grants.award" in records_by_topic:
        for key, id_, award_sequence in disbursements:
            if award_sequence not in award_sequences.get(key, set()):
                problems.append(
                    f"grants.disbursement {id_}: award_sequence {award_sequence} "
                    f"names no grants.award record of award {key}"
                )
    return problems
