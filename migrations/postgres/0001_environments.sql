-- Environments: the named places (staging, production...) that profiles belong to.
CREATE TABLE environments (
    name        TEXT PRIMARY KEY
                CHECK (name ~ '^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$' AND name NOT LIKE '%--%'),
    description TEXT NOT NULL DEFAULT '' CHECK (char_length(description) <= 1000),
    protected   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL
);
