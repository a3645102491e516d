"""Calls (申报通知): what makes one coherent, and the timeline it moves along."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from services.grants.domain import DomainError
from services.grants.domain.money import BP_WHOLE, yuan

CALL_TYPES = ("venture_philanthropy", "micro_venture", "service_purchase", "award_subsidy")
TRIGGERS = ("signing", "midterm_passed", "final_passed")
GRADES = ("5A", "4A", "3A", "2A", "1A")
KINDS = ("social_group", "social_service_agency", "foundation", "other", "community_filed")
LISTS = ("irregular", "serious")
ANNUAL_RESULTS = ("qualified", "basically_qualified", "unqualified", "not_inspected")
TIE_BREAKS = ("earlier_submission", "lower_request", "higher_roadshow")
# 财政部令第102号 第二十三条: 公开招标, 邀请招标, 竞争性谈判, 竞争性磋商, 单一来源, 询价 → OCDS procurementMethod
PROCUREMENT_METHODS: Mapping[str, tuple[str, str]] = {
    "public_tender": ("open", "公开招标"),
    "invited_tender": ("selective", "邀请招标"),
    "competitive_negotiation": ("limited", "竞争性谈判"),
    "competitive_consultation": ("limited", "竞争性磋商"),
    "single_source": ("direct", "单一来源"),
    "request_for_quotation": ("limited", "询价"),
}
FUNDING_SOURCES = (
    "welfare_lottery",
    "central_finance",
    "provincial_finance",
    "municipal_finance",
    "district_finance",
    "foundation_charity",
    "matching",
)
STATUSES = ("draft", "published", "open", "closed", "cancelled")
BASIS_102 = "财政部令第102号"
_Err = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class Lookback:
    list: str
    months: int


@dataclass(frozen=True, slots=True)
class Rules:
    """A call's eligibility rule set: data, versioned with the call (DOMAIN.md: rules are data)."""

    kinds: tuple[str, ...] = ("social_group", "social_service_agency", "foundation", "other")
    regions: tuple[str, ...] = ()
    min_grade: str | None = None
    lookbacks: tuple[Lookback, ...] = ()
    major_violation_months: int | None = None
    annual_results: tuple[str, ...] | None = None
    max_applications: int | None = 1
    exclude_under_investigation: bool = False
    double_funding_check: bool = True
    bases: Mapping[str, str] = field(default_factory=dict)

    @property
    def admits_filed_groups(self) -> bool:
        return "community_filed" in self.kinds


@dataclass(frozen=True, slots=True)
class TrancheRule:
    basis_points: int
    trigger: str


@dataclass(frozen=True, slots=True)
class Criterion:
    code: str
    title: str
    weight_bp: int


@dataclass(frozen=True, slots=True)
class CallSpec:
    call_type: str
    title: str
    region_code: str
    budget_fen: int
    min_award_fen: int
    max_award_fen: int
    max_grant_bp: int
    personnel_cap_bp: int
    opens_at: datetime
    closes_at: datetime
    notice_working_days: int
    tranches: tuple[TrancheRule, ...]
    rubric: tuple[Criterion, ...]
    reviewers_per_application: int
    roadshow_weight_bp: int
    tie_break: str
    funding_source: str
    budget_classification_code: str
    fiscal_year: int
    authorisation_number: str
    rules: Rules
    procurement_method: str | None = None
    contract_term_months: int | None = None
    contract_term_justification: str | None = None
    amount_per_grade: Mapping[str, int] = field(default_factory=dict)


