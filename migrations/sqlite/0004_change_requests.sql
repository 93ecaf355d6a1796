-- Four-eyes approval: in a protected environment a publish or rollback opens a change request,
-- which another person with ops on the environment (or an admin) approves or rejects.
CREATE TABLE change_requests (
    id            BLOB PRIMARY KEY NOT NULL,
    environment   TEXT NOT NULL REFERENCES environments (name) ON DELETE CASCADE,
    machine_role  TEXT NOT NULL,
    document      TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    base_version  INTEGER NOT NULL CHECK (base_version >= 0),
    rollback_of   INTEGER,
    proposer      TEXT NOT NULL,
    message       TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('open', 'approved', 'rejected')),
    decided_by    TEXT,
    decided_at    TEXT,
    reason        TEXT,
    version       INTEGER
) STRICT;
CREATE INDEX change_requests_by_environment ON change_requests (environment, created_at);
