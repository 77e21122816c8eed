-- Sales side: sales orders, invoices and credit notes (with their lines), customer
-- payments (with the invoices they apply to). Lines belong to their document's version:
-- a newer document replaces all of its lines.

CREATE TABLE sales_orders (
    org_id text NOT NULL,
    salesorder_id text NOT NULL,
    salesorder_number text,
    customer_id text,
    customer_name text,
    status text,
    date date,
    reference_number text,
    currency_code text,
    shipment_date date,
    sub_total numeric(28, 6),
    total numeric(28, 6),
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
    PRIMARY KEY (org_id, salesorder_id)
);
CREATE INDEX sales_orders_customer_idx ON sales_orders (org_id, customer_id);
CREATE INDEX sales_orders_date_idx ON sales_orders (org_id, date);
CREATE INDEX sales_orders_number_idx ON sales_orders (org_id, salesorder_number);

CREATE TABLE sales_orders_tombstones (
    org_id text NOT NULL,
    salesorder_id text NOT NULL,
    version_modified_at timestamptz NOT NULL,
    version_offset bigint NOT NULL,
    event_id text NOT NULL,
    deleted_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, salesorder_id)
);

CREATE TABLE sales_order_lines (
    org_id text NOT NULL,
    salesorder_id text NOT NULL,
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
    PRIMARY KEY (org_id, salesorder_id, line_no)
);
CREATE INDEX sales_order_lines_item_idx ON sales_order_lines (org_id, item_id);

CREATE TABLE invoices (
    org_id text NOT NULL,
    invoice_id text NOT NULL,
    invoice_number text,
    customer_id text,
    customer_name text,
    status text,
    date date,
    reference_number text,
    currency_code text,
    due_date date,
    sub_total numeric(28, 6),
    tax_total numeric(28, 6),
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
    PRIMARY KEY (org_id, invoice_id)
);
CREATE INDEX invoices_customer_idx ON invoices (org_id, customer_id);
CREATE INDEX invoices_date_idx ON invoices (org_id, date);
CREATE INDEX invoices_status_idx ON invoices (org_id, status);
CREATE INDEX invoices_number_idx ON invoices (org_id, invoice_number);

CREATE TABLE invoices_tombstones (
    org_id text NOT NULL,
    invoice_id text NOT NULL,
    version_modified_at timestamptz NOT NULL,
    version_offset bigint NOT NULL,
    event_id text NOT NULL,
    deleted_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, invoice_id)
);

CREATE TABLE invoice_lines (
    org_id text NOT NULL,
    invoice_id text NOT NULL,
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
    PRIMARY KEY (org_id, invoice_id, line_no)
);
CREATE INDEX invoice_lines_item_idx ON invoice_lines (org_id, item_id);

CREATE TABLE credit_notes (
    org_id text NOT NULL,
    creditnote_id text NOT NULL,
    creditnote_number text,
    customer_id text,
    customer_name text,
    status text,
    date date,
    reference_number text,
    currency_code text,
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
    PRIMARY KEY (org_id, creditnote_id)
);
CREATE INDEX credit_notes_customer_idx ON credit_notes (org_id, customer_id);
CREATE INDEX credit_notes_date_idx ON credit_notes (org_id, date);

CREATE TABLE credit_notes_tombstones (
    org_id text NOT NULL,
    creditnote_id text NOT NULL,
    version_modified_at timestamptz NOT NULL,
    version_offset bigint NOT NULL,
    event_id text NOT NULL,
    deleted_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, creditnote_id)
);

CREATE TABLE credit_note_lines (
    org_id text NOT NULL,
    creditnote_id text NOT NULL,
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
    PRIMARY KEY (org_id, creditnote_id, line_no)
);
CREATE INDEX credit_note_lines_item_idx ON credit_note_lines (org_id, item_id);

CREATE TABLE customer_payments (
    org_id text NOT NULL,
    payment_id text NOT NULL,
    payment_number text,
    customer_id text,
    customer_name text,
    status text,
    date date,
    reference_number text,
    currency_code text,
    payment_mode text,
    amount numeric(28, 6),
    unused_amount numeric(28, 6),
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
CREATE INDEX customer_payments_customer_idx ON customer_payments (org_id, customer_id);
CREATE INDEX customer_payments_date_idx ON customer_payments (org_id, date);

CREATE TABLE customer_payments_tombstones (
    org_id text NOT NULL,
    payment_id text NOT NULL,
    version_modified_at timestamptz NOT NULL,
    version_offset bigint NOT NULL,
    event_id text NOT NULL,
    deleted_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, payment_id)
);

CREATE TABLE customer_payment_applications (
    org_id text NOT NULL,
    payment_id text NOT NULL,
    line_no integer NOT NULL,
    document_id text,
    document_number text,
    amount_applied numeric(28, 6),
    PRIMARY KEY (org_id, payment_id, line_no)
);
CREATE INDEX customer_payment_applications_document_idx ON customer_payment_applications (org_id, document_id);
