-- Write-back commands (ERP → Zoho): one row per command_id, the idempotency key.
-- The API records a command here when it accepts it (status `accepted`); the writer
-- records its intent before each Zoho call (`sending`) and the outcome after it, so a
-- command found in `sending` after a crash has an unknown outcome and is checked in Zoho
-- before anything is sent again.
CREATE TABLE outbound_commands (
    command_id text PRIMARY KEY,
    org_id text NOT NULL,
    entity_type text NOT NULL,
    operation text NOT NULL,
    entity_id text,
    erp_ref text,
    content_hash text NOT NULL,           -- sha256 of the canonical command: a repeat must match
    command jsonb NOT NULL,
    status text NOT NULL CHECK (status IN ('accepted', 'sending', 'retrying', 'applied',
                                           'rejected', 'conflict', 'dead')),
    attempts integer NOT NULL DEFAULT 0,  -- Zoho calls sent for it (0: never sent)
    zoho_id text,
    zoho_version text,                    -- Zoho's last_modified_time after the write
    current_version text,                 -- Zoho's version found newer than base_version
    http_status integer,
    zoho_code integer,
    message text,
    answer jsonb,                         -- Zoho's answer (record, or code and message)
    requested_by text NOT NULL,
    requested_at timestamptz NOT NULL,
    accepted_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    completed_at timestamptz,
    published_at timestamptz,             -- the result reached tds.outbound.results
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- The listing's keyset (newest first) and its filters.
CREATE INDEX outbound_commands_accepted_idx ON outbound_commands (accepted_at DESC, command_id DESC);
CREATE INDEX outbound_commands_status_idx ON outbound_commands (status, accepted_at DESC);
