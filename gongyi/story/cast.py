"""Who takes part in the story and what they submit: people (token claims), organizations (with codes
that pass GB 32100), the three calls and the applications.

Regions: 广州市白云区 (440111) and its 三元里街道 (440111002, in the statistics bureau's street list).
Personal data (legal representatives' ID numbers and phones) is sent as a registrar would enter it
and never comes back unmasked.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from gongyi.story.context import Person, iso, money, shanghai
from services.registry.domain.codes import org_code_check_character, uscc_check_character

DISTRICT, STREET, CITY = "440111", "440111002", "440100"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
KIND_DIGIT = {"social_group": "1", "social_service_agency": "2", "foundation": "3", "other": "9"}

ADMIN = Person("系统管理员", "admin", "demo-admin")
DISTRICT_OFFICER = Person("白云区民政局 社会组织管理科", "officer", "baiyun-officer", (("region", DISTRICT),))
STREET_OFFICER = Person("三元里街道办事处", "officer", "sanyuanli-officer", (("region", STREET),))
FINANCE = Person("广州市财政局（资金拨付）", "finance", "gz-finance", (("region", CITY),))


def uscc(kind: str, authority: str = DISTRICT) -> str:
    """A fresh unified social credit code registered by `authority` (both check characters right)."""
    body = "MJ" + "".join(secrets.choice(USCC_ALPHABET) for _ in range(6))
    first17 = "5" + KIND_DIGIT[kind] + authority + body + org_code_check_character(body)
    return first17 + uscc_check_character(first17)


@dataclass
class Org:
    key: str  # a / b / c in the story
    name: str
    kind: str
    region_code: str
    body: dict[str, Any]
    org_id: str = ""
    code: str = ""  # USCC or filing number
    user: Person | None = None  # the organization's staff member who uses the system

    @property
    def email(self) -> str:
        """The address its staff member gives the notifications service."""
        return f"{self.key}-{self.org_id[-12:]}@example.org"

    @property
    def short(self) -> str:
        return self.name.removeprefix("广州市白云区")


def organizations(suffix: str = "") -> dict[str, Org]:
    """A and B are registered by the district (social service agencies), C is filed by the street."""
    a_name = f"广州市白云区启智社会工作服务中心{suffix}"
    b_name = f"广州市白云区康园助残服务中心{suffix}"
    c_name = f"三元里街道长者互助队{suffix}"
    return {
        "a": Org("a", a_name, "social_service_agency", DISTRICT,
                 _registered(a_name, "2019-06-01", ["elderly"], "440111196001011232")),
        "b": Org("b", b_name, "social_service_agency", DISTRICT,
                 _registered(b_name, "2020-09-15", ["disability"], "440524188001010014")),
        "c": Org(
            "c",
            c_name,
            "community_filed",
            STREET,
            {
                "name": c_name,
                "kind": "community_filed",
                "region_code": STREET,
                "filed_on": "2025-04-18",
                "service_domains": ["elderly"],
                "address": "广州市白云区三元里大道某号社区服务站",
            },
        ),
    }


def _registered(name: str, registered_on: str, domains: list[str], id_number: str) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "social_service_agency",
        "uscc": uscc("social_service_agency"),
        "region_code": DISTRICT,
        "registered_on": registered_on,
        "category": "community_service",
        "supervising_unit": None,
        "service_domains": domains,
        "legal_representative": {"name": "陈立", "id_number": id_number, "phone": "13800000000"},
        "address": "广州市白云区机场路某号",
        "contact": {"name": "办公室", "phone": "020-86000000"},
    }


# -- calls ---------------------------------------------------------------------------------------------

OPENS, CLOSES = shanghai("2026-06-15 09:00"), shanghai("2026-07-15 17:00")
RUBRIC = [
    {"code": "need", "title": "需求分析", "weight_bp": 3000},
    {"code": "design", "title": "项目设计", "weight_bp": 4000},
    {"code": "capacity", "title": "执行能力", "weight_bp": 3000},
]
ASSESSMENT = {"template_id": "project-assessment-example", "pass_threshold": "60.00", "midterm_months": 3,
              "final_months": 4}


def _call(**fields: Any) -> dict[str, Any]:
    return {
        "opens_at": iso(OPENS),
        "closes_at": iso(CLOSES),
        "notice_working_days": 5,
        "rubric": RUBRIC,
        "reviewers_per_application": 2,
        "budget_classification_code": "2081002",
        "fiscal_year": 2026,
        **fields,
    }


def venture_call() -> dict[str, Any]:
    """公益创投: registered organizations rated 3A or above, 40 % at signing, 30 % mid-term, 30 % final."""
    return _call(
        call_type="venture_philanthropy",
        title="2026年白云区社区公益创投",
        description="资助为社区长者、残疾人提供服务的公益项目；申报单位须具有3A及以上社会组织评估等级。",
        region_code=DISTRICT,
        budget=money("300000.00"),
        min_award=money("20000.00"),
        max_award=money("100000.00"),
        max_grant_bp=6000,
        personnel_cap_bp=4000,
        eligibility={
            "kinds": ["social_group", "social_service_agency", "foundation"],
            "min_grade": "3A",
            "lookbacks": [{"list": "irregular", "months": 12}, {"list": "serious", "months": 24}],
            "max_applications": 1,
            "bases": {"min_grade": "2026年白云区社区公益创投申报通知 第三条（3A及以上）"},
        },
        tranches=[
            {"basis_points": 4000, "trigger": "signing"},
            {"basis_points": 3000, "trigger": "midterm_passed"},
            {"basis_points": 3000, "trigger": "final_passed"},
        ],
        assessment=ASSESSMENT,
        funding_source="welfare_lottery",
        authorisation_number="穗财社〔2026〕18号",
    )


def micro_call() -> dict[str, Any]:
    """微公益创投 of the street: filed community groups welcome, ¥2,000–5,000, paid at signing."""
    return _call(
        call_type="micro_venture",
        title="2026年三元里街道微公益创投",
        description="支持辖区社区社会组织（含备案组织）开展邻里互助小项目。",
        region_code=STREET,
        budget=money("50000.00"),
        min_award=money("2000.00"),
        max_award=money("5000.00"),
        eligibility={"kinds": ["social_group", "social_service_agency", "community_filed"], "max_applications": 1},
        reviewers_per_application=1,
        tranches=[{"basis_points": 10000, "trigger": "signing"}],
        funding_source="district_finance",
        authorisation_number="白财行〔2026〕7号",
    )


def purchase_call() -> dict[str, Any]:
    """政府购买服务 (财政部令第102号): 竞争性磋商, a one-year contract, half at signing, half at the final."""
    return _call(
        call_type="service_purchase",
        title="2026年白云区居家养老上门服务购买项目",
        description="向社会力量购买居家养老上门服务，采用竞争性磋商方式确定承接主体。",
        region_code=DISTRICT,
        budget=money("200000.00"),
        min_award=money("50000.00"),
        max_award=money("200000.00"),
        eligibility={"kinds": ["social_group", "social_service_agency"], "min_grade": "3A", "max_applications": 1},
        tranches=[{"basis_points": 5000, "trigger": "signing"}, {"basis_points": 5000, "trigger": "final_passed"}],
        assessment=ASSESSMENT,
        procurement_method="competitive_consultation",
        contract_term_months=12,
        funding_source="district_finance",
        authorisation_number="白财社〔2026〕21号",
    )


PAYEE = {"bank_name": "中国工商银行广州白云支行", "account_number": "3602000109200123456"}


def application(org: Org, title: str, summary: str, requested: str, lines: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "project_title": title,
        "summary": summary,
        "period_start": "2026-08-01",
        "period_end": "2026-12-31",
        "requested": money(requested),
        "budget_lines": [{"category": c, "amount": money(a)} for c, a in lines],
        "payee": {"account_name": org.name, **PAYEE},
    }
