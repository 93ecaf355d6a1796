-- Environment variables that run code or change TLS checks, allowed by an admin for the
-- profiles of one environment. Names are kept in upper case: they compare without case.
CREATE TABLE variable_allowances (
    environment TEXT NOT NULL REFERENCES environments (name) ON DELETE RESTRICT,
    name        TEXT NOT NULL CHECK (name = upper(name) AND length(name) BETWEEN 1 AND 128),
    reason      TEXT NOT NULL,
    allowed_by  TEXT NOT NULL,
    allowed_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (environment, name)
);
