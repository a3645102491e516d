"""Credit lists (民政部令第60号《社会组织信用信息管理办法》, 2018): listings are facts with
`listed_on` / `removed_on` and reasons, never statuses."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from services.registry.domain.codes import Finding
from services.registry.domain.organizations import Refusal

ORDER_60 = "民政部令第60号《社会组织信用信息管理办法》"
IRREGULAR, SERIOUS = "irregular", "serious"
LISTS = (IRREGULAR, SERIOUS)

# reason code → (Chinese text, article, something to rectify?)
IRREGULAR_REASONS: dict[str, tuple[str, str, bool]] = {
    "annual_report_not_filed": ("未按照规定时限和要求向登记管理机关报送年度工作报告", "第十条第（一）项", True),
    "no_party_organization": ("未按照有关规定设立党组织", "第十条第（二）项", True),
    "rectification_overdue": (
        "登记管理机关在抽查和其他监督检查中发现问题，发放整改文书要求限期整改，社会组织未按期完成整改",
        "第十条第（三）项",
        True,
    ),
    "minor_penalty": ("受到警告或者不满5万元罚款处罚", "第十条第（四）项", False),
    "unreachable": ("通过登记的住所无法与社会组织取得联系", "第十条第（五）项", True),
}
SERIOUS_REASONS: dict[str, tuple[str, str, bool]] = {
    "irregular_two_years": ("被列入活动异常名录满2年", "第十八条第（一）项", False),
    "fraudulent_change_revoked": ("弄虚作假办理变更登记，被撤销变更登记", "第十八条第（二）项", False),
    "suspension_penalty": ("受到限期停止活动行政处罚", "第十八条第（三）项", False),
    "major_fine": ("受到5万元以上罚款处罚", "第十八条第（四）项", False),
    "repeated_minor_penalties": ("三年内两次以上受到警告或者不满5万元罚款处罚", "第十八条第（五）项", False),
    "dishonest_debtor": ("被人民法院依法列为失信被执行人", "第十八条第（六）项", False),
    "licence_revoked": ("被撤销登记或者吊销登记证书", "第十八条第（七）项", False),
    "other_serious": ("其他严重违法失信情形", "第十八条第（八）项", False),
}
REASONS = {IRREGULAR: IRREGULAR_REASONS, SERIOUS: SERIOUS_REASONS}
REMOVAL_REASONS = ("rectified", "expired", "clean_period", "deregistered", "objection_upheld", "escalated")
MAJOR_FINE_FEN = 50_000 * 100


def add_months(day: date, months: int) -> date:
    """Calendar months clipped to the month's end (2025-03-31 − 1 month = 2025-02-28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def auto_removal_on(listed_on: date) -> date:
    """Nothing to rectify: removed automatically 6 months after listing (第十三条)."""
    return add_months(listed_on, 6)


def escalation_on(listed_on: date) -> date:
    """Two full years on the irregular list: moved to the serious list the next day (第十八条第（一）项)."""
    return add_months(listed_on, 24)


def reason_text(list_: str, reason_code: str) -> str:
    return REASONS[list_][reason_code][0]


def check_listing(list_: str, reason_code: str, *, status: str, listed_on: date, today: date) -> list[Finding]:
    out: list[Finding] = []
    if list_ not in LISTS:
        return [
            Finding(
                "list",
                "credit_listing.list_unknown",
                "名录应为 irregular（活动异常名录）或 serious（严重违法失信名单）",
            )
        ]
    if reason_code not in REASONS[list_]:
        allowed = ", ".join(REASONS[list_])
        out.append(
            Finding("reason_code", "credit_listing.reason_unknown", f"列入{list_}的事由应为：{allowed}", ORDER_60)
        )
    if listed_on > today:
        out.append(Finding("listed_on", "date.future", "列入日期不能晚于今天"))
    return out


def listing_refusal(list_: str, reason_code: str, *, status: str) -> Refusal | None:
    """A deregistered organization is no longer on the register; a revoked one can only be put on
    the serious list for the revocation itself."""
    if status == "deregistered":
        return Refusal("credit_listing.deregistered", "已注销的社会组织不能列入信用名录", ORDER_60)
    if status == "revoked" and not (list_ == SERIOUS and reason_code == "licence_revoked"):
        return Refusal("credit_listing.revoked", "已撤销或吊销的社会组织只能因撤销/吊销列入严重违法失信名单", ORDER_60)
    return None


