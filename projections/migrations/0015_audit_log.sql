-- The success audit log: one row per change the projector made to a read model (insert,
-- update or delete), written in the same transaction as the change and its offsets, so a
-- crash never loses or doubles an entry. Stale and duplicate events change nothing and
-- leave no entry. (table_name, topic, kafka_partition, kafka_offset) names the effect.

CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    projected_at timestamptz NOT NULL DEFAULT now(),
    consumer_group text NOT NULL,
    topic text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset bigint NOT NULL,
    table_name text NOT NULL,
    action text NOT NULL CHECK (action IN ('insert', 'update', 'delete')),
    org_id text NOT NULL,
    entity_type text NOT NULL,
    entity_id text NOT NULL,
    event_id text NOT NULL,
    version_modified_at timestamptz NOT NULL,
    version_offset bigint NOT NULL,
    content_hash text NOT NULL,
    source text NOT NULL,
    sync_run_id text
);
-- Few indexes, as every change writes a row here: a record's history, what a run changed,
-- and the recent window the admin API counts.
CREATE INDEX audit_log_entity_idx ON audit_log (org_id, entity_type, entity_id, id DESC);
CREATE INDEX audit_log_run_idx ON audit_log (sync_run_id, id) WHERE sync_run_id IS NOT NULL;
CREATE INDEX audit_log_projected_idx ON audit_log (projected_at);
