"""Apache Kafka from Maven Central: resolve the jars, format KRaft storage, run one node.

No Docker and no tarball: `mvn dependency:copy-dependencies` puts kafka_2.13 and its
dependencies (plus a log4j2 backend) in the cache folder; a single combined
broker+controller runs from them on 127.0.0.1.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from tds.errors import ProvisionError
from tds.provision.common import (
    cache_dir,
    free_port,
    pid_alive,
    recorded_value,
    stop_pid,
    wait_until,
)
from tds.provision.kafka_bin import install_scripts
from tds.provision.kafka_tls import SecureListener

logger = logging.getLogger(__name__)

KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.25.3"

# log4j-slf4j-impl, the binding for slf4j 1.x: Kafka 4.1's poms pin slf4j-api 1.7.36, which
# ignores the slf4j2 binding, so neither the broker nor a tool logged anything.
_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>tds.local</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId><version>{log4j}</version></dependency>
  </dependencies>
</project>
"""

_LOG4J = """status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


def kafka_home() -> Path:
    """Folder of this Kafka version's jars and node data."""
    return cache_dir() / f"kafka-{KAFKA_VERSION}"


def resolve_jars() -> Path:
    """Download Kafka's jars with Maven once; return the folder holding them."""
    home = kafka_home()
    lib = home / "lib"
    marker = lib / ".resolved"
    pom = _POM.format(kafka=KAFKA_VERSION, log4j=LOG4J_VERSION)
    if marker.is_file() and marker.read_text() == pom:
        return lib
    shutil.rmtree(lib, ignore_errors=True)  # jars of another dependency set must not mix in
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ProvisionError("Maven (mvn) is not on PATH: it is needed to fetch Kafka's jars")
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_text(pom)
    logger.info("resolving org.apache.kafka:kafka_2.13:%s with Maven", KAFKA_VERSION)
    result = subprocess.run(
        [mvn, "-q", "-B", "-f", str(home / "pom.xml"), "dependency:copy-dependencies",
         f"-DoutputDirectory={lib}", "-DincludeScope=runtime"],
        capture_output=True, text=True, timeout=900, check=False,
    )
    if result.returncode != 0 or not any(lib.glob("kafka_2.13-*.jar")):
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise ProvisionError(
            f"mvn dependency:copy-dependencies for kafka_2.13:{KAFKA_VERSION} failed "
            f"(exit {result.returncode}):\n{tail}"
        )
    marker.write_text(pom)
    return lib


def install_tools() -> Path:
    """Kafka's console scripts on the resolved jars; returns the folder holding `bin/`."""
    resolve_jars()
    install_scripts(kafka_home())
    return kafka_home()


def metadata_ok(bootstrap: str, timeout_s: float = 3.0) -> bool:
    """Whether a metadata request to `bootstrap` succeeds (plaintext, not client_config:
    provisioning checks the local node's PLAINTEXT listener whatever TDS's clients use)."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000,
                         "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except Exception:  # KafkaException or a timeout: not reachable yet
        return False
    return bool(metadata.brokers)


@dataclass(frozen=True, slots=True)
class KafkaNode:
    """A running (or stopped) local Kafka node and where its files are."""

    home: Path
    port: int
    controller_port: int
    pid: int
    secure_port: int | None = None  # the SASL_SSL listener's, when started with one

    @property
    def bootstrap(self) -> str:
        """host:port of the broker listener."""
        return f"127.0.0.1:{self.port}"

    @property
    def secure(self) -> SecureListener | None:
        """The SASL_SSL listener, when the node has one."""
        if self.secure_port is None:
            return None
        return SecureListener(folder=self.home / "tls", port=self.secure_port)

    def save(self) -> None:
        """Record the node so later calls (and `make down`) find it."""
        _state_file().write_text(json.dumps({
            "port": self.port, "controller_port": self.controller_port, "pid": self.pid,
            "secure_port": self.secure_port}))

    @property
    def log_file(self) -> Path:
        """The broker's own log."""
        return self.home / "logs" / "server.log"


