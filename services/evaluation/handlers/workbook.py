"""Score sheets as XLSX in the template's layout: the blank sheet to download, and the upload parser.

Columns: 指标编码 (code) · 一级指标 · 指标名称 · 分值 (max) · 得分 (score) · 评分说明 (comment). An uploaded
file goes through exactly the same validation as a JSON PUT; numeric cells are read through their
shortest decimal text (Excel keeps numbers as binary doubles), so `45.5` stays `45.5`.
"""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from services.evaluation.domain.points import Invalid, fmt
from services.evaluation.domain.templates import Template

HEADERS = ("指标编码", "一级指标", "指标名称", "分值", "得分", "评分说明")
SHEET = "评分表"


def blank_sheet(template: Template, *, title: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    ws = workbook.active
    ws.title = SHEET
    ws.append([title])
    ws["A1"].font = Font(bold=True)
    ws.append(list(HEADERS))
    groups = {code: name for code, name, _ in template.groups}
    for code, leaf in template.leaves.items():
        ws.append(
            [code, "加分项" if leaf.bonus else groups.get(leaf.group, leaf.group), leaf.name, fmt(leaf.max), None, None]
        )
    for column, width in zip("ABCDEF", (12, 16, 28, 10, 10, 40), strict=True):
        ws.column_dimensions[column].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _cell_points(value: Any, row: int) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise Invalid([{"field": f"file.row{row}.得分", "message": "a score, not a boolean"}])
    if isinstance(value, float):
        text = format(Decimal(repr(value)), "f")
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, int):
        return value
    return str(value).strip()


def parse_upload(content: bytes) -> tuple[dict[str, Any], dict[str, str]]:
    """`(scores, comments)` from an uploaded sheet; rows without a score are left out."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise Invalid([{"field": "file", "message": f"not an XLSX workbook: {type(exc).__name__}"}]) from None
    ws = workbook[SHEET] if SHEET in workbook.sheetnames else workbook.worksheets[0]
    columns: dict[str, int] | None = None
    scores: dict[str, Any] = {}
    comments: dict[str, str] = {}
    errors: list[dict[str, str]] = []
    for number, row in enumerate(ws.iter_rows(values_only=True), start=1):
        cells = [c for c in row]
        if columns is None:
            names = [str(c).strip() if c is not None else "" for c in cells]
            if "指标编码" in names and "得分" in names:
                columns = {name: names.index(name) for name in HEADERS if name in names}
            continue
        code_cell = cells[columns["指标编码"]] if columns["指标编码"] < len(cells) else None
        if code_cell is None or str(code_cell).strip() == "":
            continue
        code = str(code_cell).strip()
        if code in scores or code in comments:
            errors.append({"field": f"file.row{number}", "message": f"indicator {code} appears twice"})
            continue
        score = _cell_points(cells[columns["得分"]] if columns["得分"] < len(cells) else None, number)
        if score is not None:
            scores[code] = score
        note = columns.get("评分说明")
        if note is not None and note < len(cells) and cells[note] not in (None, ""):
            comments[code] = str(cells[note])
    workbook.close()
    if columns is None:
        errors.append({"field": "file", "message": f"no header row with {', '.join(HEADERS)}"})
    if errors:
        raise Invalid(errors)
    return scores, comments
