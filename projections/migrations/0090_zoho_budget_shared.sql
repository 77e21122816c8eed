-- The daily and concurrency limits of a Zoho organization, shared by every TDS process
-- (issue 16 §1), beside the per-minute queue of 0080.
--
-- A granted request is in flight until its process releases it or `lease_until` passes
-- (a killed process's call frees its place by itself).
ALTER TABLE zoho_budget ADD COLUMN lease_until timestamptz;

-- One row per organization: the calls granted on `day` (a UTC day), a suspension after
-- Zoho's 429/45, and the in-flight allowance lowered after a 429/1070 until `cap_until`.
CREATE TABLE zoho_budget_org (
    org_id text PRIMARY KEY,
    day date NOT NULL,
    used integer NOT NULL DEFAULT 0,
    suspended_until timestamptz,
    cap integer,
    cap_until timestamptz
);

-- Ask for one request of `p_org`, as 0080's did, and also within the day and in flight.
-- (0080's eight-argument overload stays, for processes of the previous release while a
-- deployment rolls.)
-- `p_daily` is what the asking class may spend today (null: no limit of ours); once spent,
-- or while a 45 suspends the org, the ticket is refused outright (`suspended`, `wait_s`
-- until the suspension ends or the UTC day turns). `p_concurrency` (null: none) is the
-- calls in flight allowed, lowered by a live 1070 cap; while they are all taken the answer
-- is `crowded` (no known moment: ask again on a release or after `p_poll_s`).
CREATE FUNCTION zoho_budget_take(p_org text, p_ticket bigint, p_priority smallint,
                                 p_owner text, p_per_minute integer, p_pace_s float8,
                                 p_window_s float8, p_stale_s float8, p_concurrency integer,
                                 p_daily integer, p_lease_s float8, p_poll_s float8)
RETURNS TABLE (ticket bigint, granted boolean, head boolean, wait_s float8,
               suspended boolean, day_used integer, crowded boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_today date := (clock_timestamp() AT TIME ZONE 'UTC')::date;
    v_ticket bigint := p_ticket;
    v_org zoho_budget_org%ROWTYPE;
    v_used integer;
    v_flying integer;
    v_cap integer := p_concurrency;
    v_last timestamptz;
    v_nth timestamptz;
    v_head bigint;
    v_at timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(
        hashtextextended('tds.zoho.budget:' || p_org || ':' || current_schema(), 0));
    DELETE FROM zoho_budget b WHERE b.org_id = p_org AND (
        (b.granted_at IS NOT NULL AND b.granted_at < v_now - make_interval(secs => p_window_s)
         AND (b.lease_until IS NULL OR b.lease_until < v_now))
        OR (b.granted_at IS NULL AND b.seen_at < v_now - make_interval(secs => p_stale_s)));
    INSERT INTO zoho_budget_org AS o (org_id, day) VALUES (p_org, v_today)
        ON CONFLICT (org_id) DO UPDATE SET day = v_today, used = 0 WHERE o.day <> v_today;
    SELECT * INTO v_org FROM zoho_budget_org o WHERE o.org_id = p_org;
    IF v_org.suspended_until > v_now OR v_org.used >= p_daily THEN
        DELETE FROM zoho_budget b WHERE b.ticket = p_ticket AND b.granted_at IS NULL;
        IF v_org.suspended_until > v_now THEN
            v_at := v_org.suspended_until;
        ELSE
            v_at := ((v_today + 1)::timestamp AT TIME ZONE 'UTC');
        END IF;
        RETURN QUERY SELECT NULL::bigint, false, false,
            greatest(0.0, extract(epoch FROM v_at - v_now))::float8, true, v_org.used, false;
        RETURN;
    END IF;
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
    SELECT count(*), max(b.granted_at),
           count(*) FILTER (WHERE b.lease_until > v_now)
        INTO v_used, v_last, v_flying
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
    IF v_org.cap_until > v_now THEN
        v_cap := least(v_cap, v_org.cap);
    END IF;
    IF v_flying >= v_cap THEN
        v_at := greatest(v_at, v_now + make_interval(secs => p_poll_s));  -- no known moment
    END IF;
    SELECT b.ticket INTO v_head FROM zoho_budget b
        WHERE b.org_id = p_org AND b.granted_at IS NULL
        ORDER BY b.priority, b.ticket LIMIT 1;
    IF v_head = v_ticket AND v_at <= v_now THEN
        UPDATE zoho_budget b SET granted_at = v_now,
            lease_until = v_now + make_interval(secs => p_lease_s) WHERE b.ticket = v_ticket;
        UPDATE zoho_budget_org o SET used = o.used + 1 WHERE o.org_id = p_org;
        RETURN QUERY SELECT v_ticket, true, true, 0.0::float8, false, v_org.used + 1, false;
    ELSE
        RETURN QUERY SELECT v_ticket, false, v_head = v_ticket,
            greatest(0.0, extract(epoch FROM v_at - v_now))::float8, false, v_org.used,
            coalesce(v_flying >= v_cap, false);
    END IF;
END
$$;

-- Zoho said 45: every process of the org holds off for `p_secs` (the longest ask wins).
CREATE FUNCTION zoho_budget_suspend(p_org text, p_secs float8) RETURNS timestamptz
LANGUAGE sql AS $$
    INSERT INTO zoho_budget_org AS o (org_id, day, suspended_until)
        VALUES (p_org, (clock_timestamp() AT TIME ZONE 'UTC')::date,
                clock_timestamp() + make_interval(secs => p_secs))
        ON CONFLICT (org_id) DO UPDATE SET suspended_until =
            greatest(o.suspended_until, excluded.suspended_until)
        RETURNING o.suspended_until;
$$;

-- Zoho said 1070: lower the org's in-flight allowance below what flies now (at least 1)
-- for `p_cool_s`; a further 1070 meanwhile lowers it again. Returns the allowance.
CREATE FUNCTION zoho_budget_crowded(p_org text, p_concurrency integer, p_cool_s float8)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_cap integer := p_concurrency;
    v_flying integer;
    v_org zoho_budget_org%ROWTYPE;
BEGIN
    PERFORM pg_advisory_xact_lock(
        hashtextextended('tds.zoho.budget:' || p_org || ':' || current_schema(), 0));
    SELECT * INTO v_org FROM zoho_budget_org o WHERE o.org_id = p_org;
    IF v_org.cap_until > v_now THEN
        v_cap := least(v_cap, v_org.cap);
    END IF;
    SELECT count(*) INTO v_flying FROM zoho_budget b
        WHERE b.org_id = p_org AND b.granted_at IS NOT NULL AND b.lease_until > v_now;
    v_cap := greatest(1, least(v_cap, v_flying) - 1);
    INSERT INTO zoho_budget_org AS o (org_id, day, cap, cap_until)
        VALUES (p_org, (v_now AT TIME ZONE 'UTC')::date, v_cap,
                v_now + make_interval(secs => p_cool_s))
        ON CONFLICT (org_id) DO UPDATE SET cap = excluded.cap, cap_until = excluded.cap_until;
    RETURN v_cap;
END
$$;
