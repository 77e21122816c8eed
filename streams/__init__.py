"""Stream workers: raw Zoho events → normalised `tds.entity.synced` events (faust).

Reading order: `decode` (raw bytes → a Zoho record), `fields` and `entities` (one
normaliser per entity type), `versions` (the version rule), `pipeline` (one event end to
end, no faust), `runs` (sync-run accounting), `failures` (retry routing), `app` (the faust
app and its agents) with `emit` (sends inside faust's transactions), `priority` (realtime
partitions fetched first) and `avro` (the compiled writer); `worker` runs it.
"""
