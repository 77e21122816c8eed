-- Indexes for the admin API's reads (measured by bench/api with 50,000 runs):
-- the last completed run (GET /api/tds/health, /api/bff/tds/status) was a sequential scan
-- of every run for max(finished_at); the entity-type filter of GET /api/tds/sync-runs
-- (`entity_types @> ARRAY[...]`) had no index at all.
CREATE INDEX sync_runs_completed_idx ON sync_runs (finished_at) WHERE status = 'completed';
CREATE INDEX sync_runs_entity_types_idx ON sync_runs USING gin (entity_types);
