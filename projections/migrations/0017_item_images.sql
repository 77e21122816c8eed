-- The image cache: which image of each item is stored where (TDS_IMAGE_DIR/ab/<sha256>.ext),
-- written by the image consumer (`tds images`). `products` is the item with its cached
-- image path and hash; it is a view so that rebuilding `items` from the log keeps them.

CREATE TABLE item_images (
    org_id text NOT NULL,
    item_id text NOT NULL,
    image_id text,
    image_name text,
    image_type text,
    sha256 text,
    path text,
    content_type text,
    size_bytes bigint,
    fetched_at timestamptz NOT NULL DEFAULT now(),
    version_modified_at timestamptz NOT NULL,
    version_offset bigint NOT NULL,
    event_id text NOT NULL,
    PRIMARY KEY (org_id, item_id)
);
CREATE INDEX item_images_sha256_idx ON item_images (sha256);

CREATE VIEW products AS
SELECT i.*, g.path AS image_path, g.sha256 AS image_sha256,
       g.content_type AS image_content_type, g.fetched_at AS image_fetched_at
FROM items i
LEFT JOIN item_images g
       ON g.org_id = i.org_id AND g.item_id = i.item_id AND g.image_id IS NOT DISTINCT FROM i.image_id;
