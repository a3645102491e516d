"""Who hears what (DOMAIN.md §4): every notification type, its audience and whether it can be muted.

A notification type is named after the event that causes it without the `cn.gongyi.` prefix and
the version (`grants.award.confirmed` for `cn.gongyi.grants.award.confirmed.v1`), or after the
reminder or digest that produces it (`reminder.call_closing`, `digest.daily`). Audiences:

- `org`: the users whose token carries the event's `org_id`;
- `officers`: officers whose region contains the event's `region_code`;
- `evaluator`: the user named by the event's `evaluator_sub`;
- `round_orgs` / `call_orgs`: organizations in the round's (of the kinds it admits) or call's region;
- `call_applicants`: organizations holding an application (draft or submitted) in the call;
- `round_evaluators`: evaluators of the round who have assignments left to score;
- `admins`: national administrators (dead-lettered deliveries with no region).

Finance systems and other machines receive events through webhook subscriptions (or Kafka), not
through this table. Legal notices — credit listing, rating decision, award decision, payment
failure — are mandatory: they cannot be muted and always go to the inbox and to email.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Audience = Literal[
    "org", "officers", "evaluator", "round_orgs", "call_orgs", "call_applicants", "round_evaluators", "admins"
]
LegalCategory = Literal["credit_listing", "rating_decision", "award_decision", "payment_failure"]

CE_PREFIX = "cn.gongyi."
LEGAL_BASIS: dict[LegalCategory, str] = {
    "credit_listing": "《社会组织信用信息管理办法》（民政部令第60号）",
    "rating_decision": "《社会组织评估管理办法》",
    "award_decision": "资助决定（申报通知及资助协议）",
    "payment_failure": "资金拨付结果（资助协议）",
}


@dataclass(frozen=True, slots=True)
class NotificationType:
    name: str
    audiences: tuple[Audience, ...]
    label_zh: str
    label_en: str
    legal: LegalCategory | None = None
    from_event: bool = True

    @property
    def mandatory(self) -> bool:
        return self.legal is not None

    @property
    def event_type(self) -> str | None:
        return f"{CE_PREFIX}{self.name}.v1" if self.from_event else None


def _t(
    name: str, audiences: tuple[Audience, ...], zh: str, en: str, legal: LegalCategory | None = None
) -> NotificationType:
    return NotificationType(name, audiences, zh, en, legal)


def _r(name: str, audiences: tuple[Audience, ...], zh: str, en: str) -> NotificationType:
    return NotificationType(name, audiences, zh, en, None, from_event=False)


ORG: tuple[Audience, ...] = ("org",)
NOBODY: tuple[Audience, ...] = ()

_TYPES: tuple[NotificationType, ...] = (
    # registry.organization
    _t("registry.organization.registered", ORG, "社会组织登记", "Organization registered"),
    _t("registry.organization.filed", ORG, "社区社会组织备案", "Community organization filed"),
    _t("registry.organization.upgraded", ORG, "备案组织转为登记", "Filed group registered"),
    _t("registry.organization.updated", ORG, "登记信息变更", "Registration details changed"),
    _t("registry.organization.annual_report_recorded", ORG, "年检（年报）结果", "Annual inspection result"),
    _t("registry.organization.penalty_recorded", ORG, "行政处罚记录", "Penalty recorded"),
    _t("registry.organization.investigation_opened", ORG, "立案调查", "Investigation opened"),
    _t("registry.organization.investigation_closed", ORG, "调查结束", "Investigation closed"),
    _t("registry.organization.listed", ORG, "列入信用名单", "Listed on a credit list", "credit_listing"),
    _t("registry.organization.delisted", ORG, "移出信用名单", "Removed from a credit list", "credit_listing"),
    _t("registry.organization.deregistered", ORG, "注销登记", "Deregistered"),
    _t("registry.organization.revoked", ORG, "撤销登记", "Registration revoked"),
    # evaluation.round
    _t("evaluation.round.opened", ("round_orgs",), "等级评估开始申报", "Rating round open for applications"),
    _t("evaluation.round.closed", ("round_evaluators",), "评估评分提醒", "Scores due"),
    # evaluation.rating
    _t("evaluation.rating.applied", ORG, "评估申报受理", "Rating application received"),
    _t("evaluation.rating.assigned", ("evaluator",), "评估任务分配", "Evaluation assigned"),
    _t("evaluation.rating.conflict_declared", ("officers",), "利益冲突申报", "Conflict of interest declared"),
    _t("evaluation.rating.recusal_decided", ("evaluator", "org"), "回避决定", "Recusal decided"),
    _t("evaluation.rating.scored", NOBODY, "评估评分提交", "Score submitted"),
    _t("evaluation.rating.proposed", NOBODY, "初评结果", "Grade proposed"),
    _t("evaluation.rating.publicly_noticed", ORG, "评估结果公示", "Rating under public notice"),
    _t("evaluation.rating.appealed", ("officers",), "评估复核申请", "Rating appealed"),
    _t("evaluation.rating.appeal_decided", ORG, "评估复核决定", "Appeal decided", "rating_decision"),
    _t("evaluation.rating.published", ORG, "评估等级结论", "Grade published", "rating_decision"),
    _t("evaluation.rating.downgraded", ORG, "评估等级降级", "Grade lowered", "rating_decision"),
    _t("evaluation.rating.revoked", ORG, "撤销评估等级", "Grade revoked", "rating_decision"),
    _t("evaluation.rating.expired", ORG, "评估等级到期", "Grade expired"),
    # evaluation.assessment
    _t("evaluation.assessment.scheduled", ORG, "项目评估安排", "Project assessment scheduled"),
    _t("evaluation.assessment.completed", ORG, "项目评估结果", "Project assessment result"),
    # grants.call
    _t("grants.call.published", ("call_orgs",), "项目申报通知", "Grant call published"),
    _t("grants.call.opened", NOBODY, "项目开始申报", "Call open"),
    _t("grants.call.closed", NOBODY, "项目申报截止", "Call closed"),
    _t("grants.call.cancelled", ("call_applicants",), "项目申报取消", "Call cancelled"),
    # grants.application
    _t("grants.application.drafted", NOBODY, "申报草稿", "Application drafted"),
    _t("grants.application.submitted", ORG, "申报回执", "Application received"),
    _t("grants.application.screened", ORG, "资格审查结果", "Eligibility screening"),
    _t("grants.application.withdrawn", ORG, "撤回申报", "Application withdrawn"),
    _t("grants.application.reviewed", ORG, "专家评审结果", "Review result"),
    _t("grants.application.ranked", ORG, "评审排名", "Ranking"),
    # grants.award
    _t("grants.award.decided", ORG, "资助决定", "Award decided", "award_decision"),
    _t("grants.award.publicly_noticed", ORG, "资助结果公示", "Award under public notice"),
    _t("grants.award.objection_filed", ("officers",), "公示异议", "Objection filed"),
    _t("grants.award.objection_rejected", ORG, "异议不成立", "Objection rejected"),
    _t("grants.award.objection_upheld", ORG, "异议成立，资助取消", "Objection upheld", "award_decision"),
    _t("grants.award.confirmed", ORG, "资助确认", "Award confirmed", "award_decision"),
    _t("grants.award.agreement_signed", ORG, "资助协议签订", "Agreement signed"),
    _t("grants.award.suspended", ORG, "资助暂停", "Award suspended"),
    _t("grants.award.resumed", ORG, "资助恢复", "Award resumed"),
    _t("grants.award.terminated", ORG, "资助终止", "Award terminated", "award_decision"),
    _t("grants.award.completed", ORG, "项目结项", "Project completed"),
    # grants.disbursement
    _t("grants.disbursement.scheduled", NOBODY, "拨付计划", "Tranche scheduled"),
    _t("grants.disbursement.released", ORG, "资金拨付指令", "Tranche released"),
    _t("grants.disbursement.paid", ORG, "资金已到账", "Payment made"),
    _t("grants.disbursement.payment_failed", ("org", "officers"), "资金支付失败", "Payment failed", "payment_failure"),
    _t("grants.disbursement.payment_reversed", ("org", "officers"), "资金退回", "Payment reversed"),
    _t("grants.disbursement.suspended", ORG, "拨付暂停", "Tranche suspended"),
    _t("grants.disbursement.resumed", ORG, "拨付恢复", "Tranche resumed"),
    _t("grants.disbursement.cancelled", ORG, "拨付取消", "Tranche cancelled"),
    _t("grants.disbursement.clawback_recorded", ORG, "资金收回", "Clawback recorded"),
    # notifications.delivery (our own: officers hear of deliveries that failed for good)
    _t("notifications.delivery.delivered", NOBODY, "通知已送达", "Notification delivered"),
    _t("notifications.delivery.failed", NOBODY, "通知发送失败（将重试）", "Delivery attempt failed"),
    _t("notifications.delivery.dead_lettered", ("officers",), "通知最终发送失败", "Delivery failed for good"),
    # reminders and digests (scheduled, not caused by one event)
    _r("reminder.call_closing", ORG, "申报即将截止提醒", "Call closing soon"),
    _r("reminder.notice_ending", ORG, "公示即将结束提醒", "Public notice ending"),
    _r("reminder.annual_report_due", ORG, "年度报告提醒", "Annual report due"),
    _r("reminder.assessment_due", ORG, "项目评估提醒", "Assessment due"),
    _r("digest.daily", NOBODY, "每日通知摘要", "Daily digest"),
)

TYPES: dict[str, NotificationType] = {t.name: t for t in _TYPES}
BY_EVENT_TYPE: dict[str, NotificationType] = {t.event_type: t for t in _TYPES if t.event_type is not None}
CONSUMED_EVENT_TYPES: tuple[str, ...] = tuple(
    t.event_type for t in _TYPES if t.event_type is not None and not t.name.startswith("notifications.")
)


def for_event(event_type: str) -> NotificationType | None:
    return BY_EVENT_TYPE.get(event_type)


def short_name(event_type: str) -> str:
    """`cn.gongyi.grants.award.confirmed.v1` → `grants.award.confirmed`."""
    name = event_type.removeprefix(CE_PREFIX)
    head, _, version = name.rpartition(".")
    return head if version.startswith("v") and version[1:].isdigit() else name


def topic_of(event_type: str) -> str:
    """`cn.gongyi.grants.award.confirmed.v1` → `grants.award`."""
    parts = short_name(event_type).split(".")
    return ".".join(parts[:2])


def matches(pattern: str, event_type: str) -> bool:
    """Subscription patterns: an exact type, `cn.gongyi.grants.award.*` (any verb), or `*`."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def valid_pattern(pattern: str) -> bool:
    """A pattern is valid when it matches at least one event type this system publishes."""
    if pattern == "*":
        return True
    return any(matches(pattern, t) for t in (*CONSUMED_EVENT_TYPES,))
