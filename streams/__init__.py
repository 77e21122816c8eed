"""Stream workers: raw Zoho events → normalised `tds.entity.synced` events.

Reading order: `decode` (raw bytes → a Zoho record), `fields` and `entities` (one
normaliser per entity type), `versions` (the version rule), `pipeline` (one event end to
end, no Kafka), `runs` and `ledger` (sync-run accounting), `failures` (retry routing),
`state` (in-memory state behind changelog topics), `emit` (the producer and its
checkpoints), `engine` (the batched consumer loop) and `avro` (the compiled writer);
`worker` runs it.
"""
