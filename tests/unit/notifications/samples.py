"""A `data` payload for every event type of docs/events.md, as producers send them.

Used by the rendering tests (every type renders in both languages) and by the integration tests,
which append CloudEvents carrying these payloads to the bus.
"""

from __future__ import annotations

import copy
from typing import Any

ORG_ID = "0b0e4c1a-3a51-4c5e-9a11-2f7c1b1d0001"
ORG_NAME = "广州市白云区启智社会工作服务中心"
REGION = "440111"
AWARD_ID = "0b0e4c1a-3a51-4c5e-9a11-2f7c1b1d00a1"
CALL_ID = "0b0e4c1a-3a51-4c5e-9a11-2f7c1b1d00c1"
APPLICATION_ID = "0b0e4c1a-3a51-4c5e-9a11-2f7c1b1d00b1"
EVALUATION_ID = "0b0e4c1a-3a51-4c5e-9a11-2f7c1b1d00e1"
ROUND_ID = "0b0e4c1a-3a51-4c5e-9a11-2f7c1b1d00f1"
EVALUATOR = "evaluator-li"

ORGANIZATION = {"org_id": ORG_ID, "scheme": "CN-USCI", "id": "52440111MJK9980480", "name": ORG_NAME}


def money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "CNY"}


_REGISTRY = {
    "org_id": ORG_ID,
    "organization": ORGANIZATION,
    "kind": "social_service_agency",
    "region_code": REGION,
    "status": "active",
}
_RATING = {
    "org_id": ORG_ID,
    "organization": ORGANIZATION,
    "region_code": REGION,
    "evaluation_id": EVALUATION_ID,
    "round_id": ROUND_ID,
}
_APPLICATION = {
    "application_id": APPLICATION_ID,
    "call_id": CALL_ID,
    "org_id": ORG_ID,
    "organization": ORGANIZATION,
    "region_code": REGION,
}
_FINANCE = {
    "budget_line": "2026-BL-01",
    "funding_source": "welfare_lottery",
    "budget_classification_code": "2081099",
    "fiscal_year": 2026,
    "authorisation_number": "穗民财〔2026〕12号",
}
_AWARD = {
    "award_id": AWARD_ID,
    "call_id": CALL_ID,
    "application_id": APPLICATION_ID,
    "org_id": ORG_ID,
    "organization": ORGANIZATION,
    "region_code": REGION,
    "call_type": "venture_philanthropy",
    "amount": money("50000.00"),
    **_FINANCE,
    "committed_total": money("50000.00"),
    "paid_total": money("0.00"),
}
_DISBURSEMENT = {
    "disbursement_id": "0b0e4c1a-3a51-4c5e-9a11-2f7c1b1d00d1",
    "award_id": AWARD_ID,
    "award_sequence": 7,
    "call_id": CALL_ID,
    "org_id": ORG_ID,
    "organization": ORGANIZATION,
    "tranche_no": 1,
    "tranche_count": 2,
    "trigger": "signing",
    "amount": money("30000.00"),
    **_FINANCE,
    "committed_total": money("50000.00"),
    "paid_total": money("0.00"),
}
_CALL = {
    "call_id": CALL_ID,
    "call_type": "venture_philanthropy",
    "title": "2026年白云区公益创投活动",
    "region_code": REGION,
    "budget": money("2000000.00"),
    "opens_at": "2026-03-02T01:00:00Z",
    "closes_at": "2026-03-31T16:00:00Z",
    **{k: v for k, v in _FINANCE.items() if k != "budget_line"},
}
_ASSESSMENT = {
    "assessment_id": "0b0e4c1a-3a51-4c5e-9a11-2f7c1b1d0a51",
    "award_id": AWARD_ID,
    "call_id": CALL_ID,
    "org_id": ORG_ID,
    "stage": "midterm",
}
_BOOKING = {"currency": "CNY", "budget_line": "2026-BL-01", "fiscal_year": 2026}

