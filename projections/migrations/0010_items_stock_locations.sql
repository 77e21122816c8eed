-- Read models of the catalogue: items, their stock (totals and per location), locations.
-- Every entity table keeps the Zoho id, the version it came from (version_modified_at,
-- version_offset, event_id: the projector's order) and the raw Zoho record. A delete
-- removes the row and leaves its version in <table>_tombstones, so a late, older upsert
-- cannot bring the row back. No column holds a wall-clock time of the projection, so a
-- table rebuilt from the log (`tds replay`) is identical, row for row.

CREATE TABLE items (
    org_id text NOT NULL,
    item_id text NOT NULL,
    name text,
    sku text,
    status text,
    item_type text,
    product_type text,
    unit text,
    description text,
    rate numeric(28, 6),
    purchase_rate numeric(28, 6),
    stock_on_hand numeric(28, 6),
    available_stock numeric(28, 6),
    actual_available_stock numeric(28, 6),
    reorder_level numeric(28, 6),
    image_id text,
    image_name text,
    image_type text,
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
    PRIMARY KEY (org_id, item_id)
);
CREATE INDEX items_sku_idx ON items (org_id, sku);
CREATE INDEX items_name_idx ON items (org_id, name);

CREATE TABLE items_tombstones (
    org_id text NOT NULL,
    item_id text NOT NULL,
    version_modified_at timestamptz NOT NULL,
    version_offset bigint NOT NULL,
    event_id text NOT NULL,
    deleted_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, item_id)
);

-- Stock of one item: the newest snapshot from a stock sync (entity `stock`) or from an
-- item record that carried per-location stock; its levels replace the item's old ones.
CREATE TABLE item_stock (
    org_id text NOT NULL,
    item_id text NOT NULL,
    sku text,
    stock_on_hand numeric(28, 6),
    available_stock numeric(28, 6),
    actual_available_stock numeric(28, 6),
    from_entity text NOT NULL CHECK (from_entity IN ('item', 'stock')),
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
    PRIMARY KEY (org_id, item_id)
);
CREATE INDEX item_stock_sku_idx ON item_stock (org_id, sku);

CREATE TABLE item_stock_tombstones (
    org_id text NOT NULL,
    item_id text NOT NULL,
    version_modified_at timestamptz NOT NULL,
    version_offset bigint NOT NULL,
    event_id text NOT NULL,
    deleted_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, item_id)
);

-- One row per item and location; each keeps the version of the snapshot it came from.
CREATE TABLE stock_levels (
    org_id text NOT NULL,
    item_id text NOT NULL,
    location_id text NOT NULL,
    location_name text,
    location_kind text,
    stock_on_hand numeric(28, 6),
    available_stock numeric(28, 6),
    actual_available_stock numeric(28, 6),
    committed_stock numeric(28, 6),
    version_modified_at timestamptz NOT NULL,
    version_offset bigint NOT NULL,
    PRIMARY KEY (org_id, item_id, location_id)
);
CREATE INDEX stock_levels_location_idx ON stock_levels (org_id, location_id);

CREATE TABLE locations (
    org_id text NOT NULL,
    location_id text NOT NULL,
    location_name text,
    kind text,
    location_type text,
    parent_location_id text,
    is_primary boolean,
    status text,
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
    PRIMARY KEY (org_id, location_id)
);

CREATE TABLE locations_tombstones (
    org_id text NOT NULL,
    location_id text NOT NULL,
    version_modified_at timestamptz NOT NULL,
    version_offset bigint NOT NULL,
    event_id text NOT NULL,
    deleted_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, location_id)
);
