-- Time-boxed overrides: a version published with an end time. At that time the version before
-- comes back by itself; any publish of the profile before then supersedes the override.
ALTER TABLE change_requests ADD COLUMN override_until TEXT;

CREATE TABLE overrides (
    id               BLOB PRIMARY KEY NOT NULL,
    environment      TEXT NOT NULL REFERENCES environments (name) ON DELETE RESTRICT,
    machine_role     TEXT NOT NULL,
    version          INTEGER NOT NULL CHECK (version >= 2),
    restore_version  INTEGER NOT NULL CHECK (restore_version >= 1 AND restore_version < version),
    ends_at          TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('active', 'ended', 'superseded')),
    started_by       TEXT NOT NULL,
    started_at       TEXT NOT NULL,
    ended_at         TEXT,
    end_version      INTEGER
) STRICT;

-- One override at a time stands over a profile.
CREATE UNIQUE INDEX overrides_one_active_per_profile ON overrides (environment, machine_role)
    WHERE state = 'active';
CREATE INDEX overrides_by_end ON overrides (state, ends_at);
