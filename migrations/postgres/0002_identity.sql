-- Users, their grants, and the tokens that authenticate them. Secrets are stored only as
-- SHA-256 hashes (tokens) or argon2id hashes (passwords).
CREATE TABLE users (
    id            UUID PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE CHECK (username ~ '^[a-z][a-z0-9._-]{0,63}$'),
    password_hash TEXT NOT NULL,
    global_role   TEXT CHECK (global_role IN ('admin', 'auditor')),
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE grants (
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    environment TEXT NOT NULL REFERENCES environments (name) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('ops', 'developer')),
    granted_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, environment)
);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family     UUID NOT NULL,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at  TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_id);

-- Access tokens ended by logout before their expiry.
CREATE TABLE revoked_access_tokens (
    jti        UUID PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_tokens (
    id         UUID PRIMARY KEY,
    owner_id   UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX api_tokens_by_owner ON api_tokens (owner_id);
