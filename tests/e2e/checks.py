"""What the story must have left behind, checked the same way on every backend: every state the
actors see through the API (StoryResult) and every event on every topic (read through the bus and
validated against the event contract)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import orjson

from contracts.validate import TOPICS, validate_event, validate_log  # every topic of the contract
from gongyi.story import StoryResult
from gongyi.story.context import fen
from shared.bus.base import Bus

PERSONAL = ("440111196001011232", "440524188001010014", "13800000000", "陈立", "@example.org")
APP_VERBS = ["drafted", "submitted", "screened", "reviewed", "ranked"]
AWARD_VERBS = ["decided", "publicly_noticed", "confirmed", "agreement_signed"]
RATING_VERBS = ["applied", *["assigned"] * 3, *["scored"] * 3, "proposed", "publicly_noticed", "published"]


async def read_topics(bus: Bus, prefix: str = "") -> dict[str, list[Any]]:
    """Every record of every topic (and of every dead-letter topic, which must be empty)."""
    logs = {topic: list(await bus.read_all(prefix + topic)) for topic in TOPICS}
    for topic in TOPICS:
        dead = await bus.read_all(f"{prefix}{topic}.dlt")
        assert not dead, f"{topic}.dlt holds {len(dead)} record(s): {[r.headers for r in dead][:3]}"
    return logs


def check_events(logs: dict[str, list[Any]], r: StoryResult) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The contract holds for every record and stream; each key carries exactly the story's events."""
    assert validate_log(logs) == []
    by_key: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for topic, records in logs.items():
        seen: set[str] = set()
        keyed: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in records:
            raw = record.value.decode()
            assert not [p for p in PERSONAL if p in raw], f"personal data on {topic}: {raw[:300]}"
            event = orjson.loads(record.value)
            assert validate_event(event) == []
            if event["id"] in seen:  # a relay that died after the broker's ack publishes it again
                continue
            seen.add(event["id"])
            keyed[event["partitionkey"]].append(event)
        for events in keyed.values():
            assert [int(e["sequence"]) for e in events] == list(range(1, len(events) + 1)), topic
        by_key[topic] = dict(keyed)

    def verbs(topic: str, key: str) -> list[str]:
        return [e["type"].split(".")[-2] for e in by_key[topic].get(key, [])]

    a, b, c = (r.orgs[k] for k in "abc")
    assert verbs("registry.organization", a.org_id) == ["registered", *["annual_report_recorded"] * 2]
    assert verbs("registry.organization", b.org_id) == ["registered", *["annual_report_recorded"] * 2]
    assert verbs("registry.organization", c.org_id) == ["filed"]
    assert len(by_key["registry.organization"]) == 3
    assert verbs("evaluation.round", r.round_id) == ["opened", "closed"]
    assert verbs("evaluation.rating", a.org_id) == [*RATING_VERBS, "assigned", "assigned"]  # + the mid-term experts
    assert verbs("evaluation.rating", b.org_id) == RATING_VERBS
    published = {org.key: by_key["evaluation.rating"][org.org_id][9]["data"] for org in (a, b)}
    assert {k: (p["grade"], p["rule_set"]["id"]) for k, p in published.items()} == {
        "a": ("4A", "national-2011"),
        "b": ("2A", "national-2011"),
    }
    awards = {k: v["id"] for k, v in r.awards.items()}
    assert verbs("evaluation.assessment", awards["a_venture"]) == ["scheduled", "scheduled", "completed"]
    assert verbs("evaluation.assessment", awards["a_purchase"]) == ["scheduled", "scheduled"]
    assert awards["c_micro"] not in by_key["evaluation.assessment"]  # the micro call names no template
    completed = by_key["evaluation.assessment"][awards["a_venture"]][2]["data"]
    assert (completed["stage"], completed["score"], completed["passed"]) == ("midterm", "84.00", True)
    for call in r.calls.values():
        assert verbs("grants.call", call["id"]) == ["published", "opened", "closed"]
    for key, app in r.applications.items():
        assert verbs("grants.application", app["id"]) == (APP_VERBS[:3] if key == "b_venture" else APP_VERBS)
        screened = by_key["grants.application"][app["id"]][2]["data"]
        assert screened["eligible"] is (key != "b_venture")
    refused = by_key["grants.application"][r.applications["b_venture"]["id"]][2]["data"]["reasons"]
    assert [x["rule"] for x in refused] == ["eligibility.min_grade"] and "2A" in refused[0]["detail"]
    for key, award_id in awards.items():
        assert verbs("grants.award", award_id) == AWARD_VERBS
        decided = by_key["grants.award"][award_id][0]["data"]
        assert decided["booking"] == {
            "kind": "commitment", "amount": r.awards[key]["amount"]["amount"], "currency": "CNY",
            "budget_line": decided["budget_line"], "fiscal_year": 2026,
        }
    assert verbs("grants.disbursement", awards["a_venture"]) == [
        *["scheduled"] * 3, "released", "paid", "released", "paid"]
    assert verbs("grants.disbursement", awards["a_purchase"]) == ["scheduled", "scheduled", "released", "paid"]
    assert verbs("grants.disbursement", awards["c_micro"]) == ["scheduled", "released", "paid"]
    payments = [(e["data"]["booking"]["kind"], e["data"]["booking"]["amount"])
                for e in by_key["grants.disbursement"][awards["a_venture"]] if e["data"].get("booking")]
    assert payments == [("payment_instruction", "24000.00"), ("payment", "24000.00"),
                        ("payment_instruction", "18000.00"), ("payment", "18000.00")]
    return by_key


