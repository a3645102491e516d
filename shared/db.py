"""Database access for one service: PostgreSQL (asyncpg) in production, SQLite (aiosqlite) embedded.

Contract:
- `Database(url, schema=...)` builds the engine lazily-free: constructing it opens nothing;
  `dispose()` closes the pool. One `Database` per service; tables live in schema `<svc>`.
- PostgreSQL: the login role of the service owns schema `<svc>`; `search_path` is that schema.
- SQLite: the service's file is ATTACHed under its schema name on every connection (WAL,
  `synchronous=FULL`, `busy_timeout`), so schema-qualified tables work unchanged. The driver runs in
  autocommit mode and every writing transaction begins with `BEGIN IMMEDIATE`: SQLite writers are
  serialized, which is what keeps invariants such as a call's budget without `FOR UPDATE`.
- `dialect` tells adapters which features exist (`SKIP LOCKED`, advisory locks, LISTEN/NOTIFY,
  pg_trgm are PostgreSQL only).
- Transactions are opened only by `shared.uow.UnitOfWork`; nothing else commits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

Dialect = Literal["postgresql", "sqlite"]

READONLY_OPTION = "gongyi_readonly"
SQLITE_BUSY_TIMEOUT_MS = 30_000


class Database:
    def __init__(
        self, url: str, *, schema: str, pool_size: int = 8, max_overflow: int = 4, sqlite_synchronous: str = "FULL"
    ) -> None:
        if sqlite_synchronous not in ("FULL", "NORMAL", "OFF"):
            raise ValueError(f"sqlite synchronous must be FULL, NORMAL or OFF, not {sqlite_synchronous!r}")
        self.sqlite_synchronous = sqlite_synchronous
        self.url = url
        self.schema = schema
        parsed = make_url(url)
        self.dialect: Dialect = "sqlite" if parsed.get_backend_name() == "sqlite" else "postgresql"
        if self.dialect == "sqlite":
            self.sqlite_path: Path | None = Path(parsed.database or "").resolve()
            self.engine = self._sqlite_engine(pool_size)
        else:
            self.sqlite_path = None
            self.engine = self._postgres_engine(url, pool_size, max_overflow)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    def _postgres_engine(self, url: str, pool_size: int, max_overflow: int) -> AsyncEngine:
        parsed = make_url(url)
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+asyncpg")
        return create_async_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=False,
            connect_args={
                "server_settings": {
                    "search_path": f"{self.schema},public",
                    "application_name": f"gongyi-{self.schema}",
                },
                "command_timeout": 60,
            },
        )

    def _sqlite_engine(self, pool_size: int) -> AsyncEngine:
        assert self.sqlite_path is not None
        self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        path = str(self.sqlite_path)
        schema = self.schema
        synchronous = self.sqlite_synchronous
        # The main database is a private in-memory one; the service's file is attached under its
        # schema name, so `grants.awards` means the same thing on SQLite and PostgreSQL.
        engine = create_async_engine(
            "sqlite+aiosqlite:///:memory:",
            poolclass=AsyncAdaptedQueuePool,
            pool_size=pool_size,
            max_overflow=max_overflow_sqlite(pool_size),
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("ATTACH DATABASE ? AS " + schema, (path,))
            cursor.execute(f"PRAGMA {schema}.journal_mode=WAL")
            cursor.execute(f"PRAGMA {schema}.synchronous={synchronous}")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(connection: Any) -> None:
            readonly = connection.get_execution_options().get(READONLY_OPTION, False)
            connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine

    async def dispose(self) -> None:
        await self.engine.dispose()


def max_overflow_sqlite(pool_size: int) -> int:
    return max(4, pool_size)
