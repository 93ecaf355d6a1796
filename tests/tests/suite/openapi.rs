//! The checked-in OpenAPI file is exactly what the code describes.

use switchyard_tests::repository_root;

#[test]
fn checked_in_description_matches_the_code() {
    let generated = switchyard_server::http::api_description()
        .to_pretty_json()
        .unwrap();
    let path = repository_root().join("openapi/openapi.json");
    let checked_in = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    assert!(
        checked_in.trim_end() == generated.trim_end(),
        "openapi/openapi.json is out of date with the code. Regenerate it with:\n  \
         cargo run -q -p switchyard-server -- openapi > openapi/openapi.json"
    );
}
