"""`tds kafka-properties`: a client.properties for Kafka's console tools (kafka-topics.sh,
kafka-console-consumer.sh ... `--command-config`), from the same KAFKA_* settings as TDS."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tds.settings import Settings


def register(sub: Any) -> None:
    """Add the subcommand."""
    parser = sub.add_parser("kafka-properties",
                            help="write a client.properties for Kafka's console tools")
    parser.add_argument("-o", "--output", type=Path,
                        help="file to write (default: print); a client certificate is "
                             "written beside it as <name>.keystore.pem")
    parser.set_defaults(handler=run, uses_kafka=False)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print or write the properties; the file is private (it may hold the password)."""
    security = settings.kafka_security
    output: Path | None = args.output
    if output is None:
        if security.cert_file:
            print("tds kafka-properties: a client certificate needs --output (Java reads it "
                  "from a keystore file written beside it)", file=sys.stderr)
            return 2
        sys.stdout.write(security.java_properties())
        return 0
    keystore = security.write_java_keystore(output.with_suffix(".keystore.pem"))
    output.touch(mode=0o600)
    output.write_text(security.java_properties(keystore))
    print(f"wrote {output}")
    return 0
