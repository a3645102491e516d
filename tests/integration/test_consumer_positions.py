"""`GET /<svc>/v1/admin/consumer-positions`: how far a service applied one key of a topic, so a client
(the demo, an integrator) can wait until its write reached the other service — read your writes
across services without guessing."""

from __future__ import annotations

from tests.support import probe


async def test_the_position_of_a_key_is_the_last_sequence_the_consumer_applied(stack_factory):
    stack = await stack_factory(("probe",), modules={"probe": probe})
    admin = stack.auth("admin")
    route = "/probe/v1/admin/consumer-positions"
    for n in (1, 2):
        created = await stack.client.post("/probe/v1/items", json={"key": "k-1", "n": n}, headers=admin)
        assert created.status_code == 201, created.text
    assert (await stack.client.get(route, params={"topic": "probe.item", "key": "k-1"}, headers=admin)).json() == []

    await stack.settle()
    positions = await stack.client.get(route, params={"topic": "probe.item", "key": "k-1"}, headers=admin)
    assert positions.status_code == 200, positions.text
    assert positions.json() == [
        {"consumer": f"{stack.topic_prefix}probe", "topic": "probe.item", "key": "k-1", "sequence": 2}
    ]
    other = await stack.client.get(route, params={"topic": "probe.item", "key": "k-2"}, headers=admin)
    assert other.json() == []
    officer = stack.auth("officer", region="440111")
    refused = await stack.client.get(route, params={"topic": "probe.item", "key": "k-1"}, headers=officer)
    assert refused.status_code == 403
    assert (await stack.client.get(route, params={"topic": "probe.item"}, headers=admin)).status_code in (400, 422)
