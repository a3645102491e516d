"""A real single-node Apache Kafka broker (KRaft, loopback) assembled from Maven Central jars.

Why: the project's machines have Java and Maven but neither Docker nor a Kafka package, and the
broker is published on Maven Central as jars; CI and tests get a real broker from them. Contract:
- ``ensure_kafka_jars(version)`` returns a directory of jars that runs the broker: the runtime
  dependencies of ``org.apache.kafka:kafka_2.13`` plus a log4j2 binding, copied by Maven into
  ``$GONGYI_CACHE_DIR`` (default ``~/.cache/gongyi``) ``/kafka-<version>/libs``, proven with
  ``kafka.Kafka --version`` and marked complete; later calls only check the mark. It first checks
  that Maven Central answers and fails with :class:`KafkaError` saying so otherwise.
- ``LocalKafka(base_dir)`` owns ``base_dir``: ``server.properties``, ``log4j2.properties``,
  ``cluster.id`` (drawn once), ``ports`` (chosen once, reused by every restart), ``data/``
  (``log.dirs``) and ``kafka.log`` (the JVM's output, appended across restarts).
  ``start()`` formats only when ``data/meta.properties`` is missing, starts the JVM and returns
  once the port accepts connections and the log says ``Kafka Server started``; if the JVM exits
  meanwhile it raises :class:`KafkaError` with the log tail. ``stop()`` sends SIGTERM, then
  SIGKILL after 30 s; ``kill()`` is SIGKILL (fault tests); ``restart()`` is stop + start on the
  same data, never reformatting. One LocalKafka per ``base_dir``: ``start()`` kills a broker that
  a dead process left running there (found through ``kafka.pid``).
- ``create_topics(bootstrap, {name: partitions})`` is idempotent and returns once every
  partition has a leader.

CLI: ``python -m gongyi.devinfra.kafka fetch | start DIR [--port N] [--topic NAME:PARTITIONS]...
| create-topics BOOTSTRAP NAME:PARTITIONS...``.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from gongyi.devinfra.postgres import free_port, port_is_free, run_sync, wait_for_interrupt

KAFKA_VERSION = "4.3.1"
# Kafka 4.1+ logs through log4j2 but ships no SLF4J binding; it must match the transitive log4j-core.
_LOG4J_BINDING = {"4.3.1": "2.25.4"}
_STARTED = b"Kafka Server started"
_STOP_GRACE_S = 30.0
_BROKER_JVM = ("-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true")

_POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>org.gongyi.devinfra</groupId>
  <artifactId>kafka-broker-runtime</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{version}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""

_LOG4J2 = """status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.requests.name = kafka.request.logger
logger.requests.level = WARN
logger.configs.name = org.apache.kafka.common.config.AbstractConfig
logger.configs.level = WARN
"""


class KafkaError(RuntimeError):
    """The broker's jars could not be assembled, or the broker did not start."""


def cache_dir() -> Path:
    return Path(os.environ.get("GONGYI_CACHE_DIR") or Path.home() / ".cache" / "gongyi")


def ensure_kafka_jars(version: str = KAFKA_VERSION) -> Path:
    """The directory of jars for ``java -cp '<dir>/*'``, assembled on first use."""
    if version not in _LOG4J_BINDING:
        raise KafkaError(f"no log4j binding known for Kafka {version}; known: {sorted(_LOG4J_BINDING)}")
    home = cache_dir() / f"kafka-{version}"
    libs = home / "libs"
    if _complete(libs):
        return libs
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".lock").open("w") as lock:
        # Parallel test workers would otherwise assemble the same directory at once.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _complete(libs):
            _assemble(home, libs, version)
    return libs


def _complete(libs: Path) -> bool:
    mark = libs / ".complete"
    return mark.exists() and all((libs / jar).exists() for jar in mark.read_text().split())


def _assemble(home: Path, libs: Path, version: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaError("Maven (mvn) is needed to fetch the Kafka broker jars; install maven")
    artifact = f"org.apache.kafka:kafka_2.13:{version}"
    _run(
        [mvn, "-B", "-q", "dependency:get", f"-Dartifact={artifact}"],
        f"Maven Central did not answer for {artifact}; the broker jars come from there "
        "(check the network, or the mirror in ~/.m2/settings.xml)",
    )
    (home / "pom.xml").write_text(_POM.format(version=version, log4j=_LOG4J_BINDING[version]))
    staging = home / f"libs.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    copy = ["dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={staging}"]
    _run([mvn, "-B", "-q", "-f", str(home / "pom.xml"), *copy], "mvn could not copy the broker's jars")
    proof = _run([_java(), "-cp", f"{staging}/*", "kafka.Kafka", "--version"], "the jars do not run Kafka")
    if version not in proof:
        raise KafkaError(f"kafka.Kafka --version printed {proof.strip()!r}, expected {version}")
    (staging / ".complete").write_text("\n".join(sorted(p.name for p in staging.glob("*.jar"))) + "\n")
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)


