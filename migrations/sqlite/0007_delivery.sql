-- Signed delivery: the server's signing keys, enrollment tokens, enrolled devices and the
-- nonces of their signed requests.

-- One row per key-set version. The private key is sealed with the profile key (outside the
-- database), so server processes sharing the database share it and a database dump alone
-- cannot sign. `key_set` is the signed key set of this version, as agents receive it.
CREATE TABLE signing_keys (
    version             INTEGER PRIMARY KEY CHECK (version >= 1),
    key_id              TEXT NOT NULL UNIQUE,
    public_key          TEXT NOT NULL,
    sealed_private_key  TEXT NOT NULL,
    key_set             TEXT NOT NULL,
    created_at          TEXT NOT NULL
) STRICT;

CREATE TABLE enrollment_tokens (
    id            BLOB PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    environment   TEXT NOT NULL REFERENCES environments (name) ON DELETE CASCADE,
    machine_role  TEXT NOT NULL REFERENCES machine_roles (name) ON DELETE CASCADE,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    max_uses      INTEGER NOT NULL CHECK (max_uses >= 1),
    uses          INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
    revoked_at    TEXT
) STRICT;

CREATE TABLE devices (
    id                 BLOB PRIMARY KEY,
    public_key         TEXT NOT NULL UNIQUE,
    hostname           TEXT NOT NULL,
    os                 TEXT NOT NULL,
    username           TEXT NOT NULL,
    environment        TEXT NOT NULL REFERENCES environments (name) ON DELETE RESTRICT,
    machine_role       TEXT NOT NULL REFERENCES machine_roles (name) ON DELETE RESTRICT,
    enrollment_token   BLOB NOT NULL,
    enrolled_at        TEXT NOT NULL,
    last_seen_at       TEXT,
    revoked_at         TEXT,
    -- The last status report, as sent (JSON), and what it says was applied.
    report             TEXT,
    reported_at        TEXT,
    applied_sequence   INTEGER,
    applied_baseline   INTEGER,
    applied_overlay    INTEGER,
    healthy            INTEGER
) STRICT;

CREATE INDEX devices_by_environment ON devices (environment, machine_role);

-- Nonces of signed device requests, kept while their timestamps are fresh: a request seen
-- once is refused the second time.
CREATE TABLE device_nonces (
    device_id   BLOB NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    nonce       TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    PRIMARY KEY (device_id, nonce)
) STRICT;

CREATE INDEX device_nonces_by_expiry ON device_nonces (expires_at);
