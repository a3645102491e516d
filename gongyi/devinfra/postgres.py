"""A private PostgreSQL cluster for tests and developers, and the database layout Gongyi expects.

Contract:
- ``LocalPostgres(base_dir)`` owns ``base_dir``: ``data/`` (PGDATA), ``sockets/`` (its Unix
  socket), ``postgres.log`` and ``port``. ``start()`` installs the Debian server package when
  ``/usr/lib/postgresql/*/bin/postgres`` is missing, runs initdb once (UTF8, locale C.UTF-8) and
  starts the postmaster on 127.0.0.1 only, on a free port remembered in ``base_dir/port`` so a
  restart keeps it. ``start()`` on a running cluster only checks it. Durability settings stay at
  PostgreSQL's defaults because the benchmarks measure them.
- The server refuses to run as root: as uid 0, initdb and pg_ctl run as ``postgres``, and
  ``data/``, ``sockets/`` and the log live in ``/tmp/gongyi-postgres/<hash of base_dir>/`` (owned
  by ``postgres``; ``base_dir`` gets symlinks). The server must traverse every ancestor of its
  data dir, and pytest resets ``/tmp/pytest-of-root`` to 0700 whenever a session starts, which
  crashed clusters kept under ``tmp_path``. A home whose ``base_dir`` is gone is stopped and
  removed by the next ``start()``.
- Auth: ``postgres`` is trusted on loopback and the socket (a private cluster); every other role
  needs its password (scram-sha-256), as in production.
- ``provision_database`` is idempotent: the database, ``pg_trgm`` in ``public``, and per service
  a login role ``gongyi_<svc>`` (search_path ``<svc>, public``) owning schema ``<svc>``. No role
  may use another service's schema or create in ``public``; only the service roles (and
  superusers) may connect.
- ``clone_database`` copies a provisioned template (``STRATEGY FILE_COPY``) with its database
  privileges; the template must have no open connections.
- Each sync helper runs its ``*_async`` twin to completion (on a thread of its own when called
  inside a running event loop).

CLI: ``python -m gongyi.devinfra.postgres install | start DIR [--port N] [--database NAME] | stop DIR``.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import concurrent.futures
import glob
import hashlib
import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Coroutine, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import asyncpg

log = logging.getLogger(__name__)
T = TypeVar("T")

SERVICES = ("registry", "grants", "evaluation", "notifications")
SERVER_USER = "postgres"
# Root's clusters live here, reachable by the server user whatever the modes of base_dir's ancestors.
SHARED_HOMES = Path("/tmp/gongyi-postgres")  # noqa: S108 - ownership and mode checked before use
LOCALE = "C.UTF-8"
# Unix socket paths are limited by sockaddr_un.sun_path (108 bytes with the NUL).
_MAX_SOCKET_PATH = 107
# Key of the advisory lock that serialises concurrent provisioners (e.g. pytest-xdist workers).
_PROVISION_LOCK = 0x60_6E_79_69


class PostgresError(RuntimeError):
    """The local cluster could not be installed, started or provisioned."""


def server_bindir() -> Path | None:
    """The newest installed server's bin dir, or None."""
    found = glob.glob("/usr/lib/postgresql/*/bin/postgres")
    if not found:
        return None
    newest = max(found, key=lambda p: int(Path(p).parent.parent.name.split(".")[0]))
    return Path(newest).parent