def _state_file() -> Path:
    return kafka_home() / "node.json"


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = Path(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java:
        raise ProvisionError("java is not on PATH: Kafka needs Java 17 or newer")
    return str(java)


def _write_config(home: Path, port: int, controller_port: int,
                  secure: SecureListener | None = None) -> Path:
    data, logs = home / "data", home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    config = home / "server.properties"
    listeners = f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"
    advertised = f"PLAINTEXT://127.0.0.1:{port}"
    protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    if secure is not None:
        listeners += f",SASL_SSL://127.0.0.1:{secure.port}"
        advertised += f",SASL_SSL://{secure.bootstrap}"
        protocols += ",SASL_SSL:SASL_SSL"
    config.write_text("\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
        f"listeners={listeners}",
        f"advertised.listeners={advertised}",
        "controller.listener.names=CONTROLLER",
        f"listener.security.protocol.map={protocols}",
        *(secure.broker_properties() if secure is not None else []),
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={data}",
        "num.partitions=1",
        "auto.create.topics.enable=false",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=10",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "transaction.state.log.num.partitions=10",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "log.segment.bytes=67108864",
        "log.cleaner.dedupe.buffer.size=33554432",
        "",
    ]))
    (home / "log4j2.properties").write_text(_LOG4J.format(log=logs / "server.log"))
    return config


# The brokers this process launched, by pid: kept so the Popen is not collected while the
# broker runs (a ResourceWarning) and so a stopped broker is reaped, not left a zombie.
_LAUNCHED: dict[int, subprocess.Popen[bytes]] = {}


def _reap(pid: int) -> None:
    process = _LAUNCHED.get(pid)
    if process is None:
        return
    try:
        process.wait(timeout=10)  # stop_pid ends with a SIGKILL: this is short
    except subprocess.TimeoutExpired:
        return  # still running: keep it registered
    del _LAUNCHED[pid]


def _launch(home: Path, lib: Path, config: Path) -> int:
    logs = home / "logs"
    out = (logs / "stdout.log").open("ab")
    process = subprocess.Popen(
        [_java(), "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-Djava.awt.headless=true",
         f"-Dlog4j2.configurationFile={home / 'log4j2.properties'}",
         f"-Dkafka.logs.dir={logs}", "-cp", f"{lib}/*", "kafka.Kafka", str(config)],
        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,  # survives `make up` exiting; `make down` stops it
    )
    out.close()  # the child holds its own descriptor
    _LAUNCHED[process.pid] = process
    return process.pid


