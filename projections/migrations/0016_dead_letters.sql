-- Dead letters, from tds.deadletter: the failed message (key and value bytes unchanged)
-- and what its headers say. `id` is the dead-letter message's own position
-- ("topic/partition/offset"), stable across re-projection; the API moves `status` from
-- pending to retried or resolved, and re-projecting a message never resets it.

CREATE TABLE dead_letters (
    id text PRIMARY KEY,
    dlq_topic text NOT NULL,
    dlq_partition integer NOT NULL,
    dlq_offset bigint NOT NULL,
    added_at timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'retried', 'resolved')),
    status_changed_at timestamptz,
    retry_count integer NOT NULL DEFAULT 0,
    message_key bytea,
    message_value bytea,
    headers jsonb NOT NULL,
    org_id text,
    entity_type text,
    entity_id text,
    original_topic text,
    original_partition integer,
    original_offset bigint,
    original_timestamp timestamptz,
    consumer_group text,
    stage text,
    attempt integer NOT NULL DEFAULT 0,
    first_failure_at timestamptz,
    error_class text,
    error_message text,
    error_trace text,
    reason text,
    ce_type text,
    UNIQUE (dlq_topic, dlq_partition, dlq_offset)
);
CREATE INDEX dead_letters_status_idx ON dead_letters (status, added_at DESC);
CREATE INDEX dead_letters_added_idx ON dead_letters (added_at DESC);
CREATE INDEX dead_letters_entity_idx ON dead_letters (entity_type, added_at DESC);
CREATE INDEX dead_letters_stage_idx ON dead_letters (stage, error_class);