def ensure_installed() -> Path:
    """Install the Debian server package when missing; return its bin dir."""
    bindir = server_bindir()
    if bindir is not None:
        return bindir
    if os.geteuid() != 0:
        raise PostgresError(
            "PostgreSQL is not installed: run scripts/provision as root (apt-get install postgresql postgresql-contrib)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "postgresql", "postgresql-contrib"]
    # A fresh machine may have empty package lists: update only when the plain install fails.
    if subprocess.run(install, check=False, env=env).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(install, env=env, check=True)
    bindir = server_bindir()
    if bindir is None:
        raise PostgresError("apt-get installed postgresql but no server binary was found")
    return bindir


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` (TIME_WAIT leftovers of a stopped one do not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from sync code, even when called inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # asyncio.run refuses to nest: an async fixture calling a sync helper gets a loop of its own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


class LocalPostgres:
    """One private cluster under ``base_dir``; see the module docstring."""

    def __init__(
        self, base_dir: Path, port: int | None = None, *, max_connections: int = 200, durable: bool = True
    ) -> None:
        # durable=False (test sessions): commits do not wait for the disk. Visibility, locking and
        # isolation are unchanged, and no test crashes the database server itself; benchmarks keep
        # the default so their figures include durable commits.
        self.durable = durable
        self.base_dir = Path(base_dir).absolute()
        self.server_home = _server_home(self.base_dir) if os.geteuid() == 0 else self.base_dir
        self.data_dir = self.server_home / "data"
        self.socket_dir = self.server_home / "sockets"
        self.log_file = self.server_home / "postgres.log"
        self.max_connections = max_connections
        self._requested_port = port
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise PostgresError("the cluster has not been started")
        return self._port

    def superuser_dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{urllib.parse.quote(dbname, safe='')}"

    @staticmethod
    def ensure_installed() -> Path:
        return ensure_installed()

    def start(self, timeout: float = 60.0) -> None:
        bindir = ensure_installed()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self.server_home != self.base_dir:
            _collect_orphaned_homes()
            self._prepare_server_home()
        running = self._postmaster_pid() is not None
        self._port = self._choose_port(running)
        if not running:
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb(bindir)
            self._configure()
            self._pg_ctl(bindir, "start", "-w", "-t", str(int(timeout)), "-l", str(self.log_file))
        run_sync(self._check_server())
        _live.add(self)

    def stop(self, timeout: float = 60.0) -> None:
        pid = self._postmaster_pid()
        if pid is not None:
            os.kill(pid, signal.SIGINT)  # "fast" shutdown: end sessions, checkpoint, exit
            if not self._wait_for_exit(timeout):
                os.kill(pid, signal.SIGQUIT)  # "immediate": the next start does crash recovery
                self._wait_for_exit(10)
        _live.discard(self)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _choose_port(self, running: bool) -> int:
        port_file = self.base_dir / "port"
        stored = int(port_file.read_text()) if port_file.exists() else None
        if running and stored is not None:
            return stored
        port = self._requested_port or stored
        # A remembered port another process took since is given up; an explicit one is not.
        if port is None or (port == stored and not port_is_free(port)):
            port = free_port()
        port_file.write_text(f"{port}\n")
        return port

    def _postmaster_pid(self) -> int | None:
        """This cluster's live postmaster, from postmaster.pid and /proc.

        Not ``pg_ctl status``: run as ``postgres``, it reports "no server" whenever it cannot reach
        the data dir, and a cluster once outlived its tests that way.
        """
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ValueError):
            return None
        return pid if str(self.data_dir).encode() in cmdline.split(b"\0") else None

    def _wait_for_exit(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._postmaster_pid() is not None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _prepare_server_home(self) -> None:
        SHARED_HOMES.mkdir(mode=0o755, exist_ok=True)
        homes = SHARED_HOMES.lstat()
        if not stat.S_ISDIR(homes.st_mode) or homes.st_uid != 0 or homes.st_mode & 0o022:
            raise PostgresError(f"{SHARED_HOMES} must be a directory owned by root and writable only by it")
        self.server_home.mkdir(mode=0o755, exist_ok=True)
        (self.server_home / "owner").write_text(f"{self.base_dir}\n")
        for name, target in (("data", self.data_dir), ("postgres.log", self.log_file)):
            link = self.base_dir / name
            if not link.is_symlink() and not link.exists():
                link.symlink_to(target)

    def _initdb(self, bindir: Path) -> None:
        for d in (self.data_dir, self.socket_dir):
            d.mkdir(mode=0o700, exist_ok=True)
        self.log_file.touch()
        self._hand_to_server_user(self.data_dir, self.socket_dir, self.log_file)
        flags = ["--encoding=UTF8", f"--locale={LOCALE}", "--auth-local=trust", "--auth-host=scram-sha-256"]
        cmd = [str(bindir / "initdb"), "-D", str(self.data_dir), "-U", SERVER_USER, *flags]
        done = subprocess.run(self._as_server_user(cmd), check=False, capture_output=True, text=True)
        if done.returncode != 0:
            raise PostgresError(f"initdb failed:\n{done.stdout}\n{done.stderr}")

    def _configure(self) -> None:
        socket_path = self.socket_dir / f".s.PGSQL.{self.port}"
        if len(str(socket_path)) > _MAX_SOCKET_PATH:
            raise PostgresError(f"socket path too long for the kernel ({socket_path}); use a shorter base_dir")
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": str(self.max_connections),
            "password_encryption": "scram-sha-256",
            "log_line_prefix": "%m [%p] %q%u@%d ",
        }
        if not self.durable:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        conf = "".join(f"{k} = {_literal(v)}\n" for k, v in settings.items())
        hba = (
            "local all postgres trust\nhost all postgres 127.0.0.1/32 trust\n"
            "local all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n"
        )
        (self.data_dir / "gongyi.conf").write_text(conf)
        (self.data_dir / "pg_hba.conf").write_text(hba)
        main_conf = self.data_dir / "postgresql.conf"
        if "include_if_exists = 'gongyi.conf'" not in main_conf.read_text():
            with main_conf.open("a") as f:
                f.write("\ninclude_if_exists = 'gongyi.conf'\n")
        self._hand_to_server_user(self.data_dir / "gongyi.conf", self.data_dir / "pg_hba.conf")

    def _pg_ctl(self, bindir: Path, *args: str) -> None:
        cmd = [str(bindir / "pg_ctl"), "-D", str(self.data_dir), "-s", *args]
        done = subprocess.run(self._as_server_user(cmd), check=False, capture_output=True, text=True)
        if done.returncode != 0:
            raise PostgresError(
                f"pg_ctl {args[0]} failed ({done.stderr.strip()}); "
                f"log tail of {self.log_file}:\n{log_tail(self.log_file)}"
            )

    async def _check_server(self) -> None:
        conn = await asyncpg.connect(self.superuser_dsn(), timeout=10)
        try:
            # pg_trgm splits words with the database's ctype: under a locale that does not class
            # CJK ideographs as letters, Chinese names would get no trigrams at all.
            if not await conn.fetchval("select '养' ~ '^[[:alpha:]]$'"):
                raise PostgresError(f"locale of {self.data_dir} does not treat CJK as letters; re-create it")
        finally:
            await conn.close()

    def _as_server_user(self, cmd: list[str]) -> list[str]:
        return ["runuser", "-u", SERVER_USER, "--", *cmd] if os.geteuid() == 0 else cmd

    def _hand_to_server_user(self, *paths: Path) -> None:
        if os.geteuid() != 0:
            return
        account = pwd.getpwnam(SERVER_USER)
        for path in paths:
            os.chown(path, account.pw_uid, account.pw_gid)


def _server_home(base_dir: Path) -> Path:
    return SHARED_HOMES / hashlib.sha256(str(base_dir).encode()).hexdigest()[:16]


def _collect_orphaned_homes() -> None:
    """Stop and remove clusters whose base_dir is gone (pytest deletes old temporary dirs)."""
    if not SHARED_HOMES.is_dir():
        return
    for home in SHARED_HOMES.iterdir():
        try:
            owner = Path(home.joinpath("owner").read_text().strip())
        except (FileNotFoundError, NotADirectoryError):
            continue  # a home being created right now
        if owner.exists() or _server_home(owner) != home:
            continue
        log.info("removing %s: its base_dir %s is gone", home, owner)
        LocalPostgres(owner).stop(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


def _ident(name: str) -> str:
    if "\0" in name:
        raise ValueError("NUL in an SQL identifier")
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    # standard_conforming_strings is on (the default), so only quotes need doubling.
    if "\0" in value:
        raise ValueError("NUL in an SQL literal")
    return "'" + value.replace("'", "''") + "'"


def service_role(service: str) -> str:
    if not service.isidentifier() or not service.isascii() or service != service.lower():
        raise ValueError(f"service name must be a lowercase identifier: {service!r}")
    return f"gongyi_{service}"


def default_password(service: str) -> str:
    """Development-only password of a service role (the private cluster is loopback-only)."""
    return f"gongyi-{service}-dev"


def with_database(dsn: str, dbname: str, *, user: str | None = None, password: str | None = None) -> str:
    """``dsn`` pointing at ``dbname``, optionally as another user."""
    parts = urllib.parse.urlsplit(dsn)
    netloc = parts.netloc
    if user is not None:
        auth = urllib.parse.quote(user, safe="")
        if password is not None:
            auth += ":" + urllib.parse.quote(password, safe="")
        netloc = f"{auth}@{netloc.rpartition('@')[2]}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, path="/" + urllib.parse.quote(dbname, safe="")))


def service_dsn(
    dsn_superuser: str, dbname: str, service: str, password_for: Callable[[str], str] = default_password
) -> str:
    return with_database(dsn_superuser, dbname, user=service_role(service), password=password_for(service))


async def provision_database_async(
    dsn_superuser: str,
    dbname: str,
    services: Sequence[str] = SERVICES,
    password_for: Callable[[str], str] = default_password,
) -> None:
    roles = {svc: service_role(svc) for svc in services}
    admin = await asyncpg.connect(with_database(dsn_superuser, "postgres"))
    try:
        await admin.execute("select pg_advisory_lock($1)", _PROVISION_LOCK)
        if not await admin.fetchval("select 1 from pg_database where datname = $1", dbname):
            await admin.execute(f"CREATE DATABASE {_ident(dbname)}")
        for svc, role in roles.items():
            verb = "ALTER" if await admin.fetchval("select 1 from pg_roles where rolname = $1", role) else "CREATE"
            await admin.execute(
                f"{verb} ROLE {_ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                f"PASSWORD {_literal(password_for(svc))}"
            )
            await admin.execute(f"ALTER ROLE {_ident(role)} SET search_path = {_ident(svc)}, public")
        db = await asyncpg.connect(with_database(dsn_superuser, dbname))
        try:
            async with db.transaction():
                await db.execute(_layout_sql(dbname, roles))
        finally:
            await db.close()
    finally:
        await admin.close()


def _layout_sql(dbname: str, roles: dict[str, str]) -> str:
    all_roles = ", ".join(_ident(r) for r in roles.values())
    sql = [
        f"REVOKE ALL ON DATABASE {_ident(dbname)} FROM PUBLIC",
        f"GRANT CONNECT ON DATABASE {_ident(dbname)} TO {all_roles}",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA public TO {all_roles}",
        "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public",
    ]
    for svc, role in roles.items():
        schema = _ident(svc)
        sql += [
            f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {_ident(role)}",
            f"ALTER SCHEMA {schema} OWNER TO {_ident(role)}",
            f"REVOKE ALL ON SCHEMA {schema} FROM PUBLIC",
        ]
        sql += [f"REVOKE ALL ON SCHEMA {schema} FROM {_ident(other)}" for other in roles.values() if other != role]
    return ";\n".join(sql) + ";"


async def clone_database_async(dsn_superuser: str, template: str, new_name: str) -> None:
    admin = await asyncpg.connect(with_database(dsn_superuser, "postgres"))
    try:
        await admin.execute(f"CREATE DATABASE {_ident(new_name)} WITH TEMPLATE {_ident(template)} STRATEGY FILE_COPY")
        # CREATE DATABASE never copies the template's own privileges (datacl), so re-grant them.
        grants = await admin.fetch(
            "select case when a.grantee = 0 then 'PUBLIC' else quote_ident(r.rolname) end as grantee,"
            " a.privilege_type from pg_database d cross join aclexplode(d.datacl) a"
            " left join pg_roles r on r.oid = a.grantee where d.datname = $1",
            template,
        )
        if grants:
            await admin.execute(f"REVOKE ALL ON DATABASE {_ident(new_name)} FROM PUBLIC")
        for grant in grants:
            await admin.execute(f"GRANT {grant['privilege_type']} ON DATABASE {_ident(new_name)} TO {grant['grantee']}")
    finally:
        await admin.close()


async def drop_database_async(dsn_superuser: str, dbname: str) -> None:
    admin = await asyncpg.connect(with_database(dsn_superuser, "postgres"))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {_ident(dbname)} WITH (FORCE)")
    finally:
        await admin.close()


def provision_database(
    dsn_superuser: str,
    dbname: str,
    services: Sequence[str] = SERVICES,
    password_for: Callable[[str], str] = default_password,
) -> None:
    run_sync(provision_database_async(dsn_superuser, dbname, services, password_for))


def clone_database(dsn_superuser: str, template: str, new_name: str) -> None:
    run_sync(clone_database_async(dsn_superuser, template, new_name))


def drop_database(dsn_superuser: str, dbname: str) -> None:
    run_sync(drop_database_async(dsn_superuser, dbname))


# Clusters this process started and has not stopped: stopped at exit so that an aborted test run
# leaves no postmaster behind.
_live: set[LocalPostgres] = set()


@atexit.register
def _stop_leftovers() -> None:
    for cluster in list(_live):
        cluster.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def wait_for_interrupt() -> None:
    """Block until Ctrl-C or SIGTERM (the CLIs run a server in the foreground)."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m gongyi.devinfra.postgres", description="A private PostgreSQL cluster."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="install the server package when missing")
    start = sub.add_parser("start", help="run a private cluster in DIR until Ctrl-C")
    start.add_argument("dir", type=Path)
    start.add_argument("--port", type=int)
    start.add_argument("--database", help="also provision this database")
    sub.add_parser("stop", help="stop the cluster in DIR").add_argument("dir", type=Path)
    args = parser.parse_args(None if argv is None else list(argv))
    if args.command == "install":
        print(ensure_installed())
    elif args.command == "stop":
        LocalPostgres(args.dir).stop()
    else:
        with LocalPostgres(args.dir, args.port) as cluster:
            print(cluster.superuser_dsn(args.database or "postgres"), flush=True)
            if args.database:
                provision_database(cluster.superuser_dsn(), args.database)
                for svc in SERVICES:
                    print(service_dsn(cluster.superuser_dsn(), args.database, svc), flush=True)
            print("running; Ctrl-C stops it", flush=True)
            wait_for_interrupt()


if __name__ == "__main__":
    main()
