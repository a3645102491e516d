"""Organizations (DOMAIN.md §1): kinds, who may register or file them, what a registration needs,
filing numbers and the annual duty's deadline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.registry.domain.codes import Finding, authority_prefix, is_street_code, lies_within

KINDS = ("social_group", "social_service_agency", "foundation", "other", "community_filed")
REGISTERED_KINDS = ("social_group", "social_service_agency", "foundation", "other")
FILED = "community_filed"
KIND_NAMES = {
    "social_group": "社会团体",
    "social_service_agency": "社会服务机构",
    "foundation": "基金会",
    "other": "其他",
    "community_filed": "社区社会组织（备案）",
}
# Direct registration (no supervising unit) covers four categories; any other names a 业务主管单位.
CATEGORIES = ("industry_association", "science_technology", "charity", "community_service")
CATEGORY_NAMES = {
    "industry_association": "行业协会商会",
    "science_technology": "科技类",
    "charity": "公益慈善类",
    "community_service": "城乡社区服务类",
}
SERVICE_DOMAINS = (
    "elderly",
    "disability",
    "children",
    "youth",
    "women",
    "family",
    "poverty_relief",
    "education",
    "health",
    "culture",
    "sports",
    "environment",
    "community",
    "legal_aid",
    "disaster_relief",
    "social_work",
    "volunteering",
    "industry",
    "science_technology",
    "rural",
    "other",
)
STATUSES = ("active", "deregistered", "revoked")

REG_SOCIAL_GROUP = "《社会团体登记管理条例》"
REG_SSA = "《民办非企业单位登记管理暂行条例》"
REG_FOUNDATION = "《基金会管理条例》 第六条"
FILING_BASIS = "《关于大力培育发展社区社会组织的意见》（民发〔2017〕191号）"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: `admin` is national; an officer acts inside `region`."""

    role: str
    region: str | None = None

    @property
    def national(self) -> bool:
        return self.role == "admin" or self.region == "100000"

    def acts_on(self, region_code: str) -> bool:
        if self.role == "admin":
            return True
        return self.region is not None and lies_within(region_code, self.region)


@dataclass(frozen=True, slots=True)
class Refusal:
    rule: str
    message: str
    basis: str | None = None


def can_file_at(actor: Actor, county_filing_prefixes: tuple[str, ...]) -> bool:
    """Default preset: street offices file; presets such as Shenzhen let district offices file."""
    if actor.role == "admin":
        return True
    region = actor.region or ""
    if is_street_code(region):
        return True
    return len(region) == 6 and len(authority_prefix(region)) == 6 and region.startswith(county_filing_prefixes)


def authority_to_register(actor: Actor, kind: str, region_code: str) -> Refusal | None:
    if actor.role == "admin":
        return None
    region = actor.region or ""
    if is_street_code(region):
        return Refusal(
            "registry.authority.register_level",
            "乡镇街道只办理社区社会组织备案，登记须由县级以上民政部门办理",
            REG_SOCIAL_GROUP,
        )
    if kind == "foundation" and len(authority_prefix(region)) > 2:
        return Refusal("registry.authority.foundation_level", "基金会由省级以上民政部门登记", REG_FOUNDATION)
    if not actor.acts_on(region_code):
        return Refusal("registry.authority.out_of_region", f"区划 {region_code} 不在本机关辖区 {region} 内")
    return None


def authority_to_file(actor: Actor, region_code: str, county_filing_prefixes: tuple[str, ...]) -> Refusal | None:
    if not can_file_at(actor, county_filing_prefixes):
        return Refusal(
            "registry.authority.filing_level",
            "社区社会组织由乡镇人民政府（街道办事处）备案；本辖区的备案机关不是县级民政部门",
            FILING_BASIS,
        )
    if not actor.acts_on(region_code):
        return Refusal("registry.authority.out_of_region", f"区划 {region_code} 不在本机关辖区 {actor.region} 内")
    return None