SAMPLES: dict[str, dict[str, Any]] = {
    # registry.organization
    "registry.organization.registered": {
        **_REGISTRY,
        "registered_on": "2019-06-01",
        "registration_authority": "440111",
        "category": "charity",
        "supervising_unit": None,
        "service_domains": ["elderly", "disability"],
    },
    "registry.organization.filed": {
        **_REGISTRY,
        "kind": "community_filed",
        "organization": {**ORGANIZATION, "scheme": "CN-GONGYI-FILED", "id": "BY-2026-001"},
        "filed_on": "2026-01-10",
        "filing_authority": "440111001",
        "filing_number": "BY-2026-001",
        "service_domains": ["children"],
    },
    "registry.organization.upgraded": {
        **_REGISTRY,
        "registered_on": "2026-02-01",
        "previous_filing_number": "BY-2024-017",
        "uscc": "52440111MJK9980480",
        "registration_authority": "440111",
    },
    "registry.organization.updated": {
        **_REGISTRY,
        "changed": ["address", "service_domains"],
        "service_domains": ["elderly"],
        "name": ORG_NAME,
    },
    "registry.organization.annual_report_recorded": {
        **_REGISTRY,
        "year": 2025,
        "result": "qualified",
        "report_status": "on_time",
        "effective_on": "2026-04-20",
    },
    "registry.organization.penalty_recorded": {
        **_REGISTRY,
        "penalty_id": "p-1",
        "penalty_type": "fine",
        "fine": money("20000.00"),
        "decided_on": "2026-02-10",
        "executed_on": None,
        "effective_on": "2026-02-10",
    },
    "registry.organization.investigation_opened": {
        **_REGISTRY,
        "investigation_id": "i-1",
        "opened_on": "2026-02-11",
        "effective_on": "2026-02-11",
    },
    "registry.organization.investigation_closed": {
        **_REGISTRY,
        "investigation_id": "i-1",
        "closed_on": "2026-02-27",
        "effective_on": "2026-02-27",
    },
    "registry.organization.listed": {
        **_REGISTRY,
        "listing_id": "l-1",
        "list": "irregular",
        "reason_code": "annual_report_not_filed",
        "reason": "未按规定报送2024年度工作报告",
        "listed_on": "2026-03-01",
        "escalated_from": None,
        "effective_on": "2026-03-01",
    },
    "registry.organization.delisted": {
        **_REGISTRY,
        "listing_id": "l-1",
        "list": "irregular",
        "removed_on": "2026-03-20",
        "removal_reason": "rectified",
        "effective_on": "2026-03-20",
    },
    "registry.organization.deregistered": {
        **_REGISTRY,
        "status": "deregistered",
        "deregistered_on": "2026-05-01",
        "reason": "自行解散",
        "effective_on": "2026-05-01",
    },
    "registry.organization.revoked": {
        **_REGISTRY,
        "status": "revoked",
        "revoked_on": "2026-05-02",
        "reason": "严重违法",
        "effective_on": "2026-05-02",
    },
    # evaluation.round
    "evaluation.round.opened": {
        "round_id": ROUND_ID,
        "year": 2026,
        "region_code": "440100",
        "kinds": ["social_group", "social_service_agency"],
        "template_id": "t-1",
        "rule_set": {"id": "national-2026", "version": 1},
        "applications_close_on": "2026-04-30",
    },
    "evaluation.round.closed": {"round_id": ROUND_ID, "region_code": "440100", "closed_on": "2026-04-30"},
    # evaluation.rating
    "evaluation.rating.applied": {
        **_RATING,
        "applied_on": "2026-03-10",
        "eligible": False,
        "reasons": [
            {"rule": "rating.annual_report", "detail": "2025年度年检不合格", "basis": "《社会组织评估管理办法》第八条"}
        ],
    },
    "evaluation.rating.assigned": {**_RATING, "evaluator_sub": EVALUATOR, "agency_id": "agency-1"},
    "evaluation.rating.conflict_declared": {
        **_RATING,
        "conflict_id": "c-1",
        "declared_by": "evaluator",
        "evaluator_sub": EVALUATOR,
    },
    "evaluation.rating.recusal_decided": {
        **_RATING,
        "conflict_id": "c-1",
        "evaluator_sub": EVALUATOR,
        "decision": "upheld",
    },
    "evaluation.rating.scored": {**_RATING, "evaluator_sub": EVALUATOR, "total": "912.50"},
    "evaluation.rating.proposed": {
        **_RATING,
        "proposed_grade": "4A",
        "total": "912.50",
        "spread": "12.00",
        "outliers": [],
    },
    "evaluation.rating.publicly_noticed": {
        **_RATING,
        "proposed_grade": "4A",
        "decided_on": "2026-05-20",
        "notice_starts_on": "2026-05-21",
        "notice_ends_at": "2026-05-27T16:00:00Z",
    },
    "evaluation.rating.appealed": {**_RATING, "appeal_id": "a-1", "filed_on": "2026-05-22"},
    "evaluation.rating.appeal_decided": {
        **_RATING,
        "appeal_id": "a-1",
        "decision": "rejected",
        "decided_on": "2026-06-01",
        "grade": "4A",
    },
    "evaluation.rating.published": {
        **_RATING,
        "grade": "4A",
        "decided_on": "2026-05-20",
        "announced_on": "2026-06-10",
        "valid_from": "2027-01-01",
        "valid_until": "2031-12-31",
        "rule_set": {"id": "national-2026", "version": 1},
    },
    "evaluation.rating.downgraded": {
        **_RATING,
        "round_id": None,
        "previous_grade": "4A",
        "grade": "3A",
        "reason": "failed_inspection",
        "effective_on": "2026-07-01",
        "valid_from": "2027-01-01",
        "valid_until": "2031-12-31",
    },
    "evaluation.rating.revoked": {
        **_RATING,
        "round_id": None,
        "previous_grade": "3A",
        "reason": "serious_listing",
        "effective_on": "2026-08-01",
    },
    "evaluation.rating.expired": {
        **_RATING,
        "round_id": None,
        "grade": "3A",
        "valid_until": "2026-02-28",
        "effective_on": "2026-03-01",
    },
    # evaluation.assessment
    "evaluation.assessment.scheduled": {**_ASSESSMENT, "due_on": "2026-09-30"},
    "evaluation.assessment.completed": {
        **_ASSESSMENT,
        "score": "82.50",
        "pass_threshold": "60.00",
        "passed": True,
        "completed_on": "2026-09-20",
    },
    # grants.call
    "grants.call.published": dict(_CALL),
    "grants.call.opened": dict(_CALL),
    "grants.call.closed": dict(_CALL),
    "grants.call.cancelled": {"call_id": CALL_ID, "region_code": REGION, "reason": "预算调整"},
    # grants.application
    "grants.application.drafted": {**_APPLICATION, "project_title": "长者饭堂“幸福食堂”项目"},
    "grants.application.submitted": {
        **_APPLICATION,
        "submitted_at": "2026-03-10T02:30:00Z",
        "requested": money("50000.00"),
    },
    "grants.application.screened": {
        **_APPLICATION,
        "eligible": False,
        "reasons": [
            {"rule": "eligibility.min_grade", "detail": "未达到3A等级", "basis": "本次申报通知 第三条（3A及以上）"}
        ],
        "warnings": [],
        "screened_at": "2026-04-02T02:00:00Z",
        "rescreen": False,
    },
    "grants.application.withdrawn": {**_APPLICATION, "withdrawn_at": "2026-03-12T03:00:00Z"},
    "grants.application.reviewed": {**_APPLICATION, "score": "86.40", "reviews": 5},
    "grants.application.ranked": {**_APPLICATION, "rank": 3, "score": "86.40"},
    # grants.award
    "grants.award.decided": {
        **_AWARD,
        "decided_on": "2026-04-20",
        "rank": 3,
        "booking": {"kind": "commitment", "amount": "50000.00", **_BOOKING},
    },
    "grants.award.publicly_noticed": {
        **_AWARD,
        "notice_starts_on": "2026-04-21",
        "notice_ends_at": "2026-04-27T16:00:00Z",
    },
    "grants.award.objection_filed": {**_AWARD, "objection_id": "o-1"},
    "grants.award.objection_rejected": {**_AWARD, "objection_id": "o-1"},
    "grants.award.objection_upheld": {
        **_AWARD,
        "objection_id": "o-1",
        "reserve_application_id": None,
        "committed_total": money("0.00"),
        "booking": {"kind": "commitment_release", "amount": "-50000.00", **_BOOKING},
    },
    "grants.award.confirmed": {**_AWARD, "confirmed_on": "2026-04-28"},
    "grants.award.agreement_signed": {
        **_AWARD,
        "signed_on": "2026-05-06",
        "tranches": [
            {"tranche_no": 1, "basis_points": 6000, "trigger": "signing", "amount": money("30000.00")},
            {"tranche_no": 2, "basis_points": 4000, "trigger": "final_passed", "amount": money("20000.00")},
        ],
        "assessment": {
            "template_id": "t-9",
            "pass_threshold": "60.00",
            "midterm_due": "2026-09-30",
            "final_due": "2027-03-31",
        },
    },
    "grants.award.suspended": {**_AWARD, "reason": "中期评估未通过"},
    "grants.award.resumed": {**_AWARD, "reason": "复评通过"},
    "grants.award.terminated": {
        **_AWARD,
        "reason": "项目无法继续执行",
        "cancelled_unpaid": money("20000.00"),
        "clawback": money("5000.00"),
        "committed_total": money("30000.00"),
        "booking": {"kind": "commitment_release", "amount": "-20000.00", **_BOOKING},
    },
    "grants.award.completed": {**_AWARD, "completed_on": "2027-04-15"},
    # grants.disbursement
    "grants.disbursement.scheduled": {**_DISBURSEMENT, "due_on": "2026-05-27"},
    "grants.disbursement.released": {
        **_DISBURSEMENT,
        "attempt": 1,
        "payment_instruction_id": "pi-1",
        "due_on": "2026-05-27",
        "booking": {"kind": "payment_instruction", "amount": "30000.00", **_BOOKING},
    },
    "grants.disbursement.paid": {
        **_DISBURSEMENT,
        "payment_instruction_id": "pi-1",
        "finance_reference": "FR-001",
        "paid_at": "2026-05-20T06:00:00Z",
        "paid_total": money("30000.00"),
        "booking": {"kind": "payment", "amount": "30000.00", **_BOOKING},
    },
    "grants.disbursement.payment_failed": {
        **_DISBURSEMENT,
        "payment_instruction_id": "pi-1",
        "attempt": 1,
        "reason": "收款账户已销户",
    },
    "grants.disbursement.payment_reversed": {
        **_DISBURSEMENT,
        "payment_instruction_id": "pi-1",
        "finance_reference": "FR-001",
        "reversed_at": "2026-05-22T06:00:00Z",
        "booking": {"kind": "payment_reversal", "amount": "-30000.00", **_BOOKING},
    },
    "grants.disbursement.suspended": {**_DISBURSEMENT, "reason": "中期评估未通过"},
    "grants.disbursement.resumed": {**_DISBURSEMENT, "reason": "复评通过"},
    "grants.disbursement.cancelled": {**_DISBURSEMENT, "reason": "资助终止"},
    "grants.disbursement.clawback_recorded": {
        **_DISBURSEMENT,
        "clawback": money("5000.00"),
        "received_on": "2026-10-10",
        "booking": {"kind": "clawback", "amount": "-5000.00", **_BOOKING},
    },
    # notifications.delivery (our own)
    "notifications.delivery.delivered": {
        "delivery_id": "d-1",
        "cause_event_id": "e-1",
        "cause_event_type": "cn.gongyi.grants.award.confirmed.v1",
        "channel": "email",
        "recipient_kind": "org",
        "attempts": 1,
        "status": "delivered",
    },
    "notifications.delivery.failed": {
        "delivery_id": "d-1",
        "cause_event_id": "e-1",
        "cause_event_type": "cn.gongyi.grants.award.confirmed.v1",
        "channel": "webhook",
        "recipient_kind": "subscription",
        "attempts": 2,
        "status": "pending",
    },
    "notifications.delivery.dead_lettered": {
        "delivery_id": "d-1",
        "cause_event_id": "e-1",
        "cause_event_type": "cn.gongyi.grants.award.confirmed.v1",
        "channel": "webhook",
        "recipient_kind": "subscription",
        "attempts": 10,
        "status": "failed",
    },
}

# What each type's message must mention (beyond the organization's name where it has one).
MUST_MENTION: dict[str, list[str]] = {
    "grants.award.confirmed": ["50,000.00", "2026"],
    "grants.award.decided": ["50,000.00"],
    "registry.organization.listed": ["未按规定报送2024年度工作报告"],
    "evaluation.rating.published": ["4A", "2031"],
    "grants.disbursement.payment_failed": ["收款账户已销户", "30,000.00"],
    "grants.application.screened": ["未达到3A等级", "本次申报通知 第三条（3A及以上）"],
    "grants.call.published": ["2026年白云区公益创投活动", "2,000,000.00"],
    "grants.award.agreement_signed": ["30,000.00", "20,000.00"],
}


def sample(name: str, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(SAMPLES[name])
    data.update(changes)
    return data
