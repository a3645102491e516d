"""`GET /<svc>/v1/admin/event-positions`: how far one key of a topic got in a service — the last
sequence it produced and the last each of its consumers applied — so a client (the demo, an
integrator) can wait until an effect reached the services that react to it, without guessing."""

from __future__ import annotations

from tests.support import probe

ROUTE = "/probe/v1/admin/event-positions"


async def test_positions_show_the_last_sequence_produced_and_applied_per_key(stack_factory):
    stack = await stack_factory(("probe",), modules={"probe": probe})
    admin = stack.auth("admin")
    for n in (1, 2):
        created = await stack.client.post("/probe/v1/items", json={"key": "k-1", "n": n}, headers=admin)
        assert created.status_code == 201, created.text
    before = await stack.client.get(ROUTE, params={"topic": "probe.item", "key": "k-1"}, headers=admin)
    assert before.status_code == 200, before.text
    assert before.json() == {"topic": "probe.item", "key": "k-1", "produced": 2, "consumed": []}

    await stack.settle()
    after = await stack.client.get(ROUTE, params={"topic": "probe.item", "key": "k-1"}, headers=admin)
    assert after.json()["consumed"] == [{"consumer": f"{stack.topic_prefix}probe", "sequence": 2}]
    other = await stack.client.get(ROUTE, params={"topic": "probe.item", "key": "k-2"}, headers=admin)
    assert other.json() == {"topic": "probe.item", "key": "k-2", "produced": None, "consumed": []}

    officer = stack.auth("officer", region="440111")
    refused = await stack.client.get(ROUTE, params={"topic": "probe.item", "key": "k-1"}, headers=officer)
    assert refused.status_code == 403
    assert (await stack.client.get(ROUTE, params={"topic": "probe.item"}, headers=admin)).status_code in (400, 422)
