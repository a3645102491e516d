"""Routes of awards, objections, tranches, payments, the payee and the ledger."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from services.grants.api.common import idempotent, runtime_of, uow_for
from services.grants.handlers import agreements, awards, disbursements, ledger, objections
from services.grants.handlers.calls import budget_public
from services.grants.handlers.common import load, payee_aad, require_officer
from services.grants.models import Call, Disbursement
from services.grants.models.io_applications import PayeePublic
from services.grants.models.io_awards import (
    AgreementIn,
    AwardBatch,
    AwardBatchPublic,
    AwardPublic,
    ClawbackIn,
    DisbursementPublic,
    LedgerEntryPublic,
    ObjectionDecisionIn,
    ObjectionIn,
    ObjectionPublic,
    PayeeAwardPublic,
    PaymentIn,
    SuspensionIn,
    TerminationIn,
)
from shared import problems
from shared.deps import CurrentPrincipal
from shared.http import Page, etag, json_response, list_response

router = APIRouter(tags=["awards"])


def _award_response(award: Any, status_code: int = 200) -> Response:
    return json_response(awards.award_public(award), status_code=status_code, headers={"ETag": etag(award.version)})


@router.post(
    "/calls/{call_id}/awards",
    status_code=201,
    response_model=AwardBatchPublic,
    responses=problems.responses(400, 401, 403, 404, 409, 422),
)
async def decide_awards(call_id: str, body: AwardBatch, request: Request, principal: CurrentPrincipal) -> Response:
    """Decide a batch of awards atomically within the remaining budget (409 `budget.exceeded`)."""
    runtime = runtime_of(request)

    async def work(uow: Any) -> Response:
        call, decided = await awards.decide_awards(
            uow,
            principal=principal,
            call_id=call_id,
            body=body,
            calendar=runtime.calendar.calendar,
            cipher=runtime.cipher,
        )
        budget = budget_public(call)
        public = AwardBatchPublic(
            call_id=call.id,
            awards=[awards.award_public(a) for a in decided],
            budget={
                "total": budget.total,
                "committed": budget.committed,
                "paid": budget.paid,
                "remaining": budget.remaining,
            },
        )
        return json_response(public, status_code=201)

    return await idempotent(request, principal, body.model_dump(mode="json"), work)


@router.get("/calls/{call_id}/awards", response_model=list[AwardPublic], responses=problems.responses(401, 403, 404))
async def list_awards(call_id: str, request: Request, principal: CurrentPrincipal) -> list[AwardPublic]:
    """The call's awards (an organization sees its own)."""
    async with uow_for(request, principal, readonly=True) as uow:
        return [awards.award_public(a) for a in await awards.list_awards(uow, principal=principal, call_id=call_id)]


@router.get("/awards/{award_id}", response_model=AwardPublic, responses=problems.responses(401, 404))
async def get_award(award_id: str, request: Request, principal: CurrentPrincipal) -> Response:
    """One award."""
    async with uow_for(request, principal, readonly=True) as uow:
        award = await awards.visible_award(uow, principal, award_id)
    return _award_response(award)


@router.post(
    "/awards/{award_id}/objections",
    status_code=201,
    response_model=ObjectionPublic,
    responses=problems.responses(401, 404, 409, 422),
)
async def file_objection(award_id: str, body: ObjectionIn, request: Request, principal: CurrentPrincipal) -> Response:
    """Object to an award during its public notice (公示期) (Idempotency-Key)."""

    async def work(uow: Any) -> Response:
        objection = await objections.file_objection(uow, principal=principal, award_id=award_id, reason=body.reason)
        return json_response(objections.objection_public(objection), status_code=201)

    return await idempotent(request, principal, body.model_dump(mode="json"), work)