def validate_call(spec: CallSpec) -> list[dict[str, str]]:
    """Every incoherence of a call at once, as `{field, message}` (empty when it is coherent)."""
    errors: list[dict[str, str]] = []

    def err(name: str, message: str) -> None:
        errors.append({"field": name, "message": message})

    if spec.budget_fen <= 0:
        err("budget", "a call needs a budget (财政部令第102号: no budget, no purchase)")
    if spec.closes_at <= spec.opens_at:
        err("closes_at", f"closes_at {spec.closes_at.isoformat()} is not after opens_at {spec.opens_at.isoformat()}")
    total_bp = sum(t.basis_points for t in spec.tranches)
    if not spec.tranches:
        err("tranches", "a call needs a tranche schedule")
    elif total_bp != BP_WHOLE:
        err("tranches", f"tranches must sum to 10000 basis points (100 %), they sum to {total_bp}")
    order = [TRIGGERS.index(t.trigger) for t in spec.tranches if t.trigger in TRIGGERS]
    for i, tranche in enumerate(spec.tranches):
        if tranche.basis_points <= 0:
            err(f"tranches.{i}.basis_points", "each tranche has a positive share")
        if tranche.trigger not in TRIGGERS:
            err(f"tranches.{i}.trigger", f"trigger must be one of {', '.join(TRIGGERS)}")
    if order != sorted(order):
        err("tranches", "tranches follow the project: signing, then mid-term, then final")
    if not 1 <= spec.max_grant_bp <= BP_WHOLE:
        err("max_grant_bp", "the grant's share of the project budget is 1..10000 basis points")
    if not 0 <= spec.personnel_cap_bp <= BP_WHOLE:
        err("personnel_cap_bp", "the personnel-cost cap is 0..10000 basis points")
    if not 1 <= spec.notice_working_days <= 30:
        err("notice_working_days", "a public notice lasts 1..30 working days")
    if not 2000 <= spec.fiscal_year <= 2100:
        err("fiscal_year", "fiscal_year is a four-digit year")
    if spec.funding_source not in FUNDING_SOURCES:
        err("funding_source", f"funding_source must be one of {', '.join(FUNDING_SOURCES)}")
    if spec.call_type == "award_subsidy":
        _validate_subsidy(spec, err)
    else:
        _validate_award_range(spec, err)
        _validate_review(spec, err)
    if spec.call_type == "service_purchase":
        _validate_purchase(spec, err)
    _validate_rules(spec, err)
    return errors


def _validate_award_range(spec: CallSpec, err: _Err) -> None:
    if spec.min_award_fen < 0:
        err("min_award", "min_award cannot be negative")
    if spec.max_award_fen <= 0:
        err("max_award", "max_award must be positive")
    if spec.min_award_fen > spec.max_award_fen:
        err("min_award", f"min_award {yuan(spec.min_award_fen)} exceeds max_award {yuan(spec.max_award_fen)}")
    if spec.max_award_fen > spec.budget_fen > 0:
        err("max_award", f"max_award {yuan(spec.max_award_fen)} exceeds the budget {yuan(spec.budget_fen)}")


def _validate_review(spec: CallSpec, err: _Err) -> None:
    if not spec.rubric:
        err("rubric", "a call with applications needs a review rubric")
    elif sum(c.weight_bp for c in spec.rubric) != BP_WHOLE:
        err(
            "rubric",
            f"rubric weights must sum to 10000 basis points, they sum to {sum(c.weight_bp for c in spec.rubric)}",
        )
    codes = [c.code for c in spec.rubric]
    if len(set(codes)) != len(codes):
        err("rubric", "rubric criterion codes must be unique")
    for i, criterion in enumerate(spec.rubric):
        if criterion.weight_bp <= 0:
            err(f"rubric.{i}.weight_bp", "each criterion has a positive weight")
    if not 1 <= spec.reviewers_per_application <= 15:
        err("reviewers_per_application", "1..15 reviewers per application")
    if not 0 <= spec.roadshow_weight_bp < BP_WHOLE:
        err("roadshow_weight_bp", "the roadshow weight is 0..9999 basis points")
    if spec.tie_break not in TIE_BREAKS:
        err("tie_break", f"tie_break must be one of {', '.join(TIE_BREAKS)}")


def _validate_subsidy(spec: CallSpec, err: _Err) -> None:
    if not spec.amount_per_grade:
        err("amount_per_grade", "an award subsidy names the amount per grade")
    for grade, fen in spec.amount_per_grade.items():
        if grade not in GRADES:
            err(f"amount_per_grade.{grade}", f"grade must be one of {', '.join(GRADES)}")
        elif fen <= 0:
            err(f"amount_per_grade.{grade}", "the amount per grade is positive")
        elif fen > spec.budget_fen > 0:
            err(f"amount_per_grade.{grade}", f"{yuan(fen)} exceeds the budget {yuan(spec.budget_fen)}")


