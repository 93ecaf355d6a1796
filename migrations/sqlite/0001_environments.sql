-- Environments: the named places (staging, production...) that profiles belong to.
-- Times are stored as RFC 3339 text in UTC so they sort as they read.
CREATE TABLE environments (
    name        TEXT PRIMARY KEY NOT NULL
                CHECK (length(name) BETWEEN 1 AND 63 AND name NOT GLOB '*[^a-z0-9-]*'
                       AND name GLOB '[a-z]*' AND name NOT LIKE '%-' AND name NOT LIKE '%--%'),
    description TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
    protected   INTEGER NOT NULL DEFAULT 0 CHECK (protected IN (0, 1)),
    created_at  TEXT NOT NULL
) STRICT;