def check_states(r: StoryResult) -> None:
    """What the actors see through the API at the end of the story."""
    a, b, c = (r.orgs[k] for k in "abc")
    assert len(a.code) == 18 and len(b.code) == 18 and c.code
    assert {k: (e["status"], e["decided_grade"], e["total"]) for k, e in r.evaluations.items()} == {
        "a": ("published", "4A", "920.00"),
        "b": ("published", "2A", "820.00"),
    }
    assert {k: a_["eligible"] for k, a_ in r.applications.items()} == {
        "a_venture": True, "b_venture": False, "a_purchase": True, "c_micro": True,
    }
    assert {k: (w["status"], w["amount"]["amount"]) for k, w in r.awards.items()} == {
        "a_venture": ("signed", "60000.00"),
        "a_purchase": ("signed", "180000.00"),
        "c_micro": ("signed", "5000.00"),
    }
    assert {k: [(t["amount"]["amount"], t["status"]) for t in ts] for k, ts in r.tranches.items()} == {
        "a_venture": [("24000.00", "paid"), ("18000.00", "paid"), ("18000.00", "scheduled")],
        "a_purchase": [("90000.00", "paid"), ("90000.00", "scheduled")],
        "c_micro": [("5000.00", "paid")],
    }
    assert {k: (b_["committed"]["amount"], b_["paid"]["amount"], b_["remaining"]["amount"])
            for k, b_ in r.budgets.items()} == {
        "venture": ("60000.00", "42000.00", "240000.00"),
        "purchase": ("180000.00", "90000.00", "20000.00"),
        "micro": ("5000.00", "5000.00", "45000.00"),
    }
    check_ledger(r)
    check_inboxes(r)
    check_exports(r)


def check_ledger(r: StoryResult) -> None:
    """GET /grants/v1/ledger adds up to the budgets; the finance consumer booked each entry once, to the fen."""
    kinds = Counter()
    for entry in r.ledger:
        kinds[entry["booking"]["kind"]] += fen(entry["booking"]["amount"])
    assert kinds == {"commitment": 24_500_000, "payment_instruction": 13_700_000, "payment": 13_700_000}
    assert kinds["commitment"] == sum(fen(b["committed"]) for b in r.budgets.values())
    assert kinds["payment"] == sum(fen(b["paid"]) for b in r.budgets.values())
    assert len(r.ledger) == 11 and len({e["event_id"] for e in r.ledger}) == 11
    booked = {b["event_id"]: b for b in r.bookings}
    assert len(r.bookings) == len(booked) == len(r.ledger)
    for entry in r.ledger:
        b = booked[entry["event_id"]]
        assert (b["kind"], b["amount_fen"], b["committed_total_fen"], b["paid_total_fen"], b["budget_line"]) == (
            entry["booking"]["kind"],
            fen(entry["booking"]["amount"]),
            fen(entry["committed_total"]),
            fen(entry["paid_total"]),
            entry["booking"]["budget_line"],
        )


def check_inboxes(r: StoryResult) -> None:
    """Each person holds exactly the notifications the story caused for them, each once."""
    for sub, expected in r.expected_inbox.items():
        held = Counter((i["notification_type"], i["resource"]) for i in r.inboxes[sub])
        assert held == expected, (r.people[sub].label, held - expected, expected - held)
    assert sum(sum(v.values()) for v in r.expected_inbox.values()) == 62
    for officer in ("baiyun-officer", "sanyuanli-officer"):
        assert r.inboxes[officer] == []  # nothing in the story needs an officer's attention


def check_exports(r: StoryResult) -> None:
    ocds = r.documents["ocds"]
    tags = Counter(tag for release in ocds["releases"] for tag in release["tag"])
    assert tags == {"tender": 1, "award": 1, "contract": 1, "implementation": 2}
    assert all(rel["ocid"] == f"ocds-gydev0-{r.calls['purchase']['id']}" for rel in ocds["releases"])
    paid = [t for rel in ocds["releases"] for c in rel.get("contracts", [])
            for t in c.get("implementation", {}).get("transactions", [])]
    assert [t["value"]["amount"] for t in paid] == [90000]
    venture = r.documents["360giving-venture"]["grants"]
    assert [(g["amountAwarded"], g["recipientOrganization"][0]["id"]) for g in venture] == [
        (60000, f"CN-USCI-{r.orgs['a'].code}")
    ]
    micro = r.documents["360giving-micro"]["grants"]
    assert [g["amountAwarded"] for g in micro] == [5000]
    assert micro[0]["recipientOrganization"][0]["id"].endswith(r.orgs["c"].code)


def check_deliveries(by_key: dict[str, dict[str, list[dict[str, Any]]]], r: StoryResult) -> Counter[str]:
    """Every inbox item was delivered exactly once (a `delivered` event each); returns counts per channel."""
    delivered = [e["data"] for events in by_key["notifications.delivery"].values() for e in events]
    assert all(d["status"] == "delivered" for d in delivered if d["channel"] == "inbox")
    per_channel = Counter(d["channel"] for d in delivered)
    assert per_channel["inbox"] == sum(len(items) for items in r.inboxes.values())
    assert len({d["delivery_id"] for d in delivered}) == len(delivered)
    return per_channel