def _validate_purchase(spec: CallSpec, err: _Err) -> None:
    if spec.procurement_method not in PROCUREMENT_METHODS:
        err("procurement_method", f"service purchase names its procurement method: {', '.join(PROCUREMENT_METHODS)}")
    term = spec.contract_term_months
    if term is None or not 1 <= term <= 36:
        err("contract_term_months", "service purchase contracts run 1..36 months")
    elif term > 12 and not (spec.contract_term_justification or "").strip():
        err("contract_term_justification", "a contract longer than 1 year (≤ 3) needs a recorded justification")
    if "community_filed" in spec.rules.kinds:
        err("eligibility.kinds", "providers of purchased services bear civil liability: filed groups cannot provide")


def _validate_rules(spec: CallSpec, err: _Err) -> None:
    rules = spec.rules
    if not rules.kinds:
        err("eligibility.kinds", "name at least one kind of organization")
    for kind in rules.kinds:
        if kind not in KINDS:
            err("eligibility.kinds", f"unknown kind {kind!r}")
    if rules.min_grade is not None and rules.min_grade not in GRADES:
        err("eligibility.min_grade", f"min_grade must be one of {', '.join(GRADES)}")
    for i, lookback in enumerate(rules.lookbacks):
        if lookback.list not in LISTS:
            err(f"eligibility.lookbacks.{i}.list", f"list must be one of {', '.join(LISTS)}")
        if not 1 <= lookback.months <= 120:
            err(f"eligibility.lookbacks.{i}.months", "a look-back is 1..120 months")
    if rules.major_violation_months is not None and not 1 <= rules.major_violation_months <= 120:
        err("eligibility.major_violation_months", "a look-back is 1..120 months")
    for result in rules.annual_results or ():
        if result not in ANNUAL_RESULTS:
            err("eligibility.annual_results", f"unknown annual result {result!r}")
    if rules.max_applications is not None and rules.max_applications < 1:
        err("eligibility.max_applications", "at least one application per organization")


def purchase_rules(rules: Rules) -> Rules:
    """Statutory provider conditions added to every service-purchase call (财政部令第102号 第六条)."""
    months = rules.major_violation_months or 36
    bases = {"major_violation": f"{BASIS_102} 第六条", **rules.bases}
    return Rules(
        kinds=rules.kinds,
        regions=rules.regions,
        min_grade=rules.min_grade,
        lookbacks=rules.lookbacks,
        major_violation_months=months,
        annual_results=rules.annual_results,
        max_applications=rules.max_applications,
        exclude_under_investigation=rules.exclude_under_investigation,
        double_funding_check=rules.double_funding_check,
        bases=bases,
    )


def status_after_publication(opens_at: datetime, now: datetime) -> str:
    return "open" if now >= opens_at else "published"


def require_status(status: str, allowed: tuple[str, ...], action: str) -> None:
    if status not in allowed:
        raise DomainError(
            "call.state", f"cannot {action} a call that is {status} (allowed: {', '.join(allowed)})", kind="conflict"
        )


def submission_window(opens_at: datetime, closes_at: datetime, status: str, received_at: datetime) -> None:
    """A submission is accepted iff the receive instant is in [opens_at, closes_at) (to the second)."""
    if status in ("draft", "cancelled"):
        raise DomainError("call.not_open", f"the call is {status}", kind="conflict")
    if received_at < opens_at:
        raise DomainError(
            "call.not_open",
            f"the call opens at {opens_at.isoformat()}; received {received_at.isoformat()}",
            kind="conflict",
        )
    if received_at >= closes_at:
        raise DomainError(
            "call.closed",
            f"the call closed at {closes_at.isoformat()}; the submission was received at {received_at.isoformat()}",
            basis="本次申报通知（截止时间）",
            kind="conflict",
        )
