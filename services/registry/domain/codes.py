"""Identifiers of DOMAIN.md §1: the unified social credit code (GB 32100-2015), the citizen ID of a
legal representative (GB 11643) and division codes (GB/T 2260, python-stdnum's table, any year).

Everything here is pure: the division table is python-stdnum's static data, read once.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from stdnum import numdb

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
NATIONAL = "100000"
CIVIL_AFFAIRS = "5"

GB32100 = "GB 32100-2015《法人和其他组织统一社会信用代码编码规则》"
GB11714 = "GB 11714-1997《全国组织机构代码编制规则》"
GB11643 = "GB 11643-1999《公民身份号码》"
GBT2260 = "GB/T 2260《中华人民共和国行政区划代码》"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in an input: a refusal (`warning=False`) or a warning."""

    field: str
    rule: str
    message: str
    basis: str | None = None
    warning: bool = False


def normalise_code(value: str) -> str:
    """NFKC, spaces and hyphens removed, upper case (DOMAIN.md §1)."""
    text = unicodedata.normalize("NFKC", value)
    return "".join(c for c in text if not c.isspace() and c != "-").upper()


# -- division codes ----------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _division_entries(code: str) -> tuple[str, ...] | None:
    """The county-level names python-stdnum knows for a 6-digit code (with year ranges), or None."""
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    for part, props in numdb.get("cn/loc").info(code):
        if len(part) == 4 and "county" in props:
            return tuple(props["county"].split(","))
    return None


def is_known_division(code: str) -> bool:
    """A 6-digit code that existed in any year (never tied to a birth or registration year)."""
    return _division_entries(code) is not None


def is_historical_division(code: str) -> bool:
    """Known, but no longer in use: every entry has an end year (e.g. `[1983-1993]潮阳县`)."""
    entries = _division_entries(code)
    if entries is None:
        return False
    return all(e.startswith("[") and not e[1:].split("]")[0].endswith("-") for e in entries)


def division_name(code: str) -> str | None:
    entries = _division_entries(code)
    if not entries:
        return None
    return entries[-1].split("]")[-1]


def authority_prefix(code: str) -> str:
    """DOMAIN.md §1: `100000` → ""; 9 digits → all; 6 digits → without trailing `00` pairs."""
    if code == NATIONAL:
        return ""
    if len(code) == 9:
        return code
    prefix = code
    while len(prefix) in (4, 6) and prefix.endswith("00"):
        prefix = prefix[:-2]
    return prefix


def lies_within(code: str, region: str) -> bool:
    return code.startswith(authority_prefix(region))


def is_street_code(code: str) -> bool:
    return len(code) == 9 and code.isascii() and code.isdigit()


def region_shape_ok(code: str) -> bool:
    """6 digits (province, city, county, or national `100000`) or 9 digits (street/township)."""
    if not code.isascii() or not code.isdigit():
        return False
    return len(code) == 6 or (len(code) == 9 and code[6:] != "000")


def check_region_code(code: str, *, field: str, street_known: bool | None = None) -> list[Finding]:
    """A region code: 6 digits known to the division table (or national), or a street code whose
    first 6 digits are a known county and which is in the loaded street table. `street_known` is
    None when no street table is loaded: then the code is accepted with a warning."""
    if not region_shape_ok(code):
        return [Finding(field, "region.format", "区划代码应为 6 位（县级及以上）或 9 位（乡镇街道）数字", GBT2260)]
    if len(code) == 6:
        if code != NATIONAL and not is_known_division(code):
            return [Finding(field, "region.unknown", f"未知的行政区划代码 {code}", GBT2260)]
        return []
    county = code[:6]
    if not is_known_division(county) or county.endswith("00"):
        return [Finding(field, "region.unknown", f"街道代码 {code} 的前 6 位不是已知的县级区划", GBT2260)]
    if street_known is None:
        return [
            Finding(
                field,
                "region.street_table_missing",
                "未加载乡镇街道代码表（gongyi regions load），街道代码未经核对",
                warning=True,
            )
        ]
    if not street_known:
        return [Finding(field, "region.unknown_street", f"乡镇街道代码表中没有 {code}", "统计用区划代码")]
    return []


# -- unified social credit code -----------------------------------------------------------------


