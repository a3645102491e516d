"""`gongyi regions load` and `gongyi import organizations` on an embedded data directory."""

from __future__ import annotations

from typer.testing import CliRunner

from gongyi.cli import app
from tests.integration.registry.test_import_api import build_rows, csv_of


def test_regions_load_then_import_with_an_error_report(tmp_path, monkeypatch):
    monkeypatch.setenv("GONGYI_ENV", "test")
    monkeypatch.setenv("GONGYI_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    assert runner.invoke(app, ["migrate", "registry"]).exit_code == 0
    streets = tmp_path / "streets.csv"
    streets.write_text(
        "code,name,areaCode,provinceCode,cityCode\n440111002,三元里街道,440111,44,4401\n350527000,金门县,350527,35,3505\n",
        encoding="utf-8",
    )
    loaded = runner.invoke(app, ["regions", "load", str(streets)])
    assert loaded.exit_code == 0, loaded.output
    assert "loaded 1 street codes" in loaded.output and "1 rows refused" in loaded.output
    rows, expected = build_rows(30, bad_every=10)
    source = tmp_path / "orgs.csv"
    source.write_bytes(csv_of(rows))
    result = runner.invoke(app, ["import", "organizations", str(source), "--region", "440111"])
    assert result.exit_code == 0, result.output
    assert "27" in result.output and "3 errors" in result.output
    report = (tmp_path / "orgs.csv.errors.csv").read_text(encoding="utf-8-sig").splitlines()
    assert report[0] == "行号,列,规则,说明,原值"
    assert sorted(int(line.split(",")[0]) for line in report[1:]) == sorted(expected)
