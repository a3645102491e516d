"""Every event type of docs/events.md goes through the real consumer: nothing is dead-lettered,
each person the catalogue names gets a rendered inbox item, and a `*` webhook gets every event."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import text

from services.notifications.domain import catalogue
from tests.unit.notifications.samples import AWARD_ID, EVALUATOR, ORG_ID, SAMPLES

# Topics are not ordered with each other: facts an event relies on (the organization is active,
# the evaluator was assigned) are settled first, as they would be in real time.
LAST = ("registry.organization.deregistered", "registry.organization.revoked", "grants.application.withdrawn")
PHASES = [
    ("registry.",),
    (
        "evaluation.rating.",
        "evaluation.assessment.",
        "grants.call.published",
        "grants.call.opened",
        "grants.call.closed",
        "grants.application.",
        "grants.award.",
    ),
    ("evaluation.round.", "grants.disbursement.", "grants.call.cancelled"),
    LAST,
]
KEYS = {"grants.disbursement": AWARD_ID}


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_every_event_type_is_consumed_rendered_and_forwarded(world, db):
    w = await world(db)
    org = await w.join("org", org_id=ORG_ID, email="zhang.san@example.org", sub="org-user-zhang")
    officer = await w.join("officer", region="440100", sub="officer-gz")
    evaluator = await w.join("evaluator", agency_id="agency-1", sub=EVALUATOR)
    await w.subscribe(["*"])
    names = [n for n in SAMPLES if not n.startswith("notifications.")]
    assert len(names) == len(catalogue.CONSUMED_EVENT_TYPES) == 59
    sent = {}
    for prefixes in PHASES:
        for name in [n for n in names if n.startswith(prefixes) and (prefixes == LAST or n not in LAST)]:
            topic = ".".join(name.split(".")[:2])
            sent[name] = await w.emitter.emit(name, SAMPLES[name], key=KEYS.get(topic))
        await w.stack.settle()

    async with w.stack.runtimes["notifications"].db.engine.connect() as conn:
        parked = (await conn.execute(text("SELECT count(*) FROM notifications.parked_keys"))).scalar_one()
    assert parked == 0

    inbox = {}
    for who, headers in (("org", org), ("officers", officer), ("evaluator", evaluator)):
        items = (await w.client.get("/notifications/v1/inbox?limit=200", headers=headers)).json()["items"]
        inbox[who] = {i["notification_type"]: i for i in items}
    for name in names:
        audiences = catalogue.TYPES[name].audiences
        for who in ("org", "officers", "evaluator"):
            expected = who in audiences or (
                who == "org" and {"round_orgs", "call_orgs", "call_applicants"} & set(audiences)
            )
            # the round's evaluator scored before it closed (the samples' evaluator did): no reminder
            assert (name in inbox[who]) == bool(expected), (name, who)
    for item in (i for items in inbox.values() for i in items.values()):
        assert item["title"] and "None" not in item["title"] + item["body"]

    bodies = {orjson.loads(r.body)["id"]: r.body for r in w.receiver.requests}
    assert set(bodies) == {e.id for e in sent.values()}
    on_bus = {e.id: v for e, v in w.emitter.sent}
    assert all(bodies[i] == on_bus[i] for i in bodies)
