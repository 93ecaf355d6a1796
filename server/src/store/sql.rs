//! Query text shared by both stores. SQLite accepts Postgres' `$N` placeholders, so one text
//! serves both; the stores differ only in how they bind and read values.

/// Readiness: the database answers and holds our schema (sqlx's migration ledger).
pub const PING: &str = "SELECT 1 FROM _sqlx_migrations LIMIT 1";

pub const INSERT_ENVIRONMENT: &str = "INSERT INTO environments \
     (name, description, protected, created_at) VALUES ($1, $2, $3, $4) \
     RETURNING name, description, protected, created_at";

pub const SELECT_ENVIRONMENT: &str =
    "SELECT name, description, protected, created_at FROM environments WHERE name = $1";

pub const LIST_ENVIRONMENTS: &str =
    "SELECT name, description, protected, created_at FROM environments ORDER BY name";

pub const UPDATE_ENVIRONMENT: &str = "UPDATE environments \
     SET description = COALESCE($2, description), protected = COALESCE($3, protected) \
     WHERE name = $1 RETURNING name, description, protected, created_at";
