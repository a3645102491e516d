"""What the grants service publishes (EVENTS.md; `data` exactly as docs/events.md fixes it).

Awards and disbursements share the key (award id). Each award row counts the events staged on
both topics (`award_seq`, `disbursement_seq`) under its row lock, so the counters equal the
per-(topic, key) `sequence` the outbox gives them, and every disbursement carries the
`award_sequence` it depends on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.grants.domain.money import money
from services.grants.models import Application, Award, Call, Disbursement
from shared.envelope import event_type
from shared.outbox import PendingEvent

CALL = "grants.call"
APPLICATION = "grants.application"
AWARD = "grants.award"
DISBURSEMENT = "grants.disbursement"
PUBLISHES: tuple[str, ...] = (CALL, APPLICATION, AWARD, DISBURSEMENT)


def call_event(verb: str, call: Call, **extra: Any) -> PendingEvent:
    if verb == "cancelled":
        data: dict[str, Any] = {"call_id": call.id, "region_code": call.region_code, "reason": call.cancelled_reason}
    else:
        data = {
            "call_id": call.id,
            "call_type": call.call_type,
            "title": call.title,
            "region_code": call.region_code,
            "budget": money(call.budget_fen),
            "opens_at": instant(call.opens_at),
            "closes_at": instant(call.closes_at),
            "funding_source": call.funding_source,
            "budget_classification_code": call.budget_classification_code,
            "fiscal_year": call.fiscal_year,
            "authorisation_number": call.authorisation_number,
        }
    data.update(extra)
    return PendingEvent(
        topic=CALL, key=call.id, type=event_type("grants", "call", verb), subject=f"calls/{call.id}", data=data
    )


def application_event(verb: str, app: Application | dict[str, Any], **extra: Any) -> PendingEvent:
    row = app if isinstance(app, dict) else app.model_dump()
    data: dict[str, Any] = {
        "application_id": row["id"],
        "call_id": row["call_id"],
        "org_id": row["org_id"],
        "organization": row["organization"],
        "region_code": row["region_code"],
        **extra,
    }
    return PendingEvent(
        topic=APPLICATION,
        key=row["id"],
        type=event_type("grants", "application", verb),
        subject=f"applications/{row['id']}",
        data=data,
    )


def announced(app: Application | dict[str, Any]) -> bool:
    """Whether an application's events can be published: every one names its organization by the
    registry's reference and its region (docs/events.md). An organization grants has not heard of
    yet (its registry record still in flight, or the registry not answering at submission) has only
    its `org_id`: its application waits, unannounced, until the record arrives."""
    row = app if isinstance(app, dict) else app.model_dump()
    organization = row.get("organization") or {}
    return bool(organization.get("id")) and row.get("region_code") is not None


def announcement(app: dict[str, Any], doc: dict[str, Any]) -> list[PendingEvent]:
    """The events an unannounced application owes once its organization is known (`doc`, the
    standing): `drafted`, and `submitted` (with the submission's own instant) if it was submitted."""
    row = {**app, "organization": doc.get("organization"), "region_code": doc.get("region_code")}
    if not announced(row):
        return []
    owed = [application_event("drafted", row, project_title=row["project_title"])]
    if row.get("submitted_at") is not None:
        submitted_at = row["submitted_at"]
        owed.append(
            application_event(
                "submitted",
                row,
                submitted_at=instant(submitted_at if submitted_at.tzinfo else submitted_at.replace(tzinfo=UTC)),
                requested=money(row.get("requested_fen") or 0),
            )
        )
    return owed


def _finance_fields(award: Award, call: Call) -> dict[str, Any]:
    return {
        "award_id": award.id,
        "call_id": award.call_id,
        "org_id": award.org_id,
        "organization": award.organization,
        "budget_line": call.budget_line,
        "funding_source": call.funding_source,
        "budget_classification_code": call.budget_classification_code,
        "fiscal_year": call.fiscal_year,
        "authorisation_number": call.authorisation_number,
        "committed_total": money(award.committed_fen),
        "paid_total": money(award.paid_fen),
    }


def award_event(
    verb: str, award: Award, call: Call, *, booking: dict[str, Any] | None = None, **extra: Any
) -> PendingEvent:
    """Stages nothing by itself: counts the event on the award (its per-key sequence)."""
    award.award_seq += 1
    data: dict[str, Any] = {
        **_finance_fields(award, call),
        "application_id": award.application_id,
        "region_code": award.region_code,
        "call_type": award.call_type,
        "amount": money(award.amount_fen),
        **extra,
    }
    if booking is not None:
        data["booking"] = booking
    return PendingEvent(
        topic=AWARD, key=award.id, type=event_type("grants", "award", verb), subject=f"awards/{award.id}", data=data
    )


def disbursement_event(
    verb: str,
    award: Award,
    call: Call,
    tranche: Disbursement,
    *,
    booking: dict[str, Any] | None = None,
    amount_fen: int | None = None,
    **extra: Any,
) -> PendingEvent:
    award.disbursement_seq += 1
    data: dict[str, Any] = {
        **_finance_fields(award, call),
        "disbursement_id": tranche.id,
        "award_sequence": award.award_seq,
        "tranche_no": tranche.tranche_no,
        "tranche_count": tranche.tranche_count,
        "trigger": tranche.trigger,
        "amount": money(tranche.amount_fen if amount_fen is None else amount_fen),
        **extra,
    }
    if booking is not None:
        data["booking"] = booking
    return PendingEvent(
        topic=DISBURSEMENT,
        key=award.id,
        type=event_type("grants", "disbursement", verb),
        subject=f"disbursements/{tranche.id}",
        data=data,
    )


def instant(value: datetime) -> str:
    """RFC 3339 UTC, as every instant in `data`."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
