"""When to try a delivery again (EVENTS.md "Webhooks": the schedule, Retry-After, 410).

Attempt 1 is immediate; after a failed attempt n the next one waits `SCHEDULE[n]` (5 s, 5 min,
30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h — about three days in all) with ±10 % jitter so that
endpoints recovering from an outage are not hit by every sender at once. A `Retry-After` on 429,
502, 503 or 504 is honoured when it asks for longer (capped at 24 h). After the last attempt the
delivery has failed for good: it is dead-lettered and shown to officers, who can retry it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal

SCHEDULE: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(SCHEDULE)
JITTER = 0.1
MAX_RETRY_AFTER = timedelta(hours=24)
RETRY_AFTER_STATUSES = frozenset({429, 502, 503, 504})

Verdict = Literal["delivered", "retry", "failed", "gone"]


@dataclass(frozen=True, slots=True)
class Next:
    """What to do after an attempt: `delay` is set for `retry`, None otherwise."""

    status: Literal["delivered", "pending", "failed"]
    delay: timedelta | None = None
    disable_subscription: bool = False


def http_verdict(status_code: int) -> Verdict:
    """2xx delivered; 410 gone (disable the subscription); everything else, 3xx included, retried."""
    if 200 <= status_code < 300:
        return "delivered"
    if status_code == 410:
        return "gone"
    return "retry"


def parse_retry_after(value: str | None, *, now: datetime) -> timedelta | None:
    """Seconds or an HTTP date; None when absent or unreadable; never negative, at most 24 h."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    delay: timedelta
    if text.isdigit():
        delay = timedelta(seconds=int(text))
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        delay = when - now
    return max(timedelta(0), min(delay, MAX_RETRY_AFTER))


def retry_delay(attempts_made: int, *, jitter: float) -> timedelta | None:
    """Delay before the next attempt after `attempts_made` failed ones; None when none is left.

    `jitter` is a number in [0, 1) drawn by the caller (this module draws nothing).
    """
    if attempts_made < 1:
        return SCHEDULE[0]
    if attempts_made >= MAX_ATTEMPTS:
        return None
    base = SCHEDULE[attempts_made]
    return base * (1 - JITTER + 2 * JITTER * min(max(jitter, 0.0), 1.0))


def after_attempt(
    verdict: Verdict,
    attempts_made: int,
    *,
    jitter: float,
    status_code: int | None = None,
    retry_after: timedelta | None = None,
) -> Next:
    if verdict == "delivered":
        return Next("delivered")
    if verdict == "gone":
        return Next("failed", disable_subscription=True)
    if verdict == "failed":
        return Next("failed")
    delay = retry_delay(attempts_made, jitter=jitter)
    if delay is None:
        return Next("failed")
    if retry_after is not None and status_code in RETRY_AFTER_STATUSES:
        delay = max(delay, retry_after)
    return Next("pending", delay)