def _run(cmd: list[str], failure: str, cwd: Path | None = None) -> str:
    """Run ``cmd``; its stdout, or :class:`KafkaError` with ``failure`` and the output's tail."""
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=cwd)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise KafkaError(f"{failure}:\n{tail}")
    return done.stdout


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java:
        raise KafkaError("java is needed to run the Kafka broker; install OpenJDK 17")
    return java


def new_cluster_id() -> str:
    """16 random bytes, urlsafe base64 without padding; never starting with '-' (CLI parsing)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class LocalKafka:
    """One broker+controller under ``base_dir``; see the module docstring."""

    def __init__(
        self,
        base_dir: Path,
        port: int | None = None,
        controller_port: int | None = None,
        *,
        version: str = KAFKA_VERSION,
        extra_properties: Mapping[str, str] | None = None,
    ) -> None:
        self.base_dir = Path(base_dir).absolute()
        self.data_dir = self.base_dir / "data"
        self.log_file = self.base_dir / "kafka.log"
        self.properties_file = self.base_dir / "server.properties"
        self.version = version
        self.extra_properties = dict(extra_properties or {})
        self._requested = (port, controller_port)
        self._ports: tuple[int, int] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        if self._ports is None:
            raise KafkaError("the broker has not been started")
        return self._ports[0]

    @property
    def controller_port(self) -> int:
        if self._ports is None:
            raise KafkaError("the broker has not been started")
        return self._ports[1]

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 120.0) -> None:
        if self.running:
            return
        libs = ensure_kafka_jars(self.version)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._stop_orphan()
        self._ports = self._choose_ports()
        self._write_config()
        if not (self.data_dir / "meta.properties").exists():
            self._format(libs)
        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with self.log_file.open("ab") as out:
            self._proc = subprocess.Popen(
                [*self._java_cmd(libs, *_BROKER_JVM), "kafka.Kafka", str(self.properties_file)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.base_dir,
                # Its own session: Ctrl-C on a test run reaches us, and we stop the broker in order.
                start_new_session=True,
            )
        (self.base_dir / "kafka.pid").write_text(f"{self._proc.pid}\n")
        _live.add(self)
        self._wait_until_serving(offset, timeout)

    def stop(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._forget()

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._forget()

    def restart(self, timeout: float = 120.0) -> None:
        self.stop()
        self.start(timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _forget(self) -> None:
        self._proc = None
        (self.base_dir / "kafka.pid").unlink(missing_ok=True)
        _live.discard(self)

    def _stop_orphan(self) -> None:
        """Kill a broker that an earlier, killed process left running on this directory."""
        try:
            pid = int((self.base_dir / "kafka.pid").read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ValueError):
            return
        if str(self.properties_file).encode() in cmdline.split(b"\0"):
            os.kill(pid, signal.SIGKILL)
            while Path(f"/proc/{pid}").exists():
                time.sleep(0.05)

    def _choose_ports(self) -> tuple[int, int]:
        port_file = self.base_dir / "ports"
        stored: list[int | None] = json.loads(port_file.read_text()) if port_file.exists() else [None, None]
        chosen: list[int] = []
        for requested, remembered in zip(self._requested, stored, strict=True):
            port = requested or remembered
            # A remembered port another process took since is given up; an explicit one is not.
            if port is None or (port == remembered and not port_is_free(port)):
                port = free_port()
                while port in chosen:
                    port = free_port()
            chosen.append(port)
        port_file.write_text(json.dumps(chosen) + "\n")
        return chosen[0], chosen[1]

    def _write_config(self) -> None:
        port, cport = self.port, self.controller_port
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{cport}",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.cleaner.dedupe.buffer.size": "16777216",
            "auto.create.topics.enable": "false",
            "num.partitions": "3",
            **self.extra_properties,
        }
        self.properties_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        (self.base_dir / "log4j2.properties").write_text(_LOG4J2)

    def _java_cmd(self, libs: Path, *jvm_flags: str) -> list[str]:
        log_config = f"-Dlog4j2.configurationFile={self.base_dir / 'log4j2.properties'}"
        return [_java(), *jvm_flags, log_config, "-cp", f"{libs}/*"]

    def _cluster_id(self) -> str:
        id_file = self.base_dir / "cluster.id"
        if not id_file.exists():
            id_file.write_text(new_cluster_id() + "\n")
        return id_file.read_text().strip()

    def _format(self, libs: Path) -> None:
        format_args = ["-t", self._cluster_id(), "-c", str(self.properties_file), "--ignore-formatted"]
        _run(
            [*self._java_cmd(libs), "kafka.tools.StorageTool", "format", *format_args],
            f"formatting {self.data_dir} failed",
            cwd=self.base_dir,
        )

    def _wait_until_serving(self, offset: int, timeout: float) -> None:
        proc = self._proc
        if proc is None:
            raise KafkaError("the broker has not been started")
        deadline = time.monotonic() + timeout
        seen, started = b"", False
        with self.log_file.open("rb") as log:
            log.seek(offset)
            while True:
                if proc.poll() is not None:
                    self._forget()
                    raise KafkaError(
                        f"the broker exited ({proc.returncode}) while starting" + self._diagnosis(log, offset)
                    )
                # Keep a line's worth of the previous read: the marker may straddle two reads.
                seen = seen[-len(_STARTED) :] + log.read()
                started = started or _STARTED in seen
                if started and _accepts(self.port):
                    return
                if time.monotonic() > deadline:
                    self.kill()
                    raise KafkaError(f"the broker did not start within {timeout:.0f} s" + self._diagnosis(log, offset))
                time.sleep(0.1)

    def _diagnosis(self, log: BinaryIO, offset: int) -> str:
        log.seek(offset)
        lines = log.read().decode(errors="replace").splitlines()
        # Shutdown chatter buries the cause in the tail, so the first errors are quoted as well.
        errors = [line for line in lines if " ERROR " in line or line.startswith("Caused by:")][:8]
        tail = "\n".join(lines[-40:])
        return f"; first errors:\n{chr(10).join(errors)}\nlog tail of {self.log_file}:\n{tail}"


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


async def create_topics_async(
    bootstrap: str,
    topics: Mapping[str, int],
    replication: int = 1,
    configs: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> None:
    """Create missing topics (existing ones are left as they are); wait until all have leaders."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="gongyi-devinfra")
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name, n, replication, topic_configs=dict(configs or {})) for name, n in topics.items()]
        )
        for name, code, *rest in response.topic_errors:
            if code not in (0, TopicAlreadyExistsError.errno):
                raise for_code(code)(f"creating topic {name}: {rest[0] if rest else ''}")
        deadline = time.monotonic() + timeout
        while not await _all_led(admin, topics):
            if time.monotonic() > deadline:
                raise KafkaError(f"topics {sorted(topics)} lack leaders or partitions after {timeout:.0f} s")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def _all_led(admin: AIOKafkaAdminClient, topics: Mapping[str, int]) -> bool:
    described = await admin.describe_topics(list(topics))
    return len(described) == len(topics) and all(
        t["error_code"] == 0
        and len(t["partitions"]) >= topics[t["topic"]]
        and all(p["leader"] >= 0 for p in t["partitions"])
        for t in described
    )