def _cluster_id() -> str:
    """A random cluster id as Kafka writes them; never starting with "-", which the storage
    tool's argument parser would take for an option (1 in 64 ids did: a flaky start)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def start_node(timeout_s: float = 120.0, *, secure: bool = False) -> KafkaNode:
    """Format fresh KRaft storage and start one node on free ports; `secure` adds a
    SASL_SSL listener (throwaway certificates, a SCRAM and PLAIN user)."""
    lib = resolve_jars()
    home = kafka_home()
    shutil.rmtree(home / "data", ignore_errors=True)
    shutil.rmtree(home / "logs", ignore_errors=True)
    port, controller_port = free_port(), free_port()
    listener = SecureListener.create(home / "tls", free_port()) if secure else None
    config = _write_config(home, port, controller_port, listener)
    cluster_id = _cluster_id()
    result = subprocess.run(
        [_java(), "-cp", f"{lib}/*",
         f"-Dlog4j2.configurationFile={home / 'log4j2.properties'}",
         "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config),
         *(listener.scram_arguments() if listener is not None else [])],
        capture_output=True, text=True, timeout=120, check=False,
    )
    if result.returncode != 0:
        raise ProvisionError(f"kafka StorageTool format failed:\n{result.stdout}{result.stderr}")
    pid = _launch(home, lib, config)
    node = KafkaNode(home=home, port=port, controller_port=controller_port, pid=pid,
                     secure_port=listener.port if listener is not None else None)
    node.save()
    wait_until(lambda: metadata_ok(node.bootstrap), timeout_s, f"Kafka on {node.bootstrap}",
               node.log_file)
    logger.info("Kafka %s running on %s (pid %d)", KAFKA_VERSION, node.bootstrap, pid)
    return node


def running_node(wait_s: float = 60.0) -> KafkaNode | None:
    """The node a previous call started; a stopped one is started again on its data.

    A node mid-restart (alive, not answering yet) is waited for rather than replaced.
    """
    path = _state_file()
    if not path.is_file():
        return None
    state = json.loads(path.read_text())
    node = KafkaNode(home=kafka_home(), port=state["port"],
                     controller_port=state["controller_port"], pid=state["pid"],
                     secure_port=state.get("secure_port"))
    config = node.home / "server.properties"
    if not pid_alive(node.pid):
        if not (config.is_file() and (node.home / "data" / "meta.properties").is_file()):
            return None
        logger.info("Kafka on %s is stopped; starting it on its data", node.bootstrap)
        pid = _launch(node.home, resolve_jars(), config)
        node = dataclasses.replace(node, pid=pid)
        node.save()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if metadata_ok(node.bootstrap):
            return node
        if not pid_alive(node.pid):
            return None
        time.sleep(0.5)
    return None


def restart_node(node: KafkaNode, timeout_s: float = 120.0, down_s: float = 0.0) -> KafkaNode:
    """Stop the node and start it again on the same ports and data (for fault tests)."""
    stop_pid(node.pid)
    _reap(node.pid)
    time.sleep(down_s)
    config = node.home / "server.properties"
    pid = _launch(node.home, resolve_jars(), config)
    fresh = dataclasses.replace(node, pid=pid)
    fresh.save()
    wait_until(lambda: metadata_ok(fresh.bootstrap), timeout_s, f"Kafka on {fresh.bootstrap}",
               fresh.log_file)
    return fresh


def ensure_kafka(*, secure: bool = False) -> str:
    """Bootstrap servers of a reachable Kafka: the configured one, a running one, or a new one.

    `secure`: the node must have a SASL_SSL listener (see `secure_listener`); one started
    without it is not changed behind its users' backs.
    """
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if secure:
        node = running_node()
        if node is not None and node.secure_port is None:
            raise ProvisionError(
                f"Kafka on {node.bootstrap} runs without a SASL_SSL listener: "
                "`make down`, then `TDS_KAFKA_SASL_SSL=true make up` formats a new one")
        return (node or start_node(secure=True)).bootstrap
    if configured:
        if metadata_ok(configured, timeout_s=10.0):
            return configured
        if configured != recorded_value("KAFKA_BOOTSTRAP_SERVERS"):
            raise ProvisionError(
                f"KAFKA_BOOTSTRAP_SERVERS={configured} is set but no broker answers there; "
                "unset it to let TDS start its own, or start that broker"
            )
    node = running_node() or start_node()
    return node.bootstrap


def secure_listener() -> SecureListener | None:
    """The SASL_SSL listener of the node this project started, if it has one."""
    path = _state_file()
    if not path.is_file():
        return None
    port = json.loads(path.read_text()).get("secure_port")
    return None if port is None else SecureListener(folder=kafka_home() / "tls", port=port)


def stop_kafka() -> bool:
    """Stop the node this project started; True when one was running."""
    path = _state_file()
    if not path.is_file():
        return False
    pid = json.loads(path.read_text())["pid"]
    was_running = pid_alive(pid)
    stop_pid(pid)
    _reap(pid)
    path.unlink(missing_ok=True)
    return was_running


@contextmanager
def private_node(root: Path, *, secure: bool = False) -> Iterator[KafkaNode]:
    """A node of the caller's own under `root` (jars linked from the shared cache), stopped
    afterwards: for tests and benchmarks that must not touch the shared broker."""
    shared_lib = kafka_home() / "lib"

    @contextmanager
    def cache_at_root() -> Iterator[Path]:
        saved = os.environ.get("TDS_CACHE_DIR")
        os.environ["TDS_CACHE_DIR"] = str(root)
        try:
            yield kafka_home()
        finally:
            if saved is None:
                os.environ.pop("TDS_CACHE_DIR", None)
            else:
                os.environ["TDS_CACHE_DIR"] = saved

    with cache_at_root() as home:
        home.mkdir(parents=True, exist_ok=True)
        if shared_lib.is_dir() and not (home / "lib").exists():
            (home / "lib").symlink_to(shared_lib, target_is_directory=True)
        node = start_node(secure=secure)
        install_tools()  # Kafka's console scripts beside it
    try:
        yield node
    finally:
        with cache_at_root():
            stop_kafka()
