-- Stored positions a consumer group found outside the log at assignment (its topic was
-- recreated, or truncated by retention); it restarted those partitions from the log start.
-- Health reports the recent ones as `degraded`, with the reason.
CREATE TABLE offset_incidents (
    id bigserial PRIMARY KEY,
    found_at timestamptz NOT NULL DEFAULT now(),
    consumer_group text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    stored_offset bigint NOT NULL,
    restarted_from bigint NOT NULL,
    reason text NOT NULL
);
CREATE INDEX offset_incidents_found_idx ON offset_incidents (found_at);