@router.post(
    "/objections/{objection_id}/decision",
    response_model=ObjectionPublic,
    responses=problems.responses(401, 403, 404, 409, 422),
)
async def decide_objection(
    objection_id: str, body: ObjectionDecisionIn, request: Request, principal: CurrentPrincipal
) -> ObjectionPublic:
    """Uphold (the award is cancelled, the next ranked application offered) or reject an objection."""
    async with uow_for(request, principal) as uow:
        objection = await objections.decide_objection(
            uow, principal=principal, objection_id=objection_id, decision=body.decision, reason=body.reason
        )
        await uow.commit()
    return objections.objection_public(objection)


@router.post(
    "/awards/{award_id}/agreement", response_model=AwardPublic, responses=problems.responses(400, 401, 403, 404, 409)
)
async def sign_agreement(award_id: str, body: AgreementIn, request: Request, principal: CurrentPrincipal) -> Response:
    """Record the signed agreement: the tranches are scheduled, the signing tranche released."""
    runtime = runtime_of(request)

    async def work(uow: Any) -> Response:
        award = await agreements.sign_agreement(
            uow, principal=principal, award_id=award_id, signed_on=body.signed_on, calendar=runtime.calendar.calendar
        )
        return _award_response(award)

    return await idempotent(request, principal, body.model_dump(mode="json"), work)


@router.post(
    "/awards/{award_id}/suspension", response_model=AwardPublic, responses=problems.responses(401, 403, 404, 409)
)
async def suspend_award(award_id: str, body: SuspensionIn, request: Request, principal: CurrentPrincipal) -> Response:
    """Suspend an award: its unpaid tranches wait."""
    async with uow_for(request, principal) as uow:
        award = await agreements.suspend_award(uow, principal=principal, award_id=award_id, reason=body.reason)
        await uow.commit()
    return _award_response(award)


@router.post(
    "/awards/{award_id}/resumption", response_model=AwardPublic, responses=problems.responses(401, 403, 404, 409)
)
async def resume_award(award_id: str, body: SuspensionIn, request: Request, principal: CurrentPrincipal) -> Response:
    """Resume a suspended award."""
    async with uow_for(request, principal) as uow:
        award = await agreements.resume_award(uow, principal=principal, award_id=award_id, reason=body.reason)
        await uow.commit()
    return _award_response(award)


@router.post(
    "/awards/{award_id}/termination", response_model=AwardPublic, responses=problems.responses(401, 403, 404, 409, 422)
)
async def terminate_award(
    award_id: str, body: TerminationIn, request: Request, principal: CurrentPrincipal
) -> Response:
    """Terminate: unpaid tranches cancelled (commitment released), a clawback recorded (Idempotency-Key)."""

    async def work(uow: Any) -> Response:
        award = await agreements.terminate_award(
            uow,
            principal=principal,
            award_id=award_id,
            reason=body.reason,
            clawback_fen=body.clawback.fen if body.clawback else None,
        )
        return _award_response(award)

    return await idempotent(request, principal, body.model_dump(mode="json"), work)


@router.post(
    "/awards/{award_id}/clawbacks", response_model=AwardPublic, responses=problems.responses(400, 401, 403, 404, 409)
)
async def record_clawback(award_id: str, body: ClawbackIn, request: Request, principal: CurrentPrincipal) -> Response:
    """Finance records money returned after a termination (Idempotency-Key)."""

    async def work(uow: Any) -> Response:
        award = await disbursements.record_clawback(
            uow, principal=principal, award_id=award_id, amount_fen=body.amount.fen, received_on=body.received_on
        )
        return _award_response(award)

    return await idempotent(request, principal, body.model_dump(mode="json"), work)


@router.get(
    "/awards/{award_id}/disbursements",
    response_model=list[DisbursementPublic],
    tags=["payments"],
    responses=problems.responses(401, 404),
)
async def list_disbursements(award_id: str, request: Request, principal: CurrentPrincipal) -> list[DisbursementPublic]:
    """The award's tranches and their payment state."""
    async with uow_for(request, principal, readonly=True) as uow:
        award = await awards.visible_award(uow, principal, award_id)
        return [disbursements.disbursement_public(d) for d in await disbursements.tranches_of(uow, award.id)]


