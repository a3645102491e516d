"""`gongyi up`'s composition: four services, one port, one shared development clock."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from typer.testing import CliRunner

from gongyi.cli import app as cli
from gongyi.system import SERVICES, build_system
from shared.auth import DEV_ISSUER, load_or_create_dev_key, mint_token
from tests.support import probe


async def test_the_embedded_system_serves_every_service_and_moves_one_clock_for_all(tmp_path):
    system = build_system(tmp_path / "var")
    key = load_or_create_dev_key(tmp_path / "var")
    admin = {"Authorization": "Bearer " + mint_token(key, issuer=DEV_ISSUER, sub="a", role="admin")}
    officer = {"Authorization": "Bearer " + mint_token(key, issuer=DEV_ISSUER, sub="o", role="officer",
                                                       region="440111")}
    async with system.app.lifespan(None):
        transport = httpx.ASGITransport(app=system.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gongyi.local") as client:
            assert (await client.get("/healthz")).status_code == 200
            ready = (await client.get("/readyz")).json()
            assert ready["status"] == "ready" and set(ready["services"]) == set(SERVICES)
            for name in SERVICES:
                assert (await client.get(f"/{name}/openapi.json")).status_code == 200
            target = datetime(2026, 9, 30, 1, 0, tzinfo=UTC)
            refused = await client.post("/_dev/clock", json={"set": target.isoformat()}, headers=officer)
            assert refused.status_code == 403
            moved = await client.post("/_dev/clock", json={"set": target.isoformat(), "advance_seconds": 86400},
                                      headers=admin)
            assert moved.status_code == 200
            for runtime in system.runtimes.values():
                now = runtime.clock.now()
                assert abs((now - target).total_seconds() - 86400) < 60
            assert len({id(runtime.clock) for runtime in system.runtimes.values()}) == 1


async def test_the_development_clock_route_does_not_exist_outside_development(stack_factory):
    stack = await stack_factory(("probe",), modules={"probe": probe})
    response = await stack.client.post("/_dev/clock", json={"reset": True}, headers=stack.auth("admin"))
    assert response.status_code == 404


def test_gongyi_token_prints_a_token_the_services_accept_on_its_last_line(tmp_path):
    result = CliRunner().invoke(cli, ["token", "--role", "officer", "--region", "440111", "--sub", "li",
                                      "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    import asyncio

    from shared.runtime import build_verifier

    settings = probe.ProbeSettings(env="development", data_dir=tmp_path)
    principal = asyncio.run(build_verifier(settings).verify(token))
    assert (principal.sub, principal.role, principal.region) == ("li", "officer", "440111")
    refused = CliRunner().invoke(cli, ["token", "--role", "officer", "--data-dir", str(tmp_path)])
    assert refused.exit_code != 0 and "region" in refused.output
