-- Machine roles, profile drafts and immutable profile versions. A profile belongs to an
-- environment and is either its baseline (machine_role = '') or a machine role's overlay.
-- Documents are JSON with secrets sealed (encrypted with a key outside the database).
CREATE TABLE machine_roles (
    name        TEXT PRIMARY KEY NOT NULL
                CHECK (length(name) BETWEEN 1 AND 63 AND name NOT GLOB '*[^a-z0-9-]*'
                       AND name GLOB '[a-z]*' AND name NOT LIKE '%-' AND name NOT LIKE '%--%'
                       AND name <> 'baseline'),
    description TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
    created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE profile_drafts (
    environment      TEXT NOT NULL REFERENCES environments (name) ON DELETE CASCADE,
    machine_role     TEXT NOT NULL,
    document         TEXT NOT NULL,
    revision         INTEGER NOT NULL CHECK (revision >= 1),
    based_on_version INTEGER NOT NULL CHECK (based_on_version >= 0),
    updated_by       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (environment, machine_role)
) STRICT;

CREATE TABLE profile_versions (
    environment   TEXT NOT NULL REFERENCES environments (name) ON DELETE RESTRICT,
    machine_role  TEXT NOT NULL,
    version       INTEGER NOT NULL CHECK (version >= 1),
    document      TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    author        TEXT NOT NULL,
    message       TEXT NOT NULL,
    rollback_of   INTEGER,
    published_at  TEXT NOT NULL,
    PRIMARY KEY (environment, machine_role, version)
) STRICT;

-- Versions are immutable: no statement may change or remove one.
CREATE TRIGGER profile_versions_are_immutable_update BEFORE UPDATE ON profile_versions
BEGIN SELECT RAISE(ABORT, 'profile versions are immutable'); END;
CREATE TRIGGER profile_versions_are_immutable_delete BEFORE DELETE ON profile_versions
BEGIN SELECT RAISE(ABORT, 'profile versions are immutable'); END;
