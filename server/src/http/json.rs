//! `ApiJson<T>`: the JSON body extractor every handler uses. Unlike actix's own, it says where
//! a body is wrong (line and column for broken JSON, the field's path for a wrong value) and
//! refuses bodies over the configured limit before reading them whole.
//!
//! Past 500 lines only by its tests, which list the malformed bodies one by one.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;
use switchyard_proto::FieldProblem;

use super::error::ApiError;

mod strict;
mod unique_keys;

/// The largest body accepted, set once from the configuration as app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_body(request, payload);
        Box::pin(async move { parse(&body.await?).map(ApiJson) })
    }
}

/// Reads a JSON request's body whole: refused unless declared as JSON, and beyond the
/// configured limit before more than the limit is read.
pub fn read_body(
    request: &HttpRequest,
    payload: &mut Payload,
) -> impl Future<Output = Result<BytesMut, ApiError>> {
    let limit = request
        .app_data::<BodyLimit>()
        .map_or(BodyLimit(256 * 1024), |limit| *limit)
        .0;
    let declared_json = is_json(request);
    let declared_length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    let mut payload = payload.take();
    async move {
        if !declared_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        if declared_length.is_some_and(|length| length > limit) {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| ApiError::BodyUnreadable(e.to_string()))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn is_json(request: &HttpRequest) -> bool {
    let Some(Ok(content_type)) = request
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A body whose values have rules beyond their shape (a profile's URLs, say). Read through
/// [`CheckedJson`], its shape problems and its value problems come back in one answer.
pub trait CheckedBody {
    /// Every problem with the values, each with its JSON path; empty when all is well.
    fn problems(&self) -> Vec<FieldProblem>;
}

/// A JSON request body of type `T`, its values checked too.
#[derive(Debug)]
pub struct CheckedJson<T>(pub T);

impl<T: DeserializeOwned + CheckedBody + 'static> FromRequest for CheckedJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = ApiJson::<Value>::from_request(request, payload);
        Box::pin(async move {
            let ApiJson(value) = body.await?;
            checked(value).map(CheckedJson)
        })
    }
}

/// `value` read as a `T` and its values checked, as [`CheckedJson`] reads a body: every shape
/// and value problem in one [`ApiError::Invalid`]. For what the console builds from a form.
pub fn checked<T: DeserializeOwned + CheckedBody>(value: Value) -> Result<T, ApiError> {
    let (parsed, mut problems) = read_shape::<T>(value);
    if let Some(parsed) = &parsed {
        problems.extend(parsed.problems());
    }
    match (parsed, problems.is_empty()) {
        (Some(parsed), true) => Ok(parsed),
        _ => Err(ApiError::Invalid(problems)),
    }
}

/// Parses `body` as a `T`: broken JSON is a 400 with its line and column; an object naming a
/// key twice (readers differ on which counts, [`unique_keys`]) or a body of the wrong shape is
/// a 422 listing every wrong field by its path.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value = unique_keys::parse(body).map_err(|error| match error {
        unique_keys::NotUnique::Malformed(message) => ApiError::MalformedJson(message),
        unique_keys::NotUnique::Repeated(path) => ApiError::Invalid(vec![FieldProblem {
            path,
            message: "named twice in one object: readers differ on which counts, so name it once"
                .into(),
        }]),
    })?;
    match read_shape(value) {
        (Some(parsed), problems) if problems.is_empty() => Ok(parsed),
        (_, problems) => Err(ApiError::Invalid(problems)),
    }
}

/// Most shape problems listed for one body; past this the body is not worth reading on.
const MOST_SHAPE_PROBLEMS: usize = 100;

