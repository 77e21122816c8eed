"""Stream-worker benchmark: raw events → tds.entity.synced, `tds worker` processes against a
plain confluent-kafka consume → transform → produce loop doing the same work (`python -m
bench.streams`)."""
