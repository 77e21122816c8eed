"""Kafka's console scripts (`bin/kafka-topics.sh` and the rest) beside the provisioned broker.

The Apache tarball ships them; Maven Central ships only jars. Each script here runs the
same main class as the tarball's script of the pinned version, on the resolved jars, so an
operator's recipe written for a stock Kafka works unchanged against `$KAFKA_HOME/bin`.
"""

from __future__ import annotations

from pathlib import Path

# Script → main class, as in Kafka 4.1's bin/ (the tools moved from kafka.admin to
# org.apache.kafka.tools in 3.x-4.0; ConfigCommand is still in the core jar).
TOOLS: dict[str, str] = {
    "kafka-topics.sh": "org.apache.kafka.tools.TopicCommand",
    "kafka-console-consumer.sh": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "kafka-console-producer.sh": "org.apache.kafka.tools.ConsoleProducer",
    "kafka-consumer-groups.sh": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-get-offsets.sh": "org.apache.kafka.tools.GetOffsetShell",
    "kafka-configs.sh": "kafka.admin.ConfigCommand",
}

# The tarball's kafka-run-class.sh, cut to what a jar folder needs: its own folder decides
# the classpath, JAVA_HOME / KAFKA_HEAP_OPTS / KAFKA_OPTS / KAFKA_LOG4J_OPTS as upstream.
_RUN_CLASS = """#!/bin/sh
# Run a Kafka main class on the jars TDS resolved from Maven Central (written by tds.provision).
if [ $# -lt 1 ]; then
  echo "USAGE: $0 classname [opts]" >&2
  exit 1
fi
base_dir=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "$JAVA_HOME" ]; then JAVA="$JAVA_HOME/bin/java"; else JAVA=java; fi
exec "$JAVA" ${KAFKA_HEAP_OPTS:--Xmx512m} \\
  ${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=$base_dir/config/tools-log4j2.properties} \\
  $KAFKA_OPTS -cp "$base_dir/lib/*" "$@"
"""

_TOOL = """#!/bin/sh
exec "$(dirname "$0")/kafka-run-class.sh" {main} "$@"
"""

# Tools log warnings to stderr only, as the tarball's tools-log4j2.yaml does.
_TOOLS_LOG4J = """status = warn
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
"""


def install_scripts(home: Path) -> Path:
    """Write `home/bin` (the scripts) and `home/config` (the tools' logging); return bin."""
    bin_dir, config = home / "bin", home / "config"
    bin_dir.mkdir(parents=True, exist_ok=True)
    config.mkdir(parents=True, exist_ok=True)
    (config / "tools-log4j2.properties").write_text(_TOOLS_LOG4J)
    scripts = {"kafka-run-class.sh": _RUN_CLASS,
               **{name: _TOOL.format(main=main) for name, main in TOOLS.items()}}
    for name, text in scripts.items():
        path = bin_dir / name
        path.write_text(text)
        path.chmod(0o755)
    return bin_dir
