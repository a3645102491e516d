"""Deterministic crash points for fault tests.

Contract: `crash_point(name)` does nothing unless the environment variable `GONGYI_FAULT` names
that point; then the process kills itself with SIGKILL exactly there (no cleanup, no flush — what
a power cut or `kill -9` does). `GONGYI_FAULT=relay.after_ack` kills at the first pass;
`GONGYI_FAULT=consumer.after_commit@500` at the 500th pass; several points are comma-separated.
Tests run the process under test as a subprocess with this variable set; never sleep-then-kill.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_hits: Counter[str] = Counter()


def _armed() -> dict[str, int]:
    spec = os.environ.get("GONGYI_FAULT", "")
    points: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, nth = item.partition("@")
        points[name] = int(nth) if nth else 1
    return points


def crash_point(name: str) -> None:
    armed = _armed()
    if name not in armed:
        return
    _hits[name] += 1
    if _hits[name] >= armed[name]:
        os.kill(os.getpid(), signal.SIGKILL)
