"""The Kafka inspection process of `api.kafka_state.KafkaInspector`:

    python -m api.kafka_child FD BOOTSTRAP TIMEOUT_S

answers calls on the socket FD until its parent closes it.
"""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection

from api.kafka_state import serve


def main(argv: list[str]) -> None:
    """Serve on the inherited socket."""
    fd, bootstrap, timeout_s = argv
    serve(Connection(int(fd)), bootstrap, float(timeout_s))


if __name__ == "__main__":
    main(sys.argv[1:])