@dataclass(frozen=True, slots=True)
class ListingFacts:
    list: str
    reason_code: str
    listed_on: date
    removed_on: date | None
    rectifiable: bool


def removal_refusal(
    listing: ListingFacts,
    reason: str,
    *,
    removed_on: date,
    rectification_verified_on: date | None,
    org_status: str,
    last_trigger_on: date | None,
) -> Refusal | None:
    """Why a removal is not allowed (None when it is). `last_trigger_on` is the latest date of a
    new trigger (penalty or other listing) after this listing: it restarts the serious list's clock."""
    if listing.removed_on is not None:
        return Refusal("credit_listing.already_removed", f"该记录已于 {listing.removed_on.isoformat()} 移出")
    if removed_on < listing.listed_on:
        return Refusal("credit_listing.removal_before_listing", "移出日期不能早于列入日期")
    if reason not in ("rectified", "expired", "clean_period", "deregistered"):
        return Refusal(
            "credit_listing.removal_reason",
            "移出事由应为 rectified、expired、clean_period 或 deregistered；异议经复核成立的请走异议程序",
        )
    if listing.list == IRREGULAR:
        if reason == "rectified":
            if rectification_verified_on is None:
                return Refusal(
                    "credit_listing.rectification_unverified",
                    "因整改移出须写明核实整改的日期 rectification_verified_on",
                    ORDER_60 + " 第十二条",
                )
            if rectification_verified_on < listing.listed_on or rectification_verified_on > removed_on:
                return Refusal("credit_listing.rectification_date", "核实整改日期应在列入日期与移出日期之间")
            return None
        if reason == "expired":
            due = auto_removal_on(listing.listed_on)
            if listing.rectifiable:
                return Refusal(
                    "credit_listing.needs_rectification", "该事由须整改后移出，不能期满自动移出", ORDER_60 + " 第十三条"
                )
            if removed_on < due:
                return Refusal(
                    "credit_listing.too_early", f"列入满 6 个月（{due.isoformat()}）后方可移出", ORDER_60 + " 第十三条"
                )
            return None
        return Refusal("credit_listing.removal_reason", "活动异常名录的移出事由为 rectified 或 expired", ORDER_60)
    # serious list
    if reason == "clean_period":
        since = max(listing.listed_on, last_trigger_on or listing.listed_on)
        due = add_months(since, 24)
        if removed_on < due:
            return Refusal(
                "credit_listing.serious_too_early",
                f"列入严重违法失信名单满 2 年且期间未再发生列入情形方可移出：最早 {due.isoformat()}",
                ORDER_60 + " 第二十条",
            )
        return None
    if reason == "deregistered":
        if org_status != "deregistered" or listing.reason_code != "licence_revoked":
            return Refusal(
                "credit_listing.serious_too_early",
                "因撤销登记或吊销登记证书列入的，办理注销登记后方可移出",
                ORDER_60 + " 第二十条",
            )
        return None
    return Refusal(
        "credit_listing.removal_reason", "严重违法失信名单的移出事由为 clean_period 或 deregistered", ORDER_60
    )


def removal_warnings(
    listing: ListingFacts, reason: str, *, removed_on: date, removal_due: date | None
) -> list[Finding]:
    """Rectification verified: removal is due within 5 working days (第十二条); later is recorded."""
    if reason == "rectified" and removal_due is not None and removed_on > removal_due:
        return [
            Finding(
                "removed_on",
                "credit_listing.removal_late",
                f"应在核实整改后 5 个工作日内（{removal_due.isoformat()} 前）移出",
                ORDER_60 + " 第十二条",
                True,
            )
        ]
    return []


def penalty_triggers(
    penalty_type: str, fine_fen: int | None, minor_penalties_within_3_years: int
) -> list[tuple[str, str]]:
    """Listings a new penalty gives grounds for (list, reason code); officers decide them."""
    if penalty_type == "suspension":
        return [(SERIOUS, "suspension_penalty")]
    if penalty_type == "licence_revoked":
        return [(SERIOUS, "licence_revoked")]
    if penalty_type == "fine" and (fine_fen or 0) >= MAJOR_FINE_FEN:
        return [(SERIOUS, "major_fine")]
    if minor_penalties_within_3_years >= 2:
        return [(SERIOUS, "repeated_minor_penalties")]
    return [(IRREGULAR, "minor_penalty")]
