-- Machine roles, profile drafts and immutable profile versions. A profile belongs to an
-- environment and is either its baseline (machine_role = '') or a machine role's overlay.
-- Documents are JSON with secrets sealed (encrypted with a key outside the database).
CREATE TABLE machine_roles (
    name        TEXT PRIMARY KEY
                CHECK (name ~ '^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$' AND name NOT LIKE '%--%'
                       AND name <> 'baseline'),
    description TEXT NOT NULL DEFAULT '' CHECK (char_length(description) <= 1000),
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE profile_drafts (
    environment      TEXT NOT NULL REFERENCES environments (name) ON DELETE CASCADE,
    machine_role     TEXT NOT NULL,
    document         TEXT NOT NULL,
    revision         BIGINT NOT NULL CHECK (revision >= 1),
    based_on_version BIGINT NOT NULL CHECK (based_on_version >= 0),
    updated_by       TEXT NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (environment, machine_role)
);

CREATE TABLE profile_versions (
    environment   TEXT NOT NULL REFERENCES environments (name) ON DELETE RESTRICT,
    machine_role  TEXT NOT NULL,
    version       BIGINT NOT NULL CHECK (version >= 1),
    document      TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    author        TEXT NOT NULL,
    message       TEXT NOT NULL,
    rollback_of   BIGINT,
    published_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (environment, machine_role, version)
);

-- Versions are immutable: no statement may change or remove one.
CREATE FUNCTION refuse_profile_version_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'profile versions are immutable';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER profile_versions_are_immutable
    BEFORE UPDATE OR DELETE ON profile_versions
    FOR EACH ROW EXECUTE FUNCTION refuse_profile_version_change();
