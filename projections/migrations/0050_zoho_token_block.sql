-- The Zoho client: when the accounts server throttles token requests ("Access Denied"), every
-- TDS process must stop asking until the block ends, or each one's attempt prolongs it.
ALTER TABLE zoho_tokens ADD COLUMN blocked_until timestamptz;
