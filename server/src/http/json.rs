//! `ApiJson<T>`: the JSON body extractor every handler uses. Unlike actix's own, it says where
//! a body is wrong (line and column for broken JSON, the field's path for a wrong value) and
//! refuses bodies over the configured limit before reading them whole.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use switchyard_proto::FieldProblem;

use super::error::ApiError;

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
        Box::pin(async move {
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
            parse(&body).map(ApiJson)
        })
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

/// Parses `body` as a `T`: broken JSON is a 400 with its line and column, a wrong value a 422
/// naming the field's path.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            Category::Data => ApiError::Invalid(vec![FieldProblem {
                path,
                message: without_position(&inner),
            }]),
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::MalformedJson(inner.to_string())
            }
        }
    })?;
    deserializer
        .end()
        .map_err(|error| ApiError::MalformedJson(error.to_string()))?;
    Ok(value)
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
        assert!(body.error.problems[0].message.contains("extra"));
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
