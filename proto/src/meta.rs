//! Answers of the service's own endpoints: health and version.

use serde::{Deserialize, Serialize};

/// Answer of `GET /healthz` and `GET /readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok` when healthy.
    #[cfg_attr(feature = "openapi", schema(example = "ok"))]
    pub status: String,
}

/// Answer of `GET /api/v1/version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionInfo {
    /// Name of the server program.
    #[cfg_attr(feature = "openapi", schema(example = "switchyard-server"))]
    pub name: String,
    /// Its version, as built.
    #[cfg_attr(feature = "openapi", schema(example = "0.1.0"))]
    pub version: String,
}
