"""The report's section on Kafka over SASL_SSL beside plaintext (bench/out/kafka_tls.json)."""

from __future__ import annotations

from typing import Any

ROWS = (
    ("producer, records/s (acks=all, idempotent, lz4)", "produce_per_s", 0),
    ("producer, client CPU µs/record", "produce_client_cpu_us", 1),
    ("producer, broker CPU µs/record", "produce_broker_cpu_us", 1),
    ("consumer, records/s (read_committed)", "consume_per_s", 0),
    ("consumer, client CPU µs/record", "consume_client_cpu_us", 1),
    ("consumer, broker CPU µs/record", "consume_broker_cpu_us", 1),
    ("stream worker ×1 (faust), events/s", "worker_per_s", 0),
    ("stream worker ×1 (faust), its CPU µs/event", "worker_cpu_us", 1),
)


def section(doc: dict[str, Any] | None) -> list[str]:
    """Throughput and CPU per record over SASL_SSL beside plaintext."""
    if doc is None:
        return ["not measured", ""]
    ratio = doc["ratio"]
    spread = [tls["produce_per_s"] / plain["produce_per_s"]
              for plain, tls in zip(doc["runs"]["plaintext"], doc["runs"]["sasl_ssl"],
                                    strict=True)]
    worker = (f"; then one `tds worker` through a backlog of {doc['worker_events']:,} raw "
              "events (as bench/streams)" if doc.get("worker_events") else "")
    return [
        f"{doc['messages']:,} records of {doc['size_bytes']} B a round, median of "
        f"{doc['rounds']} alternating rounds, one local broker with both listeners, "
        f"SASL_SSL = TLS + {doc['mechanism']} (load average after: "
        f"{', '.join(str(x) for x in doc['load_average'])}){worker}:",
        "",
        "| | plaintext | SASL_SSL | SASL_SSL ÷ plaintext |",
        "| --- | ---: | ---: | ---: |",
        *(f"| {label} | {doc['plaintext'][key]:,.{digits}f} | {doc['sasl_ssl'][key]:,.{digits}f} "
          f"| {ratio[key]:.2f} |" for label, key, digits in ROWS if key in ratio),
        "",
        "Wall-clock throughput on these shared cores moves with the machine's load from "
        "round to round (the SASL_SSL ÷ plaintext ratio of the producer's records/s went "
        f"from {min(spread):.2f} to {max(spread):.2f} between rounds of this run); CPU time "
        "per record (the client's, from the process; the broker's, from /proc) moves less "
        "and is the steadier measure of what TLS and SASL cost.",
        "",
    ]