@router.get(
    "/awards/{award_id}/payee",
    response_model=PayeeAwardPublic,
    tags=["payments"],
    responses=problems.responses(401, 403, 404),
)
async def get_payee(award_id: str, request: Request, principal: CurrentPrincipal) -> PayeeAwardPublic:
    """The payee's bank account (finance; every read is audited)."""
    runtime = runtime_of(request)
    async with uow_for(request, principal) as uow:
        award = await awards.visible_award(uow, principal, award_id)
        call = await load(uow, Call, award.call_id, what="call")
        require_officer(principal, call.region_code, roles=("finance", "admin"))
        number = None
        if award.payee_account_cipher:
            number = runtime.cipher.decrypt(award.payee_account_cipher, associated_data=payee_aad(award.org_id))
        uow.audit("award.payee_read", f"awards/{award.id}", {"by": principal.sub})
        await uow.commit()
    return PayeeAwardPublic(
        award_id=award.id,
        org_id=award.org_id,
        organization=award.organization,
        payee=PayeePublic(
            account_name=award.payee_account_name,
            bank_name=award.payee_bank_name,
            account_number_masked=f"****{number[-4:]}" if number else None,
        ),
        account_number=number,
    )


@router.get(
    "/disbursements/{disbursement_id}",
    response_model=DisbursementPublic,
    tags=["payments"],
    responses=problems.responses(401, 404),
)
async def get_disbursement(disbursement_id: str, request: Request, principal: CurrentPrincipal) -> Response:
    """One tranche."""
    async with uow_for(request, principal, readonly=True) as uow:
        d = await uow.session.get(Disbursement, disbursement_id)
        if d is None:
            raise problems.NotFound(f"disbursement {disbursement_id} not found")
        await awards.visible_award(uow, principal, d.award_id)
    return json_response(disbursements.disbursement_public(d), headers={"ETag": etag(d.version)})


@router.post(
    "/disbursements/{disbursement_id}/payments",
    response_model=DisbursementPublic,
    tags=["payments"],
    responses=problems.responses(401, 403, 404, 409, 422),
)
async def post_payment(
    disbursement_id: str, body: PaymentIn, request: Request, principal: CurrentPrincipal
) -> Response:
    """Finance posts paid / failed / reversed for an instruction; a repeat of the same posting is a no-op."""
    async with uow_for(request, principal) as uow:
        d, changed = await disbursements.post_payment(
            uow, principal=principal, disbursement_id=disbursement_id, body=body
        )
        await uow.commit()
    headers = {"ETag": etag(d.version)}
    if not changed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(disbursements.disbursement_public(d), headers=headers)


@router.post(
    "/disbursements/{disbursement_id}/retry",
    response_model=DisbursementPublic,
    tags=["payments"],
    responses=problems.responses(400, 401, 403, 404, 409),
)
async def retry_payment(disbursement_id: str, request: Request, principal: CurrentPrincipal) -> Response:
    """After a failed (or reversed) payment: attempt n+1 with a new instruction id (Idempotency-Key)."""

    async def work(uow: Any) -> Response:
        d = await disbursements.retry_payment(uow, principal=principal, disbursement_id=disbursement_id)
        return json_response(disbursements.disbursement_public(d), headers={"ETag": etag(d.version)})

    return await idempotent(request, principal, {}, work)


@router.get(
    "/ledger", response_model=Page[LedgerEntryPublic], tags=["payments"], responses=problems.responses(400, 401, 403)
)
async def get_ledger(
    request: Request,
    principal: CurrentPrincipal,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 200,
    call_id: Annotated[str | None, Query(max_length=36)] = None,
    award_id: Annotated[str | None, Query(max_length=36)] = None,
) -> Response:
    """The booking entries the finance events carry, in order (finance), for reconciliation."""
    async with uow_for(request, principal, readonly=True) as uow:
        page = await ledger.ledger_page(
            uow, principal=principal, cursor=cursor, limit=limit, call_id=call_id, award_id=award_id
        )
    return list_response(request, page, sheet="ledger")
