-- Signed delivery: the server's signing keys, enrollment tokens, enrolled devices and the
-- nonces of their signed requests.

-- One row per key-set version. The private key is sealed with the profile key (outside the
-- database), so server processes sharing the database share it and a database dump alone
-- cannot sign. `key_set` is the signed key set of this version, as agents receive it.
CREATE TABLE signing_keys (
    version             BIGINT PRIMARY KEY CHECK (version >= 1),
    key_id              TEXT NOT NULL UNIQUE,
    public_key          TEXT NOT NULL,
    sealed_private_key  TEXT NOT NULL,
    key_set             TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL
);

CREATE TABLE enrollment_tokens (
    id            UUID PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    environment   TEXT NOT NULL REFERENCES environments (name) ON DELETE CASCADE,
    machine_role  TEXT NOT NULL REFERENCES machine_roles (name) ON DELETE CASCADE,
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    max_uses      BIGINT NOT NULL CHECK (max_uses >= 1),
    uses          BIGINT NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
    revoked_at    TIMESTAMPTZ
);

CREATE TABLE devices (
    id                 UUID PRIMARY KEY,
    public_key         TEXT NOT NULL UNIQUE,
    hostname           TEXT NOT NULL,
    os                 TEXT NOT NULL,
    username           TEXT NOT NULL,
    environment        TEXT NOT NULL REFERENCES environments (name) ON DELETE RESTRICT,
    machine_role       TEXT NOT NULL REFERENCES machine_roles (name) ON DELETE RESTRICT,
    enrollment_token   UUID NOT NULL,
    enrolled_at        TIMESTAMPTZ NOT NULL,
    last_seen_at       TIMESTAMPTZ,
    revoked_at         TIMESTAMPTZ,
    -- The last status report, as sent (JSON), and what it says was applied.
    report             TEXT,
    reported_at        TIMESTAMPTZ,
    applied_sequence   BIGINT,
    applied_baseline   BIGINT,
    applied_overlay    BIGINT,
    healthy            BOOLEAN
);

CREATE INDEX devices_by_environment ON devices (environment, machine_role);

-- Nonces of signed device requests, kept while their timestamps are fresh: a request seen
-- once is refused the second time.
CREATE TABLE device_nonces (
    device_id   UUID NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    nonce       TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (device_id, nonce)
);

CREATE INDEX device_nonces_by_expiry ON device_nonces (expires_at);
