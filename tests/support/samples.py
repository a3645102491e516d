"""The contract's sample events (`contracts/samples/`), as a story and as records on a test stack.

- `story()`: every sample in the order things happen (by time; an award record before the
  disbursement that depends on it; per key by sequence), as parsed JSON objects.
- `sample(type_)`: the sample of one event type.
- `append(stack, service, event)`: the event appended to `service`'s prefixed topic exactly as the
  producer's relay would write it: the JSON bytes, the partition key, the routing headers.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from contracts.validate import ROOT as CONTRACTS
from contracts.validate import topic_of
from shared import envelope
from shared.bus.base import OutgoingRecord
from tests.support.stack import Stack


@cache
def _samples() -> tuple[str, ...]:
    return tuple(p.read_text(encoding="utf-8") for p in sorted((CONTRACTS / "samples").glob("*.json")))


def story() -> list[dict[str, Any]]:
    samples = [json.loads(text) for text in _samples()]
    return sorted(
        samples, key=lambda e: (e["time"], topic_of(e["type"]) == "grants.disbursement", int(e["sequence"]))
    )


def sample(type_: str) -> dict[str, Any]:
    return next(e for e in story() if e["type"] == type_)


async def append(stack: Stack, service: str, event: dict[str, Any]) -> None:
    value = json.dumps(event, ensure_ascii=False).encode("utf-8")
    settings = stack.runtimes[service].settings
    await stack.bus.append(
        OutgoingRecord(
            topic=settings.topic(str(topic_of(event["type"]))),
            key=event["partitionkey"].encode(),
            value=value,
            headers=envelope.routing_headers(envelope.parse(value)),
        )
    )
