-- One Zoho request budget per organization, shared by every TDS process and served by
-- priority: a waiting request is a row without `granted_at`; a granted one keeps its row
-- for the rate window, so the window and the pace are counted across processes.
CREATE TABLE zoho_budget (
    ticket bigserial PRIMARY KEY,
    org_id text NOT NULL,
    priority smallint NOT NULL,
    owner text NOT NULL,
    seen_at timestamptz NOT NULL,
    granted_at timestamptz
);
CREATE INDEX zoho_budget_waiting_idx ON zoho_budget (org_id, priority, ticket)
    WHERE granted_at IS NULL;
CREATE INDEX zoho_budget_granted_idx ON zoho_budget (org_id, granted_at)
    WHERE granted_at IS NOT NULL;

-- Ask for one request of `p_org` (enqueueing `p_ticket` when it is null or expired).
-- Granted only to the head of the queue (lowest priority number, then oldest ticket) once
-- the pace and the window allow; otherwise `wait_s` says when the next request may go
-- (`head`: this ticket is next in line).
CREATE FUNCTION zoho_budget_take(p_org text, p_ticket bigint, p_priority smallint,
                                 p_owner text, p_per_minute integer, p_pace_s float8,
                                 p_window_s float8, p_stale_s float8)
RETURNS TABLE (ticket bigint, granted boolean, head boolean, wait_s float8)
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_ticket bigint := p_ticket;
    v_used integer;
    v_last timestamptz;
    v_nth timestamptz;
    v_head bigint;
    v_at timestamptz;
BEGIN
    -- Per schema too: test schemas side by side must not share a budget.
    PERFORM pg_advisory_xact_lock(
        hashtextextended('tds.zoho.budget:' || p_org || ':' || current_schema(), 0));
    DELETE FROM zoho_budget b WHERE b.org_id = p_org AND (
        (b.granted_at IS NOT NULL AND b.granted_at < v_now - make_interval(secs => p_window_s))
        OR (b.granted_at IS NULL AND b.seen_at < v_now - make_interval(secs => p_stale_s)));
    IF v_ticket IS NOT NULL THEN
        UPDATE zoho_budget b SET seen_at = v_now
            WHERE b.ticket = v_ticket AND b.granted_at IS NULL;
        IF NOT FOUND THEN
            v_ticket := NULL;  -- expired while its process was away: queue again
        END IF;
    END IF;
    IF v_ticket IS NULL THEN
        INSERT INTO zoho_budget AS b (org_id, priority, owner, seen_at)
            VALUES (p_org, p_priority, p_owner, v_now) RETURNING b.ticket INTO v_ticket;
    END IF;
    SELECT count(*), max(b.granted_at) INTO v_used, v_last
        FROM zoho_budget b WHERE b.org_id = p_org AND b.granted_at IS NOT NULL;
    v_at := v_now;
    IF v_last IS NOT NULL THEN
        v_at := greatest(v_at, v_last + make_interval(secs => p_pace_s));
    END IF;
    IF v_used >= p_per_minute THEN
        SELECT b.granted_at INTO v_nth FROM zoho_budget b
            WHERE b.org_id = p_org AND b.granted_at IS NOT NULL
            ORDER BY b.granted_at DESC OFFSET p_per_minute - 1 LIMIT 1;
        v_at := greatest(v_at, v_nth + make_interval(secs => p_window_s));
    END IF;
    SELECT b.ticket INTO v_head FROM zoho_budget b
        WHERE b.org_id = p_org AND b.granted_at IS NULL
        ORDER BY b.priority, b.ticket LIMIT 1;
    IF v_head = v_ticket AND v_at <= v_now THEN
        UPDATE zoho_budget b SET granted_at = v_now WHERE b.ticket = v_ticket;
        RETURN QUERY SELECT v_ticket, true, true, 0.0::float8;
    ELSE
        RETURN QUERY SELECT v_ticket, false, v_head = v_ticket,
            greatest(0.0, extract(epoch FROM v_at - v_now))::float8;
    END IF;
END
$$;

-- A requested run that joined a running one which reads as much ends `joined`; its
-- configuration names that run (issue 16 §2).
ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_status_check,
    ADD CONSTRAINT sync_runs_status_check
        CHECK (status IN ('started', 'completed', 'failed', 'joined'));
ALTER TABLE poll_runs DROP CONSTRAINT poll_runs_status_check,
    ADD CONSTRAINT poll_runs_status_check
        CHECK (status IN ('started', 'completed', 'failed', 'joined'));

-- Progress while a run goes (issue 16 §3): per entity type, the records read and
-- published, the pages and Zoho's total when it gives one (tds.sync.runs v2 `entities`).
ALTER TABLE sync_runs ADD COLUMN entities jsonb NOT NULL DEFAULT '[]';
