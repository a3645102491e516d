"""Bulk import from XLSX and CSV: a job with progress, an exact per-row error report, idempotent."""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook, load_workbook

from services.registry.domain.codes import id_check_character, uscc_check_character
from tests.integration.registry.support import idem, make_uscc
from tests.integration.registry.test_registration_api import ORGS, published

IMPORTS = "/registry/v1/imports"
HEADERS = [
    "名称",
    "类型",
    "统一社会信用代码",
    "成立登记日期",
    "直接登记类别",
    "业务主管单位",
    "服务领域",
    "法定代表人",
    "法定代表人身份证号",
    "法定代表人电话",
    "住所",
]
BAD_ID = "110105194912310021"


def _row(i: int) -> list[str]:
    return [
        f"白云区第{i:05d}号社会工作服务中心",
        "民办非企业单位",
        make_uscc("social_service_agency", "440111", serial=100000 + i),
        "2020-01-15",
        "公益慈善类",
        "",
        "养老、助残",
        "张三",
        "11010519491231002X",
        "13800000000",
        "广州市白云区某路",
    ]


def build_rows(n: int, bad_every: int = 0) -> tuple[list[list[str]], dict[int, tuple[str, str]]]:
    """Rows (header first) and the expected error of each bad row: {file row number: (column, rule)}."""
    rows, expected = [HEADERS], {}
    kinds = [
        ("统一社会信用代码", "uscc.check_character"),
        ("统一社会信用代码", "uscc.kind_digit"),
        ("法定代表人身份证号", "id_number.check_digit"),
        ("统一社会信用代码", "organization.duplicate_code"),
        ("类型", "import.kind_unknown"),
        ("成立登记日期", "import.invalid_value"),
    ]
    for i in range(n):
        row = _row(i)
        number = i + 2
        if bad_every and i % bad_every == bad_every - 1:
            column, rule = kinds[(i // bad_every) % len(kinds)]
            if rule == "uscc.check_character":
                row[2] = row[2][:-1] + ("0" if row[2][-1] != "0" else "1")
            elif rule == "uscc.kind_digit":
                first17 = "51" + row[2][2:17]
                row[2] = first17 + uscc_check_character(first17)
            elif rule == "id_number.check_digit":
                row[8] = BAD_ID
            elif rule == "organization.duplicate_code":
                row[2] = rows[1][2]  # the code of the first row under another name
            elif rule == "import.kind_unknown":
                row[1] = "合作社"
            else:
                row[3] = "2020-13-45"
            expected[number] = (column, rule)
        rows.append(row)
    return rows, expected


def xlsx_of(rows: list[list[str]]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("社会组织")
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_of(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


async def run_import(stack, headers, content: bytes, filename: str, mode: str = "per_row") -> dict:
    response = await stack.client.post(
        IMPORTS, files={"file": (filename, content)}, data={"mode": mode}, headers={**headers, **idem()}
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued" and job["progress"] == 0.0
    await stack.start_workers()
    progress = []
    while True:
        ran = await stack.runtimes["registry"].scheduler.run_due(limit=1)
        status = (await stack.client.get(f"/registry/v1/jobs/{job['id']}", headers=headers)).json()
        progress.append(status["processed_rows"])
        if status["status"] in ("completed", "failed") or ran == 0:
            break
    status["progress_seen"] = progress
    return status


async def test_ten_thousand_row_xlsx_with_three_percent_bad_rows(pg):
    officer = pg.auth("officer", region="440111")
    rows, expected = build_rows(10_000, bad_every=33)
    assert 300 <= len(expected) <= 310
    status = await run_import(pg, officer, xlsx_of(rows), "社会组织名录.xlsx")
    assert status["status"] == "completed"
    assert (status["total_rows"], status["imported"], status["failed"], status["existing"]) == (
        10_000,
        10_000 - len(expected),
        len(expected),
        0,
    )
    assert status["progress_seen"][0] == 1000 and status["progress_seen"][-1] == 10_000  # chunk by chunk
    report = (await pg.client.get(f"{IMPORTS}/{status['id']}/errors", headers=officer)).json()
    assert {e["row_number"]: (e["field"], e["rule"]) for e in report} == expected
    assert len(report) == len(expected)  # one error per bad row, nothing else
    id_errors = [e for e in report if e["rule"] == "id_number.check_digit"]
    assert id_errors[0]["value"] == "110105********0021"  # masked in the report too
    xlsx = await pg.client.get(
        f"{IMPORTS}/{status['id']}/errors",
        headers={**officer, "Accept": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    )
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).worksheets[0]
    lines = list(sheet.iter_rows(values_only=True))
    assert lines[0] == ("行号", "列", "规则", "说明", "原值") and len(lines) == len(expected) + 1
    assert BAD_ID.encode() not in xlsx.content
    # the good rows are searchable
    found = await pg.client.get(ORGS, params={"q": "第00004号"}, headers=officer)
    assert [o["name"] for o in found.json()["items"]] == ["白云区第00004号社会工作服务中心"]
    assert (await pg.client.get(ORGS, params={"q": "第00032号"}, headers=officer)).json()["items"] == []  # a bad row
    stats = (await pg.client.get("/registry/v1/stats", headers=officer)).json()
    assert stats["total"] == 10_000 - len(expected)
    detail = (await pg.client.get(f"{ORGS}/{found.json()['items'][0]['id']}", headers=officer)).json()
    assert (
        detail["service_domains"] == ["elderly", "disability"]
        and detail["legal_representative"]["id_number"] == "110105********002X"
    )
    audit = await pg.client.get(
        "/registry/v1/audit", params={"resource": f"organizations/{detail['id']}"}, headers=officer
    )
    assert audit.json()["items"][0]["detail"]["import_id"] == status["id"]


async def test_reimport_is_idempotent_and_csv_is_read(any_db):
    stack = any_db
    officer = stack.auth("officer", region="440111")
    rows, expected = build_rows(40, bad_every=10)
    first = await run_import(stack, officer, csv_of(rows), "orgs.csv")
    assert (first["imported"], first["failed"]) == (36, 4)
    again = await run_import(stack, officer, csv_of(rows), "orgs.csv")
    assert (again["imported"], again["existing"], again["failed"]) == (0, 36, 4)
    events = await published(stack)
    assert len(events) == 36 and all(e["type"].endswith(".registered.v1") for e in events)
    report = (await stack.client.get(f"{IMPORTS}/{again['id']}/errors", headers={**officer, "Accept": "text/csv"})).text
    assert report.splitlines()[0].lstrip("\ufeff") == "行号,列,规则,说明,原值"
    assert {int(line.split(",")[0]) for line in report.splitlines()[1:]} == set(expected)


async def test_all_or_nothing_imports_nothing_when_one_row_is_refused(pg):
    officer = pg.auth("officer", region="440111")
    rows, expected = build_rows(20, bad_every=20)
    status = await run_import(pg, officer, xlsx_of(rows), "orgs.xlsx", mode="all_or_nothing")
    assert status["status"] == "failed" and status["imported"] == 0 and status["failed"] == 1
    assert (await pg.client.get(ORGS, headers=officer)).json()["items"] == []
    good, _ = build_rows(20)
    status = await run_import(pg, officer, xlsx_of(good), "orgs.xlsx", mode="all_or_nothing")
    assert status["status"] == "completed" and status["imported"] == 20
    del expected


async def test_a_file_without_the_required_columns_is_refused_and_imports_are_private(pg):
    officer = pg.auth("officer", region="440111")
    bad = await pg.client.post(
        IMPORTS, files={"file": ("x.csv", "名字,类别\n甲,乙\n".encode())}, headers={**officer, **idem()}
    )
    assert bad.status_code == 422 and bad.json()["rule"] == "import.columns_missing"
    garbage = await pg.client.post(
        IMPORTS, files={"file": ("x.xlsx", b"PK\x03\x04garbage")}, headers={**officer, **idem()}
    )
    assert garbage.status_code == 422 and garbage.json()["rule"] == "import.unreadable"
    rows, _ = build_rows(3)
    job = (await pg.client.post(IMPORTS, files={"file": ("x.csv", csv_of(rows))}, headers={**officer, **idem()})).json()
    other = pg.auth("officer", region="440111")
    assert (await pg.client.get(f"{IMPORTS}/{job['id']}", headers=other)).status_code == 404
    org_user = pg.auth("org", org_id=job["id"])
    assert (
        await pg.client.post(IMPORTS, files={"file": ("x.csv", csv_of(rows))}, headers={**org_user, **idem()})
    ).status_code == 403


def test_expected_bad_id_is_really_bad():
    assert id_check_character(BAD_ID[:17]) != BAD_ID[17]
