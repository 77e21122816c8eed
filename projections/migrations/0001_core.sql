-- Bookkeeping shared by every stage: projection offsets, poll cursors, the shared Zoho token.

CREATE TABLE projection_offsets (
    consumer_group text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    next_offset bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);

CREATE TABLE poll_cursors (
    org_id text NOT NULL,
    entity_type text NOT NULL,
    cursor_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, entity_type)
);

-- One access token per refresh token, shared by every TDS process (Zoho allows 10 refreshes
-- per 10 minutes per refresh token; a fleet refreshing on its own would trip that).
CREATE TABLE zoho_tokens (
    refresh_token_sha256 text PRIMARY KEY,
    access_token text NOT NULL,
    api_domain text NOT NULL,
    expires_at timestamptz NOT NULL,
    refreshed_at timestamptz NOT NULL DEFAULT now()
);
