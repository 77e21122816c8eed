-- The pollers' run ledger: one row per sync run a poller process claimed. The primary key
-- is the run's slot ("stock@2025-11-13T10:30:00Z") or its command ("command:<run_id>"), so
-- a slot or a redelivered command can never fire twice, whichever process claims it.
-- heartbeat_at lets the scheduler mark runs of a dead process as failed.

CREATE TABLE poll_runs (
    run_key text PRIMARY KEY,
    run_id text NOT NULL UNIQUE,
    org_id text NOT NULL,
    run_type text NOT NULL,
    trigger text NOT NULL,
    entity_types text[] NOT NULL,
    owner text NOT NULL,
    status text NOT NULL CHECK (status IN ('started', 'completed', 'failed')),
    seen bigint NOT NULL DEFAULT 0,
    sent bigint NOT NULL DEFAULT 0,
    deleted bigint NOT NULL DEFAULT 0,
    failed bigint NOT NULL DEFAULT 0,
    error text,
    configuration jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX poll_runs_started_idx ON poll_runs (run_type, heartbeat_at) WHERE status = 'started';
CREATE INDEX poll_runs_recent_idx ON poll_runs (org_id, run_type, created_at DESC);
