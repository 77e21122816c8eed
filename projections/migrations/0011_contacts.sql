-- Customers and vendors (Zoho contacts), with the same version and tombstone columns.

CREATE TABLE contacts (
    org_id text NOT NULL,
    contact_id text NOT NULL,
    contact_name text,
    company_name text,
    contact_type text,
    status text,
    email text,
    phone text,
    mobile text,
    currency_code text,
    payment_terms integer,
    outstanding_receivable_amount numeric(28, 6),
    outstanding_payable_amount numeric(28, 6),
    created_at timestamptz,
    modified_at timestamptz,
    raw jsonb,
    version_modified_at timestamptz NOT NULL,
    version_offset bigint NOT NULL,
    version_source text NOT NULL,
    event_id text NOT NULL,
    content_hash text NOT NULL,
    source text NOT NULL,
    sync_run_id text,
    synced_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, contact_id)
);
CREATE INDEX contacts_type_name_idx ON contacts (org_id, contact_type, contact_name);
CREATE INDEX contacts_email_idx ON contacts (org_id, email);

CREATE TABLE contacts_tombstones (
    org_id text NOT NULL,
    contact_id text NOT NULL,
    version_modified_at timestamptz NOT NULL,
    version_offset bigint NOT NULL,
    event_id text NOT NULL,
    deleted_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, contact_id)
);
