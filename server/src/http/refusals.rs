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
//!   that does not parse ([`super::error::ApiError::InvalidParameter`]).

use utoipa::openapi::path::Operation;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

/// Adds the refusals each operation of `api` can give and does not describe itself.
pub fn describe(api: &mut OpenApi) {
    for item in api.paths.paths.values_mut() {
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
    let responses = &mut operation.responses.responses;
    if responses.contains_key(status) {
        return;
    }
    let body = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    let response = ResponseBuilder::new()
        .description(description)
        .content("application/json", body)
        .build();
    responses.insert(status.to_owned(), RefOr::T(response));
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
            }
        }
        assert!(checked > 20, "{checked} operations with a body");
    }
}
