-- Time-boxed overrides: a version published with an end time. At that time the version before
-- comes back by itself; any publish of the profile before then supersedes the override.
ALTER TABLE change_requests ADD COLUMN override_until TIMESTAMPTZ;

CREATE TABLE overrides (
    id               UUID PRIMARY KEY,
    environment      TEXT NOT NULL REFERENCES environments (name) ON DELETE RESTRICT,
    machine_role     TEXT NOT NULL,
    version          BIGINT NOT NULL CHECK (version >= 2),
    restore_version  BIGINT NOT NULL CHECK (restore_version >= 1 AND restore_version < version),
    ends_at          TIMESTAMPTZ NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('active', 'ended', 'superseded')),
    started_by       TEXT NOT NULL,
    started_at       TIMESTAMPTZ NOT NULL,
    ended_at         TIMESTAMPTZ,
    end_version      BIGINT
);

-- One override at a time stands over a profile.
CREATE UNIQUE INDEX overrides_one_active_per_profile ON overrides (environment, machine_role)
    WHERE state = 'active';
CREATE INDEX overrides_by_end ON overrides (state, ends_at);
