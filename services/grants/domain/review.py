"""Expert review: assignment without conflicts, weighted rubric scores, ranking with a tie-break."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.grants.domain import DomainError
from services.grants.domain.calls import Criterion
from services.grants.domain.money import BP_WHOLE, mean_half_up

MAX_SCORE = 10_000  # 100.00 points, in hundredths


@dataclass(frozen=True, slots=True)
class Reviewer:
    sub: str
    conflicts: frozenset[str]  # org_ids the reviewer declared a tie with


@dataclass(frozen=True, slots=True)
class Candidate:
    application_id: str
    org_id: str


def assign(
    pool: Sequence[Reviewer],
    applications: Sequence[Candidate],
    per_application: int,
    existing: Mapping[str, set[str]],
    excluded: Mapping[str, set[str]],
) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """N reviewers per application, least-loaded first, never one with a conflict.

    `existing`: application → subs already assigned (kept); `excluded`: application → subs who
    declared a conflict on it. Returns the new (application, sub) pairs and, per application that
    could not get N, how many are missing.
    """
    load: Counter[str] = Counter(sub for subs in existing.values() for sub in subs)
    pairs: list[tuple[str, str]] = []
    short: dict[str, int] = {}
    for app in applications:
        have = set(existing.get(app.application_id, set()))
        barred = excluded.get(app.application_id, set())
        free = [r for r in pool if r.sub not in have and r.sub not in barred and app.org_id not in r.conflicts]
        free.sort(key=lambda r: (load[r.sub], r.sub))
        for reviewer in free[: max(0, per_application - len(have))]:
            pairs.append((app.application_id, reviewer.sub))
            have.add(reviewer.sub)
            load[reviewer.sub] += 1
        if len(have) < per_application:
            short[app.application_id] = per_application - len(have)
    return pairs, short


def reviewer_total(rubric: Sequence[Criterion], scores: Mapping[str, int]) -> int:
    """Σ score × weight / 10000, in hundredths, half-up; every criterion scored 0..100.00."""
    codes = {c.code for c in rubric}
    unknown = sorted(set(scores) - codes)
    missing = sorted(codes - set(scores))
    if unknown:
        raise DomainError("review.unknown_criterion", f"not in the call's rubric: {', '.join(unknown)}")
    if missing:
        raise DomainError("review.incomplete", f"criteria not scored: {', '.join(missing)}")
    for code, value in scores.items():
        if not 0 <= value <= MAX_SCORE:
            raise DomainError("review.score_range", f"{code}: a score is 0..100.00")
    weighted = sum(scores[c.code] * c.weight_bp for c in rubric)
    return (2 * weighted + BP_WHOLE) // (2 * BP_WHOLE)


def review_score(totals: Sequence[int]) -> int:
    """The mean of the reviewers' totals, to 0.01, half-up."""
    return mean_half_up(totals)


def final_score(review: int, roadshow: int | None, roadshow_weight_bp: int) -> int:
    if not roadshow_weight_bp or roadshow is None:
        return review
    weighted = review * (BP_WHOLE - roadshow_weight_bp) + roadshow * roadshow_weight_bp
    return (2 * weighted + BP_WHOLE) // (2 * BP_WHOLE)


@dataclass(frozen=True, slots=True)
class Ranked:
    application_id: str
    score: int
    requested_fen: int
    submitted_at: datetime
    roadshow: int | None


def rank(entries: Sequence[Ranked], tie_break: str) -> list[tuple[int, Ranked]]:
    """Highest score first; equal scores ordered by the call's tie-break rule, then by id."""

    def key(e: Ranked) -> tuple[object, ...]:
        if tie_break == "lower_request":
            tail: tuple[object, ...] = (e.requested_fen, e.submitted_at)
        elif tie_break == "higher_roadshow":
            tail = (-(e.roadshow or 0), e.submitted_at)
        else:
            tail = (e.submitted_at,)
        return (-e.score, *tail, e.application_id)

    ordered = sorted(entries, key=key)
    return [(i + 1, e) for i, e in enumerate(ordered)]
