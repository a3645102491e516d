"""The event contract under contracts/ is complete, valid and agrees with docs/events.md and the code.

- The generated files are what contracts/generate.py produces (no hand edits, nothing stale).
- The vendored AsyncAPI 3.0.0 and CloudEvents schemas are byte-identical to contracts/schemas/README.md.
- contracts/asyncapi.yaml validates against the AsyncAPI 3.0.0 schema, also with every message
  payload `$ref` resolved; every reference in it resolves; operations are named
  `<service>.publish.<topic>` / `<reader>.consume.<topic>`; each service's sends and receives are
  the topics its code publishes and consumes; every topic has its `.dlt` channel.
- Every per-type schema is a valid draft 2020-12 schema; the types of the schemas, of the AsyncAPI
  messages and of docs/events.md's tables are the same set; every field docs/events.md names for a
  type is required by its schema, and the booking kind and sign are the documented ones.
- Every sample validates against the CloudEvents 1.0 schema and its type schema (directly and
  through the AsyncAPI message), with formats asserted; `contracts.validate` accepts it.
- No schema declares a property that suggests personal data; no sample contains a citizen ID
  number, a mobile number or an email address.
- Finance: every finance-relevant sample carries the documented `booking` and the running
  totals; every disbursement sample carries `award_sequence`, naming an award sample's sequence.
- `contracts.validate` rejects what breaks the contract (schema and cross-field rules, record
  headers and key, stream order).
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator, Draft202012Validator

from contracts import generate
from contracts.validate import (
    BOOKED_AS,
    CONTENT_TYPE,
    SAFE_LOADER,
    TOPICS,
    TYPES,
    format_checker,
    partition_keys,
    registry,
    topic_of,
    validate_event,
    validate_log,
    validate_record,
)

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
EVENTS_MD = ROOT / "docs" / "events.md"
ASYNCAPI = CONTRACTS / "asyncapi.yaml"
VENDORED = CONTRACTS / "schemas"
SAMPLES = sorted((CONTRACTS / "samples").glob("*.json"))
SERVICES = ("registry", "evaluation", "grants", "notifications")
FINANCE_TYPES = {
    "cn.gongyi.grants.award.decided.v1",
    "cn.gongyi.grants.award.objection_upheld.v1",
    "cn.gongyi.grants.award.terminated.v1",
    "cn.gongyi.grants.disbursement.released.v1",
    "cn.gongyi.grants.disbursement.paid.v1",
    "cn.gongyi.grants.disbursement.payment_reversed.v1",
    "cn.gongyi.grants.disbursement.clawback_recorded.v1",
}
# Property names that would suggest personal data of a natural person, or bank details.
PERSONAL = (
    "phone",
    "mobile",
    "email",
    "mail",
    "id_number",
    "id_card",
    "idcard",
    "citizen",
    "passport",
    "legal_representative",
    "representative",
    "contact",
    "bank",
    "birth",
    "gender",
    "address",
)
# GB 11643 citizen ID: 6-digit address, a plausible birth date, 3 digits, a check digit or X.
CITIZEN_ID = re.compile(
    r"(?<![0-9A-Za-z])[1-9][0-9]{5}(18|19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx](?![0-9A-Za-z])"
)
MOBILE = re.compile(r"(?<![0-9A-Za-z])(\+?86[- ]?)?1[3-9][0-9]{9}(?![0-9A-Za-z])")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.load(ASYNCAPI.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    return doc


@pytest.fixture(scope="module")
def samples() -> dict[str, dict[str, Any]]:
    return {p.name.removesuffix(".json"): load_json(p) for p in SAMPLES}


# -- docs/events.md -------------------------------------------------------------------------------


@dataclass
class DocType:
    topic: str
    fields: set[str] = field(default_factory=set)
    nested: dict[str, set[str]] = field(default_factory=dict)
    booking: tuple[str, str] | None = None  # (kind, "+" | "-")


def _without_parentheses(text: str) -> str:
    while True:
        stripped = re.sub(r"\([^()]*\)", "", text)
        if stripped == text:
            return text
        text = stripped


def _fields(text: str, index: int, count: int) -> tuple[set[str], dict[str, set[str]]]:
    """The field names a table cell or sentence lists (enum values sit in parentheses and are
    dropped); `a` / `b` alternatives pick the one of the row's `index`-th type; `{x, y}` after a
    field names its members."""
    names: set[str] = set()
    nested: dict[str, set[str]] = {}
    last = None
    for group in re.findall(r"`[^`]+`(?:\s*/\s*`[^`]+`)*", _without_parentheses(text)):
        options = [o.strip().strip("`") for o in group.split("/")] if "` / `" in group or "`/`" in group else [group]
        options = [o.strip("`") for o in options]
        token = options[index] if len(options) == count and len(options) > 1 else options[0]
        if token.startswith("{"):
            if last is not None:
                nested[last] = {m.strip() for m in token.strip("{}").split(",")}
            continue
        last = token.removesuffix("[]")
        names.add(last)
    return names, nested


def docs_types() -> dict[str, DocType]:
    """Every event type docs/events.md documents, with its fields and booking."""
    found: dict[str, DocType] = {}
    for section in re.split(r"^## ", EVENTS_MD.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]:
        topic = re.match(r"`([a-z_.]+)`", section)
        assert topic, section[:80]
        name = topic.group(1)
        prose = "\n".join(line for line in section.splitlines()[1:] if not line.startswith("|"))
        common: set[str] = set()
        common_nested: dict[str, set[str]] = {}
        carries = re.search(r"Every type carries(.*?)\.(\s|$)", _without_parentheses(prose), flags=re.DOTALL)
        if carries:
            common, common_nested = _fields(carries.group(1), 0, 1)
        for line in section.splitlines():
            if not line.startswith("| `"):
                continue
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            verbs = re.findall(r"`([a-z_]+)`", cells[0])
            for i, verb in enumerate(verbs):
                fields, nested = _fields(cells[1], i, len(verbs))
                doc = DocType(name, common | fields, {**common_nested, **nested})
                if len(cells) > 2 and "`" in cells[2]:
                    kind = re.search(r"`([a-z_]+)`", cells[2])
                    assert kind, cells[2]
                    sign = "-" if re.search(r"\(\s*[−-]", cells[2]) else "+"
                    doc.booking = (kind.group(1), sign)
                found[f"cn.gongyi.{name}.{verb}.v1"] = doc
    return found


def docs_keys() -> dict[str, str]:
    """topic -> key field, from the section headings: "(key `org_id`)", "(key **award id**)"."""
    keys = {}
    for topic, key in re.findall(r"^## `([a-z_.]+)` \(key ([^)]+)\)", EVENTS_MD.read_text(encoding="utf-8"), re.M):
        keys[topic] = key.replace("`", "").replace("*", "").strip().replace(" ", "_")
    return keys


def test_the_docs_parser_reads_what_the_tables_say() -> None:
    docs = docs_types()
    assert len(docs) >= 60
    listed = docs["cn.gongyi.registry.organization.listed.v1"]
    assert {"org_id", "organization", "kind", "region_code", "status", "list", "escalated_from"} <= listed.fields
    assert "irregular" not in listed.fields and "serious" not in listed.fields
    assert "closed_on" in docs["cn.gongyi.registry.organization.investigation_closed.v1"].fields
    assert "closed_on" not in docs["cn.gongyi.registry.organization.investigation_opened.v1"].fields
    signed = docs["cn.gongyi.grants.award.agreement_signed.v1"]
    assert signed.nested["assessment"] == {"template_id", "pass_threshold", "midterm_due", "final_due"}
    assert docs["cn.gongyi.grants.award.terminated.v1"].booking == ("commitment_release", "-")
    assert docs["cn.gongyi.grants.disbursement.paid.v1"].booking == ("payment", "+")
    assert docs["cn.gongyi.grants.award.confirmed.v1"].booking is None
    assert "award_sequence" in docs["cn.gongyi.grants.disbursement.scheduled.v1"].fields
    assert docs_keys()["grants.disbursement"] == "award_id"


# -- generated files and vendored schemas ---------------------------------------------------------


def test_generated_files_are_up_to_date() -> None:
    assert generate.stale() == [], "run `python -m contracts.generate` and commit the result"


def test_vendored_schemas_are_the_upstream_bytes() -> None:
    readme = (VENDORED / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", readme, flags=re.M))
    files = sorted(str(p.relative_to(VENDORED)) for p in VENDORED.rglob("*.json"))
    assert sorted(rows) == files
    for name, digest in rows.items():
        assert hashlib.sha256((VENDORED / name).read_bytes()).hexdigest() == digest, name


# -- schemas --------------------------------------------------------------------------------------


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    resolver = registry().resolver()
    while "$ref" in schema:
        schema = {**resolver.lookup(schema["$ref"]).contents, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def object_members(schema: dict[str, Any]) -> tuple[set[str], dict[str, Any]]:
    """(required, properties) of an object schema, through `$ref`, `allOf` and a nullable `anyOf`."""
    schema = _resolve(schema)
    required = set(schema.get("required", ()))
    properties = dict(schema.get("properties", {}))
    for part in (*schema.get("allOf", ()), *schema.get("anyOf", ())):
        r, p = object_members(part)
        required |= r
        properties.update(p)
    if schema.get("type") == "array" or "items" in schema:
        r, p = object_members(schema.get("items", {}))
        required |= r
        properties.update(p)
    return required, properties


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_every_schema_is_a_valid_draft_2020_12_schema() -> None:
    files = sorted((CONTRACTS / "events").glob("*.json"))
    assert len(files) == len(TYPES) + 1
    for path in files:
        schema = load_json(path)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", path.name
        Draft202012Validator.check_schema(schema)
    for type_ in TYPES:
        schema = load_json(CONTRACTS / "events" / f"{type_}.json")
        assert schema["properties"]["type"] == {"const": type_}
        assert schema["properties"]["dataschema"] == {"const": f"urn:gongyi:schema:{type_}"}
        assert schema["properties"]["data"]["additionalProperties"] is True


def test_schema_types_asyncapi_messages_and_docs_are_the_same_set(asyncapi: dict[str, Any]) -> None:
    channel_messages = {
        name
        for channel in asyncapi["channels"].values()
        if not channel["address"].endswith(".dlt")
        for name in channel["messages"]
    }
    docs = set(docs_types())
    assert TYPES == channel_messages == docs
    assert set(TOPICS) == {t.name for t in generate.TOPICS} == set(docs_keys())
    for type_ in TYPES:
        assert re.fullmatch(r"cn\.gongyi\.(registry|evaluation|grants|notifications)\.[a-z_]+\.[a-z_]+\.v1", type_)


def test_every_documented_field_is_required_and_bookings_are_the_documented_ones() -> None:
    for type_, doc in docs_types().items():
        data = load_json(CONTRACTS / "events" / f"{type_}.json")["properties"]["data"]
        required, properties = object_members(data)
        assert doc.fields <= required, f"{type_}: docs/events.md names {sorted(doc.fields - required)}"
        assert set(properties) == required, f"{type_}: optional fields {sorted(set(properties) - required)}"
        for name, members in doc.nested.items():
            nested_required, _ = object_members(properties[name])
            assert members <= nested_required, f"{type_}.{name}: {sorted(members - nested_required)}"
        if doc.booking is None:
            assert "booking" not in properties, type_
            assert type_ not in FINANCE_TYPES
            continue
        assert type_ in FINANCE_TYPES and type_ in BOOKED_AS
        kind, sign = doc.booking
        booking_required, _ = object_members(properties["booking"])
        assert {"kind", "amount", "currency", "budget_line", "fiscal_year"} <= booking_required
        assert {"const": kind} in list(walk(properties["booking"])), f"{type_}: booking kind is not {kind}"
        amount_refs = {
            p["$ref"].rsplit("/", 1)[-1] for p in walk(properties["booking"]) if isinstance(p, dict) and "$ref" in p
        }
        assert amount_refs & ({"positive_amount"} if sign == "+" else {"negative_amount", "nonpositive_amount"}), type_
    assert set(docs_types()) >= FINANCE_TYPES


def test_partition_keys_are_the_documented_ones() -> None:
    assert partition_keys() == docs_keys()
    for topic in generate.TOPICS:
        for event in topic.types:
            data = load_json(CONTRACTS / "events" / f"{topic.type_name(event.verb)}.json")["properties"]["data"]
            assert topic.key in data["required"], (topic.name, event.verb)


def test_no_schema_declares_personal_data() -> None:
    names: set[str] = set()
    for path in (CONTRACTS / "events").glob("*.json"):
        for node in walk(load_json(path)):
            if isinstance(node, dict):
                names.update(node.get("properties", {}))
                names.update(n for n in node.get("required", ()) if isinstance(n, str))
    assert names, "no property names found"
    flagged = sorted(n for n in names if any(word in n.lower() for word in PERSONAL))
    assert flagged == []


# -- AsyncAPI --------------------------------------------------------------------------------------


def pointer(doc: Any, ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def bundled(doc: Any, root: Any) -> Any:
    """The document with local `#/` references inlined and file references loaded (their own
    `_defs.json` references stay; the registry resolves them)."""
    if isinstance(doc, dict):
        ref = doc.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            return bundled(pointer(root, ref), root)
        if isinstance(ref, str) and ref.startswith("./"):
            return load_json(CONTRACTS / ref)
        return {k: bundled(v, root) for k, v in doc.items()}
    if isinstance(doc, list):
        return [bundled(v, root) for v in doc]
    return doc


def asyncapi_validator() -> Draft7Validator:
    return Draft7Validator(
        load_json(VENDORED / "asyncapi-3.0.0" / "asyncapi-3.0.0.json"), format_checker=format_checker()
    )


def test_the_asyncapi_document_validates(asyncapi: dict[str, Any]) -> None:
    validator = asyncapi_validator()
    assert [e.message for e in validator.iter_errors(asyncapi)] == []
    assert asyncapi["asyncapi"] == "3.0.0"
    assert asyncapi["servers"]["production"]["protocol"] == "kafka"


def test_the_asyncapi_document_validates_with_payloads_resolved(asyncapi: dict[str, Any]) -> None:
    messages = asyncapi["components"]["messages"]
    for name in TYPES:
        payload = messages[name]["payload"]
        assert payload["schemaFormat"] == generate.SCHEMA_FORMAT
        ref = payload["schema"]["$ref"]
        assert ref == f"./events/{name}.json" and (CONTRACTS / ref).is_file(), name
        resolved = load_json(CONTRACTS / ref)
        Draft202012Validator.check_schema(resolved)
        assert resolved["properties"]["type"]["const"] == name
        assert messages[name]["headers"]["allOf"][1]["properties"]["ce_type"] == {"const": name}
    whole = copy.deepcopy(asyncapi)
    for message in whole["components"]["messages"].values():
        if "schema" in message["payload"]:
            message["payload"]["schema"] = load_json(CONTRACTS / message["payload"]["schema"]["$ref"])
    assert [e.message for e in asyncapi_validator().iter_errors(whole)] == []


def test_every_reference_of_the_asyncapi_document_resolves(asyncapi: dict[str, Any]) -> None:
    refs = [n["$ref"] for n in walk(asyncapi) if isinstance(n, dict) and isinstance(n.get("$ref"), str)]
    assert refs
    for ref in refs:
        if ref.startswith("./"):
            assert (CONTRACTS / ref).is_file(), ref
        else:
            pointer(asyncapi, ref)
    for name, operation in asyncapi["operations"].items():
        channel_ref = operation["channel"]["$ref"]
        channel = pointer(asyncapi, channel_ref)
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel_ref + "/messages/"), (name, message)
        assert len(operation["messages"]) == len(channel["messages"]), name


def test_operations_follow_the_topology_of_the_code(asyncapi: dict[str, Any]) -> None:
    sends: set[tuple[str, str]] = set()
    receives: set[tuple[str, str]] = set()
    for name, operation in asyncapi["operations"].items():
        topic = pointer(asyncapi, operation["channel"]["$ref"])["address"]
        actor, verb = name.split(".", 2)[:2]
        assert name == f"{actor}.{'publish' if operation['action'] == 'send' else 'consume'}.{topic}", name
        assert verb in ("publish", "consume")
        (sends if operation["action"] == "send" else receives).add((actor, topic))
    publishes = {(s, t) for s in SERVICES for t in importlib.import_module(f"services.{s}.events").PUBLISHES}
    consumes = {(s, t) for s in SERVICES for t in importlib.import_module(f"services.{s}.consumers").CONSUMES}
    assert {(a, t) for a, t in sends if not t.endswith(".dlt")} == publishes
    assert {(a, t) for a, t in receives if a in SERVICES} == consumes
    assert {(a, t.removesuffix(".dlt")) for a, t in sends if t.endswith(".dlt")} == consumes
    outside = {(a, t) for a, t in receives if a not in SERVICES and not t.endswith(".dlt")}
    assert outside == {
        ("finance", "grants.award"),
        ("finance", "grants.disbursement"),
        ("operations", "notifications.delivery"),
    }
    for topic in TOPICS:
        assert ("operators", f"{topic}.dlt") in receives
        dlt = asyncapi["channels"][f"{topic}.dlt"]
        headers = pointer(asyncapi, pointer(asyncapi, dlt["messages"]["deadLetter"]["$ref"])["headers"]["$ref"])
        assert {h for h in headers["required"] if h.startswith("gongyi-dlt-")} == {
            "gongyi-dlt-group",
            "gongyi-dlt-original-topic",
            "gongyi-dlt-original-partition",
            "gongyi-dlt-original-offset",
            "gongyi-dlt-error-type",
            "gongyi-dlt-error-detail",
            "gongyi-dlt-attempts",
            "gongyi-dlt-first-failure-at",
        }


def test_channels_state_keys_ordering_and_the_finance_rule(asyncapi: dict[str, Any]) -> None:
    for topic in TOPICS:
        channel = asyncapi["channels"][topic]
        assert channel["address"] == topic
        assert "within this topic only" in channel["description"]
        assert channel["bindings"]["kafka"]["partitions"] == 3
        assert channel["bindings"]["kafka"]["replicas"] == 3
    for topic in ("grants.award", "grants.disbursement"):
        assert "award_sequence" in asyncapi["channels"][topic]["description"]
    headers = asyncapi["components"]["schemas"]["CloudEventHeaders"]
    assert set(headers["properties"]) >= {"ce_id", "ce_type", "ce_source", "ce_subject", "content-type", "traceparent"}
    kustomization = ROOT / "deploy" / "k8s" / "base" / "common" / "kustomization.yaml"
    if kustomization.exists():
        bootstrap = re.search(r"GONGYI_KAFKA_BOOTSTRAP=(\S+)", kustomization.read_text(encoding="utf-8"))
        assert bootstrap and asyncapi["servers"]["production"]["host"] == bootstrap.group(1)


# -- samples --------------------------------------------------------------------------------------


def test_there_is_one_sample_per_type(samples: dict[str, dict[str, Any]]) -> None:
    assert set(samples) == TYPES
    for name, event in samples.items():
        assert event["type"] == name


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name.removesuffix(".json").removeprefix("cn.gongyi."))
def test_a_sample_validates_against_cloudevents_its_schema_and_its_asyncapi_message(
    path: Path, asyncapi: dict[str, Any]
) -> None:
    event = load_json(path)
    cloudevents = Draft7Validator(
        load_json(VENDORED / "cloudevents-1.0" / "cloudevents.json"), format_checker=format_checker()
    )
    assert [e.message for e in cloudevents.iter_errors(event)] == []
    schema = load_json(CONTRACTS / "events" / path.name)
    direct = Draft202012Validator(schema, registry=registry(), format_checker=format_checker())
    assert [e.message for e in direct.iter_errors(event)] == []
    assert validate_event(event) == []
    # Through the AsyncAPI document: the channel of the type's topic, its message, payload and headers.
    channel = next(c for c in asyncapi["channels"].values() if c["address"] == topic_of(event["type"]))
    message = bundled(channel["messages"][event["type"]], asyncapi)
    payload = Draft202012Validator(message["payload"]["schema"], registry=registry(), format_checker=format_checker())
    assert [e.message for e in payload.iter_errors(event)] == []
    headers = {
        "ce_id": event["id"],
        "ce_type": event["type"],
        "ce_source": event["source"],
        "ce_subject": event["subject"],
        "content-type": CONTENT_TYPE,
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    }
    assert [e.message for e in Draft7Validator(message["headers"]).iter_errors(headers)] == []
    key = message["bindings"]["kafka"]["key"]
    assert [
        e.message for e in Draft7Validator(key, format_checker=format_checker()).iter_errors(event["partitionkey"])
    ] == []


def strings(node: Any) -> Iterator[str]:
    for item in walk(node):
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            yield from (k for k in item if isinstance(k, str))


def test_the_personal_data_detectors_work() -> None:
    assert CITIZEN_ID.search("法定代表人 11010519491231002X")
    assert MOBILE.search("电话 13800138000") and MOBILE.search("+86 13800138000")
    assert EMAIL.search("write to someone@example.org")
    # Codes of this system that must not be mistaken for them.
    for code in ("440111003202600012", "52440111MJK9980480", "00000000000000000042", "2081002"):
        assert not CITIZEN_ID.search(code) and not MOBILE.search(code), code


def test_samples_carry_no_personal_data(samples: dict[str, dict[str, Any]]) -> None:
    assert set(samples) == TYPES
    for name, event in samples.items():
        for text in strings(event):
            assert not CITIZEN_ID.search(text), (name, text)
            assert not MOBILE.search(text), (name, text)
            assert not EMAIL.search(text), (name, text)


def test_samples_are_realistic(samples: dict[str, dict[str, Any]]) -> None:
    for name, event in samples.items():
        org = event["data"].get("organization")
        if org is not None:
            assert re.search(r"[\u4e00-\u9fff]", org["name"]), name
        assert re.fullmatch(r"[0-9]{20}", event["sequence"]), name
        assert event["id"][14] == "7", name


def test_finance_samples_carry_the_documented_booking_and_running_totals(samples: dict[str, dict[str, Any]]) -> None:
    docs = docs_types()
    for name in FINANCE_TYPES:
        data = samples[name]["data"]
        kind, sign = docs[name].booking or ("", "")
        assert data["booking"]["kind"] == kind, name
        amount = Decimal(data["booking"]["amount"])
        assert amount > 0 if sign == "+" else amount <= 0, name
        assert data["booking"]["currency"] == "CNY"
        assert data["booking"]["budget_line"] == data["budget_line"]
        assert data["booking"]["fiscal_year"] == data["fiscal_year"]
        for total in ("committed_total", "paid_total"):
            assert set(data[total]) == {"amount", "currency"}, (name, total)
    for name, event in samples.items():
        assert ("booking" in event["data"]) == (name in FINANCE_TYPES), name


def test_disbursement_samples_carry_the_award_sequence_they_depend_on(samples: dict[str, dict[str, Any]]) -> None:
    awards: dict[str, set[int]] = {}
    for event in samples.values():
        if topic_of(event["type"]) == "grants.award":
            awards.setdefault(event["partitionkey"], set()).add(int(event["sequence"]))
    disbursements = [e for e in samples.values() if topic_of(e["type"]) == "grants.disbursement"]
    assert len(disbursements) == 9
    for event in disbursements:
        award_sequence = event["data"]["award_sequence"]
        assert isinstance(award_sequence, int) and award_sequence >= 1
        assert event["partitionkey"] == event["data"]["award_id"]
        assert award_sequence in awards[event["partitionkey"]], event["type"]


# -- contracts.validate ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rec:
    value: bytes
    key: bytes | None
    headers: list[tuple[str, bytes]]


def record(event: dict[str, Any]) -> Rec:
    headers = [
        ("ce_id", event["id"].encode()),
        ("ce_type", event["type"].encode()),
        ("ce_source", event["source"].encode()),
        ("ce_subject", event["subject"].encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]
    return Rec(json.dumps(event, ensure_ascii=False).encode(), event["partitionkey"].encode(), headers)


def _decided(samples: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return copy.deepcopy(samples["cn.gongyi.grants.award.decided.v1"])


BREAKS = {
    "amount as a number": lambda e: e["data"]["amount"].update(amount=150000),
    "three decimals": lambda e: e["data"]["amount"].update(amount="150000.001"),
    "a required field missing": lambda e: e["data"].pop("committed_total"),
    "another currency": lambda e: e["data"]["paid_total"].update(currency="USD"),
    "the wrong booking kind": lambda e: e["data"]["booking"].update(kind="payment"),
    "a negative commitment": lambda e: e["data"]["booking"].update(amount="-150000.00"),
    "a booking of another amount": lambda e: e["data"]["booking"].update(amount="15000.00"),
    "a booking on another budget line": lambda e: e["data"]["booking"].update(budget_line="2026-BL-99"),
    "a wrong USCC check character": lambda e: e["data"]["organization"].update(id="52440111MJK9980481"),
    "another organization's org_id": lambda e: e["data"]["organization"].update(org_id=e["data"]["call_id"]),
    "a partition key that is not the award": lambda e: e.update(partitionkey=e["data"]["call_id"]),
    "a local time": lambda e: e.update(time="2026-04-22T18:00:00+08:00"),
    "an impossible date": lambda e: e["data"].update(decided_on="2026-02-30"),
    "a UUIDv4 event id": lambda e: e.update(id="3f1c0e8a-3c1d-4b6e-9a55-0a0d4f8f1e2b"),
    "a short sequence": lambda e: e.update(sequence="7"),
    "another dataschema": lambda e: e.update(dataschema="urn:gongyi:schema:other"),
    "another service as source": lambda e: e.update(source="urn:gongyi:gz-baiyun:registry"),
    "an unknown type": lambda e: e.update(type="cn.gongyi.grants.award.approved.v1"),
    "binary data": lambda e: e.update(data_base64="AAAA"),
    "over 64 KiB": lambda e: e["data"].update(note="x" * 70_000),
}


@pytest.mark.parametrize("name", list(BREAKS))
def test_validate_event_rejects_what_breaks_the_contract(name: str, samples: dict[str, dict[str, Any]]) -> None:
    event = _decided(samples)
    BREAKS[name](event)
    assert validate_event(event) != []


def test_validate_event_accepts_additive_fields_and_extensions(samples: dict[str, dict[str, Any]]) -> None:
    event = _decided(samples)
    event["data"]["new_optional_field"] = {"anything": True}
    event["traceid"] = "abc"
    assert validate_event(event) == []
    assert validate_event("not an event") != []  # type: ignore[arg-type]


def test_validate_record_checks_topic_key_and_headers(samples: dict[str, dict[str, Any]]) -> None:
    event = _decided(samples)
    good = record(event)
    assert validate_record(good.value, topic="grants.award", key=good.key, headers=good.headers) == []
    assert validate_record(good.value, topic="grants.disbursement", key=good.key, headers=good.headers) != []
    assert validate_record(good.value, topic="grants.award", key=b"other", headers=good.headers) != []
    wrong_type = [(k, b"cn.gongyi.grants.award.confirmed.v1" if k == "ce_type" else v) for k, v in good.headers]
    assert validate_record(good.value, topic="grants.award", key=good.key, headers=wrong_type) != []
    no_content_type = [(k, v) for k, v in good.headers if k != "content-type"]
    assert validate_record(good.value, topic="grants.award", key=good.key, headers=no_content_type) != []
    bad_trace = [*good.headers, ("traceparent", b"not-a-trace")]
    assert validate_record(good.value, topic="grants.award", key=good.key, headers=bad_trace) != []
    assert validate_record(b"{not json", topic="grants.award") != []
    assert validate_record(b"anything", topic="grants.award.dlt", headers=good.headers) != []
    dlt_headers = [*good.headers, *[(h, b"1") for h in generate.DLT_HEADERS["required"]]]
    assert validate_record(b"anything", topic="grants.award.dlt", headers=dlt_headers) == []


def test_validate_log_accepts_the_samples_as_a_log_and_catches_order_problems(
    samples: dict[str, dict[str, Any]],
) -> None:
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for event in samples.values():
        by_topic.setdefault(str(topic_of(event["type"])), []).append(event)
    log = {t: [record(e) for e in sorted(events, key=lambda e: e["sequence"])] for t, events in by_topic.items()}
    assert validate_log(log) == []
    # A republished record (same id, same sequence) is fine; going back is not.
    award = log["grants.award"]
    assert validate_log({"grants.award": [*award, award[-1]]}) == []
    assert validate_log({"grants.award": [*award, *award]}) == []  # a run published again after a relay crash
    assert validate_log({"grants.award": list(reversed(award))}) != []
    other = copy.deepcopy(json.loads(award[0].value))
    other["id"] = "019db2ea-6900-7000-8000-000000000000"  # another event with a sequence already taken
    assert validate_log({"grants.award": [*award, record(other)]}) != []
    # A disbursement naming an award record that does not exist.
    released = copy.deepcopy(samples["cn.gongyi.grants.disbursement.released.v1"])
    released["data"]["award_sequence"] = 42
    assert validate_log({"grants.award": award, "grants.disbursement": [record(released)]}) != []
    assert validate_log({"probe.topic": []}) != []
