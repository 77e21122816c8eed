-- Purchase side: bills (with their lines) and vendor payments (with the bills they pay).

CREATE TABLE bills (
    org_id text NOT NULL,
    bill_id text NOT NULL,
    bill_number text,
    vendor_id text,
    vendor_name text,
    status text,
    date date,
    reference_number text,
    currency_code text,
    due_date date,
    sub_total numeric(28, 6),
    total numeric(28, 6),
    balance numeric(28, 6),
    location_id text,
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
    PRIMARY KEY (org_id, bill_id)
);
CREATE INDEX bills_vendor_idx ON bills (org_id, vendor_id);
CREATE INDEX bills_date_idx ON bills (org_id, date);
CREATE INDEX bills_status_idx ON bills (org_id, status);

CREATE TABLE bills_tombstones (
    org_id text NOT NULL,
    bill_id text NOT NULL,
    version_modified_at timestamptz NOT NULL,
    version_offset bigint NOT NULL,
    event_id text NOT NULL,
    deleted_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, bill_id)
);

CREATE TABLE bill_lines (
    org_id text NOT NULL,
    bill_id text NOT NULL,
    line_no integer NOT NULL,
    line_item_id text,
    item_id text,
    sku text,
    name text,
    description text,
    quantity numeric(28, 6),
    rate numeric(28, 6),
    discount numeric(28, 6),
    tax_id text,
    item_total numeric(28, 6),
    location_id text,
    PRIMARY KEY (org_id, bill_id, line_no)
);
CREATE INDEX bill_lines_item_idx ON bill_lines (org_id, item_id);

CREATE TABLE vendor_payments (
    org_id text NOT NULL,
    payment_id text NOT NULL,
    payment_number text,
    vendor_id text,
    vendor_name text,
    status text,
    date date,
    reference_number text,
    currency_code text,
    payment_mode text,
    amount numeric(28, 6),
    balance numeric(28, 6),
    location_id text,
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
    PRIMARY KEY (org_id, payment_id)
);
CREATE INDEX vendor_payments_vendor_idx ON vendor_payments (org_id, vendor_id);
CREATE INDEX vendor_payments_date_idx ON vendor_payments (org_id, date);

CREATE TABLE vendor_payments_tombstones (
    org_id text NOT NULL,
    payment_id text NOT NULL,
    version_modified_at timestamptz NOT NULL,
    version_offset bigint NOT NULL,
    event_id text NOT NULL,
    deleted_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, payment_id)
);

CREATE TABLE vendor_payment_applications (
    org_id text NOT NULL,
    payment_id text NOT NULL,
    line_no integer NOT NULL,
    document_id text,
    document_number text,
    amount_applied numeric(28, 6),
    PRIMARY KEY (org_id, payment_id, line_no)
);
CREATE INDEX vendor_payment_applications_document_idx ON vendor_payment_applications (org_id, document_id);
