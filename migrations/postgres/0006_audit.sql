-- The audit trail: one row per action, appended in the same transaction as the change it
-- records. Each row holds the hash of the row before it (by seq) and of its own canonical
-- content, so an edited, removed or reordered row breaks the chain (`audit verify`).
CREATE TABLE audit_events (
    seq           BIGINT PRIMARY KEY CHECK (seq >= 1),
    id            UUID NOT NULL UNIQUE,
    at            TIMESTAMPTZ NOT NULL,
    actor_kind    TEXT NOT NULL,
    actor         TEXT NOT NULL,
    source        TEXT,
    user_agent    TEXT,
    request_id    TEXT,
    action        TEXT NOT NULL,
    environment   TEXT,
    machine_role  TEXT,
    target        TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    changes       TEXT NOT NULL,
    -- The changed settings' paths, one per line between newlines, for the setting filter.
    paths         TEXT NOT NULL,
    detail        TEXT NOT NULL,
    previous_hash TEXT NOT NULL,
    hash          TEXT NOT NULL
);

CREATE INDEX audit_events_by_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_by_action ON audit_events (action, seq);
CREATE INDEX audit_events_by_environment ON audit_events (environment, seq);
CREATE INDEX audit_events_by_time ON audit_events (at);

-- Append-only: no statement may change or remove an event.
CREATE FUNCTION refuse_audit_event_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_events_are_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_event_change();

CREATE TRIGGER audit_events_are_not_truncated
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_event_change();
