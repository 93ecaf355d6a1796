//! The one error body every API error is sent as.

use serde::{Deserialize, Serialize};

/// The JSON body of every error answer: `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The detail of an error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// A stable, machine-readable code such as `environment_not_found`; clients match on it.
    #[cfg_attr(feature = "openapi", schema(example = "environment_not_found"))]
    pub code: String,
    /// A human-readable explanation that says what to do next. Its wording may change.
    pub message: String,
    /// The request id the server logged this error under (also in the `x-request-id` header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// For validation errors: each problem with the JSON path of the field it concerns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<FieldProblem>,
}

/// One problem with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldProblem {
    /// JSON path of the field, such as `name` or `go.proxy[1]`; `.` for the whole document.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}