def create_topics(
    bootstrap: str,
    topics: Mapping[str, int],
    replication: int = 1,
    configs: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> None:
    run_sync(create_topics_async(bootstrap, topics, replication, configs, timeout))


# Brokers this process started and has not stopped: stopped at exit so that an aborted test run
# leaves no JVM behind.
_live: set[LocalKafka] = set()


@atexit.register
def _stop_leftovers() -> None:
    for broker in list(_live):
        broker.stop()


def _topic_spec(spec: str) -> tuple[str, int]:
    name, _, partitions = spec.rpartition(":")
    return (name, int(partitions)) if name else (spec, 3)


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gongyi.devinfra.kafka", description="A local Kafka broker.")
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="assemble (or check) the cached broker jars")
    fetch.add_argument("--version", default=KAFKA_VERSION)
    start = sub.add_parser("start", help="run a broker in DIR until Ctrl-C")
    start.add_argument("dir", type=Path)
    start.add_argument("--port", type=int)
    start.add_argument("--controller-port", type=int)
    start.add_argument("--topic", action="append", default=[], type=_topic_spec, help="NAME[:PARTITIONS]")
    topics = sub.add_parser("create-topics", help="create topics on a running broker")
    topics.add_argument("bootstrap")
    topics.add_argument("topic", nargs="+", type=_topic_spec, help="NAME[:PARTITIONS]")
    args = parser.parse_args(None if argv is None else list(argv))
    if args.command == "fetch":
        print(ensure_kafka_jars(args.version))
    elif args.command == "create-topics":
        create_topics(args.bootstrap, dict(args.topic))
    else:
        with LocalKafka(args.dir, args.port, args.controller_port) as broker:
            if args.topic:
                create_topics(broker.bootstrap, dict(args.topic))
            print(broker.bootstrap, "running; Ctrl-C stops it", flush=True)
            wait_for_interrupt()


if __name__ == "__main__":
    main()
