"""Reading the files bureaus hold: Chinese headers, labels, date spellings, encodings."""

from __future__ import annotations

import pytest

from services.registry.handlers.imports import read_rows, row_body
from shared.problems import Unprocessable


def test_headers_labels_and_dates_become_the_api_body():
    content = (
        "社会组织名称,类型,统一社会信用代码,成立日期,登记类别,服务领域,法定代表人,法定代表人身份证号码,备注\n"
        "白云区启智社会工作服务中心,民办非企业单位,52440111MJK9980480,2019年6月1日,公益慈善类,养老；助残,张三,11010519491231002X,无\n"
    ).encode("gb18030")
    fmt, rows = read_rows("orgs.csv", content)
    assert fmt == "csv" and [n for n, _ in rows] == [2]
    body, findings = row_body(rows[0][1])
    assert findings == []
    assert body is not None
    assert (body.kind, body.region_code, body.category, body.service_domains) == (
        "social_service_agency",
        "440111",
        "charity",
        ["elderly", "disability"],
    )
    assert body.registered_on.isoformat() == "2019-06-01"
    assert body.legal_representative is not None and body.legal_representative.id_number == "11010519491231002X"


def test_unknown_labels_name_the_column():
    _, rows = read_rows("x.csv", "名称,类型,服务领域\n甲,合作社,养老、炒股\n".encode())
    body, findings = row_body(rows[0][1])
    assert body is None
    assert [(f.field, f.rule) for f in findings] == [
        ("类型", "import.kind_unknown"),
        ("服务领域", "service_domain.unknown"),
    ]


def test_missing_required_columns_refuse_the_file():
    with pytest.raises(Unprocessable) as refused:
        read_rows("x.csv", "统一社会信用代码\n52440111MJK9980480\n".encode())
    assert refused.value.rule == "import.columns_missing"
    assert "名称" in refused.value.errors[0]["message"] and "类型" in refused.value.errors[0]["message"]


def test_blank_lines_are_skipped_and_row_numbers_are_the_files():
    _, rows = read_rows("x.csv", "名称,类型\n\n甲,社会团体\n,\n乙,基金会\n".encode())
    assert [(n, d["name"]) for n, d in rows] == [(3, "甲"), (5, "乙")]
