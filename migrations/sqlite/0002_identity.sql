-- Users, their grants, and the tokens that authenticate them. Secrets are stored only as
-- SHA-256 hashes (tokens) or argon2id hashes (passwords). Ids are 16-byte UUID blobs; times are
-- fixed-width RFC 3339 text in UTC.
CREATE TABLE users (
    id            BLOB PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL UNIQUE
                  CHECK (length(username) BETWEEN 1 AND 64 AND username GLOB '[a-z]*'
                         AND username NOT GLOB '*[^a-z0-9._-]*'),
    password_hash TEXT NOT NULL,
    global_role   TEXT CHECK (global_role IN ('admin', 'auditor')),
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    TEXT NOT NULL
) STRICT;

CREATE TABLE grants (
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    environment TEXT NOT NULL REFERENCES environments (name) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('ops', 'developer')),
    granted_at  TEXT NOT NULL,
    PRIMARY KEY (user_id, environment)
) STRICT;

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    family     BLOB NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    revoked_at TEXT
) STRICT;
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_id);

-- Access tokens ended by logout before their expiry.
CREATE TABLE revoked_access_tokens (
    jti        BLOB PRIMARY KEY NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;

CREATE TABLE api_tokens (
    id         BLOB PRIMARY KEY NOT NULL,
    owner_id   BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
) STRICT;
CREATE INDEX api_tokens_by_owner ON api_tokens (owner_id);