def uscc_check_character(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_passes_check(code: str) -> bool:
    """The GB 32100 check character (position 18) over an already normalised code."""
    if len(code) != 18 or any(c not in USCC_ALPHABET for c in code):
        return False
    return uscc_check_character(code[:17]) == code[17]


def _org_code_value(c: str) -> int:
    return int(c) if c.isdigit() else ord(c) - ord("A") + 10


def org_code_check_character(body8: str) -> str:
    """GB 11714 check over the 8 characters of the organization code body (positions 9–16)."""
    total = sum(_org_code_value(c) * w for c, w in zip(body8, ORG_CODE_WEIGHTS, strict=True))
    r = 11 - total % 11
    return "X" if r == 10 else "0" if r == 11 else str(r)


def org_code_passes_check(code: str) -> bool:
    """Position 17 as the GB 11714 check of positions 9–16 (a warning when it fails)."""
    if len(code) != 18:
        return False
    return org_code_check_character(code[8:16]) == code[16]


KIND_DIGITS = {"social_group": "1", "social_service_agency": "2", "foundation": "3", "other": "9"}


def check_uscc_format(code: str, *, field: str = "uscc") -> list[Finding]:
    """Length, alphabet and the check character; the position-17 warning."""
    if len(code) != 18:
        return [Finding(field, "uscc.length", f"统一社会信用代码应为 18 位，收到 {len(code)} 位", GB32100)]
    bad = sorted({c for c in code if c not in USCC_ALPHABET})
    if bad:
        return [
            Finding(
                field,
                "uscc.format",
                f"统一社会信用代码含有不允许的字符 {''.join(bad)}（不使用 I、O、S、V、Z）",
                GB32100,
            )
        ]
    if not uscc_passes_check(code):
        return [
            Finding(field, "uscc.check_character", "统一社会信用代码校验码（第 18 位）不正确", GB32100 + " 第 4.3 条")
        ]
    if not org_code_passes_check(code):
        return [
            Finding(
                field, "uscc.organization_code_check", "主体标识码（第 9–17 位）的校验码不符合 GB 11714", GB11714, True
            )
        ]
    return []


def check_uscc_for_registry(code: str, *, kind: str, region_code: str, field: str = "uscc") -> list[Finding]:
    """Registry checks beyond the check characters (DOMAIN.md §1): civil affairs, kind digit,
    a known registering authority that is the organization's region (renumbered: a warning)."""
    findings: list[Finding] = []
    if code[0] != CIVIL_AFFAIRS:
        findings.append(Finding(field, "uscc.department", "登记管理部门代码（第 1 位）应为 5（民政）", GB32100))
    expected = KIND_DIGITS.get(kind)
    if expected is not None and code[1] != expected:
        findings.append(
            Finding(
                field, "uscc.kind_digit", f"机构类别代码（第 2 位）应为 {expected}（{kind}），收到 {code[1]}", GB32100
            )
        )
    authority = code[2:8]
    if not authority.isdigit() or (authority != NATIONAL and not is_known_division(authority)):
        findings.append(Finding(field, "uscc.division_unknown", f"登记管理机关行政区划码 {authority} 未知", GBT2260))
    elif authority != region_code:
        if is_historical_division(authority):
            findings.append(
                Finding(
                    field,
                    "uscc.division_renumbered",
                    f"登记管理机关区划码 {authority} 已调整，与 {region_code} 不同",
                    warning=True,
                )
            )
        else:
            findings.append(
                Finding(
                    field,
                    "uscc.authority_mismatch",
                    f"登记管理机关区划码 {authority} 与组织所在区划 {region_code} 不一致",
                    GB32100,
                )
            )
    return findings


# -- citizen ID of a legal representative -------------------------------------------------------


def id_check_character(first17: str) -> str:
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def normalise_id_number(value: str) -> str:
    return normalise_code(value)


def check_id_number(value: str, *, today: date, field: str) -> list[Finding]:
    """GB 11643: format, check character, then (as separate rules) address code and birth date."""
    number = normalise_id_number(value)
    if len(number) != 18 or not number[:17].isdigit() or number[17] not in "0123456789X":
        return [Finding(field, "id_number.format", "公民身份号码应为 17 位数字加 1 位数字或 X", GB11643)]
    if id_check_character(number[:17]) != number[17]:
        return [Finding(field, "id_number.check_digit", "公民身份号码校验码不正确", GB11643 + " 第 7 条")]
    findings: list[Finding] = []
    if not is_known_division(number[:6]):
        findings.append(
            Finding(field, "id_number.address_unknown", f"地址码 {number[:6]} 不是任何年份的行政区划代码", GBT2260)
        )
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        findings.append(Finding(field, "id_number.birth_date", f"出生日期 {number[6:14]} 不存在", GB11643))
    else:
        if born > today or born.year < 1850:
            findings.append(Finding(field, "id_number.birth_date", f"出生日期 {born.isoformat()} 不可能", GB11643))
    return findings