@dataclass(frozen=True, slots=True)
class RegistrationFacts:
    """What a registration or filing states, already shaped (strings normalised)."""

    kind: str
    region_code: str
    registered_on: date | None
    filed_on: date | None
    uscc: str | None
    category: str | None
    supervising_unit: str | None
    has_legal_representative: bool
    service_domains: tuple[str, ...]


def check_registration(facts: RegistrationFacts, *, today: date) -> list[Finding]:
    """What a registration (registered kinds) or a filing (`community_filed`) needs (DOMAIN.md §1)."""
    out: list[Finding] = []
    if facts.kind == FILED:
        if facts.filed_on is None:
            out.append(Finding("filed_on", "filing.date_required", "备案须填写备案日期 filed_on"))
        if facts.registered_on is not None:
            out.append(Finding("registered_on", "filing.not_registered", "备案的社区社会组织没有登记日期"))
        if facts.uscc:
            out.append(
                Finding("uscc", "filing.no_uscc", "备案的社区社会组织没有统一社会信用代码，请先登记（registration）")
            )
        if not is_street_code(facts.region_code):
            out.append(
                Finding("region_code", "filing.street_region", "备案的社区社会组织所在区划应为 9 位乡镇街道代码")
            )
    else:
        if facts.registered_on is None:
            out.append(Finding("registered_on", "registration.date_required", "登记须填写成立登记日期 registered_on"))
        if facts.filed_on is not None:
            out.append(Finding("filed_on", "registration.not_filed", "登记的社会组织不填写备案日期"))
        if not facts.uscc:
            out.append(Finding("uscc", "registration.uscc_required", "登记的社会组织须有统一社会信用代码"))
        if not facts.has_legal_representative:
            out.append(
                Finding(
                    "legal_representative", "registration.legal_representative_required", "登记的社会组织须有法定代表人"
                )
            )
        if is_street_code(facts.region_code):
            out.append(Finding("region_code", "registration.region_level", "登记的社会组织所在区划应为县级及以上代码"))
        out.extend(check_management(facts.category, facts.supervising_unit))
    for field, day in (("registered_on", facts.registered_on), ("filed_on", facts.filed_on)):
        if day is not None and day > today:
            out.append(Finding(field, "date.future", f"{field} 不能晚于今天 {today.isoformat()}"))
    unknown = [d for d in facts.service_domains if d not in SERVICE_DOMAINS]
    if unknown:
        out.append(Finding("service_domains", "service_domain.unknown", f"未知的服务领域：{', '.join(unknown)}"))
    return out


def check_management(category: str | None, supervising_unit: str | None) -> list[Finding]:
    """Direct registration names one of four categories; every other organization names a
    业务主管单位 (dual management) — exactly one of the two."""
    if category is not None and category not in CATEGORIES:
        return [Finding("category", "registration.category_unknown", f"直接登记类别应为 {', '.join(CATEGORIES)}")]
    if (category is None) == (not supervising_unit):
        return [
            Finding(
                "supervising_unit",
                "registration.management",
                "直接登记的组织填写类别 category；其他组织填写业务主管单位 supervising_unit（二者择一）",
            )
        ]
    return []


def filing_number(region_code: str, year: int, serial: int) -> str:
    """`<street code><year><serial:05>`: unique per filing office and year."""
    return f"{region_code}{year:04d}{serial:05d}"


def annual_report_deadline(kind: str, *, direct: bool, year: int) -> date | None:
    """Deadline of the annual report for `year` (filed in year + 1), default preset: social groups
    and social service agencies to the registry by 31 May (to the supervising unit by 31 March
    unless directly registered), foundations by 31 March with an audit report. Filed community
    groups are not legal persons and owe no annual report under the default preset."""
    del direct  # the registry deadline is the same; the supervising unit's is not the registry's
    if kind == "foundation":
        return date(year + 1, 3, 31)
    if kind in ("social_group", "social_service_agency", "other"):
        return date(year + 1, 5, 31)
    return None
