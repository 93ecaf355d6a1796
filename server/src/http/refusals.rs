//! The refusals any operation can give for what it was sent, written into the OpenAPI
//! description in one place rather than by each handler: a client generated from the
//! description, or a fuzzer checking every answer against it, then meets no status it was
//! not told of.
//!
//! - an operation that takes a JSON body answers 400 (`malformed_json`: not JSON, with where),
//!   413 (`payload_too_large`: over the configured limit) and 415 (`unsupported_media_type`:
//!   not declared as JSON) and 422 (`validation_failed`: JSON of another shape, a key named
//!   twice, a field out of its bounds), from [`super::json`];
//! - an operation with path or query parameters answers 400 (`invalid_parameter`) for one
//!   that does not parse ([`super::error::ApiError::InvalidParameter`]);
//! - every operation but the few that never reach the database ([`WITHOUT_DATABASE`])
//!   answers 503 (`database_unavailable`, with `Retry-After`) while the database does not
//!   answer ([`super::error::ApiError::DatabaseUnavailable`]).

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

use super::error::DATABASE_RETRY_AFTER_SECS;

/// The paths whose operations answer without the database (liveness, the build's version,
/// this description), so never 503: a probe of them tells a live process from a reachable
/// database. The restart test asks each while Postgres is down.
pub const WITHOUT_DATABASE: [&str; 3] = ["/healthz", "/api/v1/version", "/api/v1/openapi.json"];

/// Adds the refusals each operation of `api` can give and does not describe itself.
pub fn describe(api: &mut OpenApi) {
    for (path, item) in &mut api.paths.paths {
        let database = !WITHOUT_DATABASE.contains(&path.as_str());
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
        ];
        for operation in operations.into_iter().flatten() {
            describe_operation(operation);
            if database {
                add_unavailable(operation);
            }
        }
    }
}

fn describe_operation(operation: &mut Operation) {
    if operation.request_body.is_some() {
        add(operation, "400", "The body is not JSON (malformed_json), or a parameter is malformed (invalid_parameter)");
        add(
            operation,
            "413",
            "The body is larger than the server takes (payload_too_large)",
        );
        add(
            operation,
            "415",
            "The body is not declared as JSON (unsupported_media_type)",
        );
        add(
            operation,
            "422",
            "The body is JSON of another shape, names a key twice, or a field is invalid (validation_failed)",
        );
    }
    if operation.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
        add(
            operation,
            "400",
            "A parameter is malformed (invalid_parameter)",
        );
    }
}

/// Adds the answer `status` with an `ErrorBody`, unless the operation describes it already.
fn add(operation: &mut Operation, status: &str, description: &str) {
    insert(operation, status, refusal(description));
}

/// Adds (or completes, for `/readyz`, which describes its own) the 503 of a database that
/// does not answer, with its `Retry-After`.
fn add_unavailable(operation: &mut Operation) {
    let retry_after = HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0)),
        )
        .description(Some(format!(
            "Seconds to wait before trying again ({DATABASE_RETRY_AFTER_SECS})"
        )))
        .build();
    let described = operation.responses.responses.get_mut("503");
    if let Some(RefOr::T(response)) = described {
        response.headers.insert("Retry-After".into(), retry_after);
        return;
    }
    let response = ResponseBuilder::from(refusal(
        "The database does not answer; try again after Retry-After (database_unavailable)",
    ))
    .header("Retry-After", retry_after)
    .build();
    insert(operation, "503", response);
}

/// An answer with an `ErrorBody`.
fn refusal(description: &str) -> utoipa::openapi::Response {
    let body = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    ResponseBuilder::new()
        .description(description)
        .content("application/json", body)
        .build()
}

/// Adds `response` as the answer `status`, unless the operation describes it already.
fn insert(operation: &mut Operation, status: &str, response: utoipa::openapi::Response) {
    let responses = &mut operation.responses.responses;
    if !responses.contains_key(status) {
        responses.insert(status.to_owned(), RefOr::T(response));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_operation_with_a_body_or_parameters_describes_its_refusals() {
        let api = super::super::api_description();
        let mut checked = 0;
        for (path, item) in &api.paths.paths {
            let operations = [&item.get, &item.put, &item.post, &item.delete, &item.patch];
            for operation in operations.into_iter().flatten() {
                let has = |status: &str| operation.responses.responses.contains_key(status);
                if operation.request_body.is_some() {
                    assert!(
                        has("400") && has("413") && has("415") && has("422"),
                        "{path}"
                    );
                    checked += 1;
                }
                if operation.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    assert!(has("400"), "{path}");
                }
                let unavailable = match operation.responses.responses.get("503") {
                    Some(utoipa::openapi::RefOr::T(response)) => {
                        response.headers.contains_key("Retry-After")
                    }
                    _ => false,
                };
                assert_eq!(
                    unavailable,
                    !super::WITHOUT_DATABASE.contains(&path.as_str()),
                    "503 with Retry-After on {path}"
                );
            }
        }
        assert!(checked > 20, "{checked} operations with a body");
    }
}
