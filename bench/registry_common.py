"""Shared by the registry benchmarks: a private PostgreSQL with the registry migrated, and a
realistic data set of organizations (Guangzhou districts, Chinese names, valid codes)."""

from __future__ import annotations

import csv
import io
import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gongyi.devinfra.postgres import LocalPostgres, provision_database, run_sync, service_dsn
from gongyi.system import service_module, service_settings
from services.registry.domain.codes import id_check_character, org_code_check_character, uscc_check_character
from shared.migrations import migrate
from shared.runtime import Runtime

DISTRICTS = {
    "440103": "荔湾区",
    "440104": "越秀区",
    "440105": "海珠区",
    "440106": "天河区",
    "440111": "白云区",
    "440112": "黄埔区",
    "440113": "番禺区",
    "440114": "花都区",
    "440115": "南沙区",
    "440117": "从化区",
    "440118": "增城区",
}
WORDS = [
    "养老",
    "社工",
    "助残",
    "青少年",
    "文化",
    "体育",
    "志愿者",
    "慈善",
    "环保",
    "教育",
    "社区",
    "家庭",
    "妇女",
    "儿童",
    "健康",
    "法律援助",
    "科技",
    "书画",
    "音乐",
    "舞蹈",
    "读书",
    "长者",
    "邻里",
    "公益",
    "创新",
    "互助",
    "关爱",
    "阳光",
    "启智",
    "康复",
]
SUFFIX = {
    "social_service_agency": ["服务中心", "服务站", "发展中心", "研究院"],
    "social_group": ["协会", "促进会", "联合会", "商会"],
}
KIND_LABEL = {"social_service_agency": "民办非企业单位", "social_group": "社会团体"}
HEADERS = [
    "名称",
    "类型",
    "统一社会信用代码",
    "所在区划代码",
    "成立登记日期",
    "直接登记类别",
    "服务领域",
    "法定代表人",
    "法定代表人身份证号",
    "法定代表人电话",
    "住所",
]
DOMAINS = ["养老", "助残", "儿童", "青少年", "社区", "教育", "文化", "体育", "环保", "社会工作"]


def uscc(kind_digit: str, authority: str, serial: int) -> str:
    body8 = f"MJ{serial:06d}"
    first17 = "5" + kind_digit + authority + body8 + org_code_check_character(body8)
    return first17 + uscc_check_character(first17)


def citizen_id(rng: random.Random) -> str:
    first17 = (
        f"440111{rng.randint(1950, 2000)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    )
    return first17 + id_check_character(first17)


def rows(n: int, seed: int = 7) -> list[list[str]]:
    rng = random.Random(seed)
    out = [HEADERS]
    codes = list(DISTRICTS)
    for i in range(n):
        kind = "social_service_agency" if rng.random() < 0.65 else "social_group"
        region = rng.choice(codes)
        name = f"广州市{DISTRICTS[region]}{rng.choice(WORDS)}{rng.choice(WORDS)}{rng.choice(SUFFIX[kind])}{i:06d}"
        out.append(
            [
                name,
                KIND_LABEL[kind],
                uscc("2" if kind == "social_service_agency" else "1", region, i),
                region,
                f"{rng.randint(2000, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "公益慈善类",
                "、".join(rng.sample(DOMAINS, 2)),
                "张三",
                citizen_id(rng),
                f"13{rng.randint(100000000, 999999999)}",
                "广州市某路",
            ]
        )
    return out


def csv_bytes(table: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(table)
    return buffer.getvalue().encode("utf-8")


@contextmanager
def registry_database() -> Iterator[tuple[LocalPostgres, str]]:
    """A private cluster with database `bench` provisioned and the registry migrated."""
    with tempfile.TemporaryDirectory(prefix="gongyi-bench-registry-") as tmp:
        cluster = LocalPostgres(Path(tmp) / "pg")
        cluster.start()
        try:
            provision_database(cluster.superuser_dsn(), "bench")
            url = service_dsn(cluster.superuser_dsn(), "bench", "registry").replace(
                "postgresql://", "postgresql+asyncpg://", 1
            )
            runtime = build(url, Path(tmp))

            async def up() -> None:
                try:
                    await migrate(runtime.db, runtime.migrations)
                finally:
                    await runtime.db.dispose()

            run_sync(up())
            yield cluster, url
        finally:
            cluster.stop()


def build(url: str, data_dir: Path) -> Runtime:
    runtime: Runtime = service_module("registry").build_runtime(
        service_settings("registry", env="test", database_url=url, data_dir=data_dir)
    )
    return runtime