/// Reads `value` as a `T`, finding every shape problem rather than the first: serde stops at
/// the first, so each one is noted and its part of the value cut away, and reading starts
/// again. The `T` is what remains once nothing more is wrong (none if the whole is wrong).
/// An object missing a required field once its wrong value is cut goes whole, so problems
/// deeper in that one object are found on the next try.
fn read_shape<T: DeserializeOwned>(mut value: Value) -> (Option<T>, Vec<FieldProblem>) {
    let mut cuts = Cuts::default();
    let mut problems = Vec::new();
    while problems.len() < MOST_SHAPE_PROBLEMS {
        let error = match serde_path_to_error::deserialize::<_, T>(strict::Strict(&value)) {
            Ok(parsed) => return (Some(parsed), problems),
            Err(error) => error,
        };
        let message = without_position(error.inner());
        let Some(at) = keys(error.path()) else {
            // Only untagged or flattened types lose the path; nothing here uses them.
            problems.push(FieldProblem {
                path: error.path().to_string(),
                message,
            });
            break;
        };
        let (cut, problem) = diagnose(at, &message);
        let problem_path = cuts.original(&problem.0);
        // A part cut away for an earlier problem can make its parent incomplete: that is the
        // same mistake, already reported.
        if !cuts
            .reported
            .iter()
            .any(|seen| seen.starts_with(&problem_path))
        {
            problems.push(FieldProblem {
                path: display(&problem_path),
                message: problem.1,
            });
            cuts.reported.push(problem_path);
        }
        if !cuts.cut(&mut value, &cut) {
            break;
        }
    }
    (None, problems)
}

/// One step into a JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Field(String),
    Index(usize),
}

