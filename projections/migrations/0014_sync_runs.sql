-- Sync runs, from tds.sync.runs: one row per run. A terminal event (completed/failed)
-- outranks `started`; between events of the same rank the later one wins.

CREATE TABLE sync_runs (
    run_id text PRIMARY KEY,
    org_id text NOT NULL,
    run_type text NOT NULL,
    source text NOT NULL,
    status text NOT NULL CHECK (status IN ('started', 'completed', 'failed')),
    entity_types text[] NOT NULL,
    started_at timestamptz,
    finished_at timestamptz,
    expected bigint,
    sent bigint NOT NULL DEFAULT 0,
    seen bigint NOT NULL DEFAULT 0,
    changed bigint NOT NULL DEFAULT 0,
    unchanged bigint NOT NULL DEFAULT 0,
    failed bigint NOT NULL DEFAULT 0,
    deleted bigint NOT NULL DEFAULT 0,
    error text,
    configuration jsonb NOT NULL DEFAULT '{}',
    status_rank smallint NOT NULL,
    event_at timestamptz NOT NULL,
    event_id text NOT NULL
);
CREATE INDEX sync_runs_started_idx ON sync_runs (started_at DESC NULLS LAST, run_id);
CREATE INDEX sync_runs_status_idx ON sync_runs (status, started_at DESC NULLS LAST);
CREATE INDEX sync_runs_type_idx ON sync_runs (run_type, started_at DESC NULLS LAST);