fn keys(path: &serde_path_to_error::Path) -> Option<Vec<Key>> {
    use serde_path_to_error::Segment;
    path.iter()
        .map(|segment| match segment {
            Segment::Map { key } => Some(Key::Field(key.clone())),
            Segment::Seq { index } => Some(Key::Index(*index)),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect()
}

/// `go.proxy[0].source`, as serde_path_to_error writes paths; `.` for the whole body.
fn display(path: &[Key]) -> String {
    let mut text = String::new();
    for key in path {
        match key {
            Key::Field(name) if text.is_empty() => text.push_str(name),
            Key::Field(name) => {
                text.push('.');
                text.push_str(name);
            }
            Key::Index(index) => text.push_str(&format!("[{index}]")),
        }
    }
    if text.is_empty() {
        text.push('.');
    }
    text
}

/// What to cut away for a serde error at `at`, and the problem to report (path and message).
/// serde's messages for unknown and missing fields name the field but point at its parent.
fn diagnose(at: Vec<Key>, message: &str) -> (Vec<Key>, (Vec<Key>, String)) {
    let quoted = |prefix: &str| {
        let rest = message.strip_prefix(prefix)?;
        let (name, rest) = rest.split_once('`')?;
        Some((name.to_owned(), rest.to_owned()))
    };
    let with_field = |name: String| {
        let mut field = at.clone();
        if field.last() != Some(&Key::Field(name.clone())) {
            field.push(Key::Field(name));
        }
        field
    };
    if let Some((name, rest)) = quoted("unknown field `") {
        let field = with_field(name);
        return (
            field.clone(),
            (field, format!("is not a known field{rest}")),
        );
    }
    if let Some((name, _)) = quoted("missing field `") {
        let field = with_field(name);
        return (at, (field, "is required".to_owned()));
    }
    (at.clone(), (at, message.to_owned()))
}

/// The parts cut from a body so far, so that later problems are reported at their place in
/// the body as sent, not in what is left of it.
#[derive(Default)]
struct Cuts {
    /// List items cut: the list's path as sent, and the item's index in it.
    items: Vec<(Vec<Key>, usize)>,
    /// Paths, as sent, of the problems reported.
    reported: Vec<Vec<Key>>,
}

impl Cuts {
    /// `path` in what is left, as a path in the body as sent.
    fn original(&self, path: &[Key]) -> Vec<Key> {
        let mut original = Vec::with_capacity(path.len());
        for key in path {
            let key = match key {
                Key::Index(index) => {
                    let mut cut_before: Vec<usize> = self
                        .items
                        .iter()
                        .filter(|(list, _)| *list == original)
                        .map(|(_, cut)| *cut)
                        .collect();
                    cut_before.sort_unstable();
                    let mut index = *index;
                    for cut in cut_before {
                        if cut <= index {
                            index += 1;
                        }
                    }
                    Key::Index(index)
                }
                field => field.clone(),
            };
            original.push(key);
        }
        original
    }

    /// Removes the part at `path` (in what is left) from `value`; false if there is none, or
    /// if it is the whole body.
    fn cut(&mut self, value: &mut Value, path: &[Key]) -> bool {
        let Some((last, parent_path)) = path.split_last() else {
            return false;
        };
        let mut parent = &mut *value;
        for key in parent_path {
            let child = match (key, parent) {
                (Key::Field(name), Value::Object(fields)) => fields.get_mut(name),
                (Key::Index(index), Value::Array(items)) => items.get_mut(*index),
                _ => None,
            };
            match child {
                Some(child) => parent = child,
                None => return false,
            }
        }
        match (last, parent) {
            (Key::Field(name), Value::Object(fields)) => fields.remove(name).is_some(),
            (Key::Index(index), Value::Array(items)) if *index < items.len() => {
                let original = self.original(path);
                if let Some((Key::Index(cut), list)) = original.split_last() {
                    self.items.push((list.to_vec(), *cut));
                }
                items.remove(*index);
                true
            }
            _ => false,
        }
    }
}

/// serde_json ends messages with " at line L column C"; for a value error the path says where.
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(position) => text[..position].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::{test, web, App, HttpResponse};
    use serde::Deserialize;
    use switchyard_proto::{EnvironmentName, ErrorBody};

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read only through Debug: the test checks what parses
    struct Probe {
        name: EnvironmentName,
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        count: u32,
    }

    /// Posts `body` to a probe route; `Err` holds the status and body of a refusal.
    async fn call(content_type: Option<&str>, body: &str) -> Result<(), (StatusCode, ErrorBody)> {
        let app = test::init_service(App::new().app_data(BodyLimit(64)).route(
            "/probe",
            web::post().to(|_: ApiJson<Probe>| async { HttpResponse::NoContent().finish() }),
        ))
        .await;
        let mut request = test::TestRequest::post()
            .uri("/probe")
            .set_payload(body.to_owned());
        if let Some(content_type) = content_type {
            request = request.insert_header(("content-type", content_type));
        }
        let response = test::call_service(&app, request.to_request()).await;
        let status = response.status();
        match status {
            StatusCode::NO_CONTENT => Ok(()),
            _ => Err((status, test::read_body_json(response).await)),
        }
    }

    const JSON: Option<&str> = Some("application/json");

    #[actix_web::test]
    async fn valid_body_is_accepted() {
        assert!(call(JSON, r#"{"name":"dev","items":[{"count":1}]}"#)
            .await
            .is_ok());
        assert!(call(
            Some("application/merge-patch+json; charset=utf-8"),
            r#"{"name":"dev","items":[]}"#,
        )
        .await
        .is_ok());
    }

    #[actix_web::test]
    async fn broken_json_is_a_400_saying_where() {
        let (status, body) = call(JSON, "{\"name\":\"dev\",\n \"items\": [}")
            .await
            .unwrap_err();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body.error.code, "malformed_json");
        assert!(
            body.error.message.contains("line 2 column"),
            "{}",
            body.error.message
        );

        let (status, body) = call(JSON, r#"{"name":"dev","items":[]} trailing"#)
            .await
            .unwrap_err();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body.error.message.contains("trailing"),
            "{}",
            body.error.message
        );

        let (status, _) = call(JSON, "").await.unwrap_err();
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[actix_web::test]
    async fn wrong_value_is_a_422_naming_the_field() {
        let (status, body) = call(JSON, r#"{"name":"dev","items":[{"count":1},{"count":-1}]}"#)
            .await
            .unwrap_err();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body.error.code, "validation_failed");
        assert_eq!(body.error.problems[0].path, "items[1].count");

        let (_, body) = call(JSON, r#"{"name":"Dev","items":[]}"#)
            .await
            .unwrap_err();
        assert_eq!(body.error.problems[0].path, "name");
        assert!(body.error.problems[0].message.contains("lowercase"));

        let (_, body) = call(JSON, r#"{"name":"dev","items":[],"extra":1}"#)
            .await
            .unwrap_err();
        assert_eq!(body.error.problems[0].path, "extra");
        assert!(
            body.error.problems[0].message.contains("not a known field"),
            "{:?}",
            body.error.problems
        );

        let (_, body) = call(JSON, r#"{"name":"dev"}"#).await.unwrap_err();
        assert_eq!(body.error.problems[0].path, "items");
        assert_eq!(body.error.problems[0].message, "is required");
    }

    /// (path, message) of each problem `parse` finds in `body`.
    fn shape_problems(body: serde_json::Value) -> Vec<(String, String)> {
        match parse::<Probe>(body.to_string().as_bytes()) {
            Err(ApiError::Invalid(problems)) => {
                problems.into_iter().map(|p| (p.path, p.message)).collect()
            }
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[actix_web::test]
    async fn every_shape_problem_is_listed_where_it_was_sent() {
        let problems = shape_problems(serde_json::json!({
            "name": 7,
            "items": [
                {"count": "one"},
                {"count": 2, "colour": "red"},
                {"count": -3},
                {},
                "not an item",
                {"count": 6}
            ],
            "extra": true,
            "more": null
        }));
        // Fields are read in key order; list items keep their places as sent.
        let paths: Vec<&str> = problems.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "extra",
                "items[0].count",
                "items[1].colour",
                "items[2].count",
                "items[3].count",
                "items[4]",
                "more",
                "name",
            ],
            "{problems:#?}"
        );
        assert_eq!(problems[4].1, "is required");
        assert!(problems[1].1.contains("invalid type"), "{problems:?}");
    }

    #[actix_web::test]
    async fn a_body_of_the_wrong_kind_is_one_problem() {
        assert_eq!(
            shape_problems(serde_json::json!("text")),
            [(
                ".".to_owned(),
                "invalid type: string \"text\", expected struct Probe".to_owned()
            )]
        );
        let problems = shape_problems(serde_json::json!({"items": "x", "name": "dev"}));
        assert_eq!(problems[0].0, "items", "{problems:?}");
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[actix_web::test]
    async fn oversized_body_is_a_413() {
        let big = format!(r#"{{"name":"dev","items":[],"pad":"{}"}}"#, "x".repeat(100));
        let (status, body) = call(JSON, &big).await.unwrap_err();
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body.error.code, "payload_too_large");
        assert!(
            body.error.message.contains("64 bytes"),
            "{}",
            body.error.message
        );
    }

    #[actix_web::test]
    async fn oversized_body_without_a_declared_length_is_a_413() {
        // A streamed body (no Content-Length) is counted as it arrives.
        let (request, _) = test::TestRequest::post()
            .insert_header(("content-type", "application/json"))
            .app_data(BodyLimit(64))
            .to_http_parts();
        let chunks = (0..10).map(|_| {
            Ok::<_, actix_web::error::PayloadError>(web::Bytes::from_static(b"[1,2,3,4,5]"))
        });
        let stream: std::pin::Pin<
            Box<
                dyn futures_util::Stream<Item = Result<web::Bytes, actix_web::error::PayloadError>>,
            >,
        > = Box::pin(futures_util::stream::iter(chunks));
        let mut payload = Payload::Stream { payload: stream };
        let result = ApiJson::<serde_json::Value>::from_request(&request, &mut payload).await;
        assert!(
            matches!(result, Err(ApiError::PayloadTooLarge { limit: 64 })),
            "{result:?}"
        );
    }

    #[actix_web::test]
    async fn body_not_declared_as_json_is_a_415() {
        for content_type in [None, Some("text/plain"), Some("application/jsonx")] {
            let (status, body) = call(content_type, r#"{"name":"dev","items":[]}"#)
                .await
                .unwrap_err();
            assert_eq!(
                status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{content_type:?}"
            );
            assert_eq!(body.error.code, "unsupported_media_type");
        }
    }
}
