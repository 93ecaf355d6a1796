//! The console's script and style sheet, compiled into the binary: no CDN, no build step.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::secret;

/// Each asset: its name under `/assets/`, its type and its bytes.
const ASSETS: [(&str, &str, &str); 2] = [
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/console.js"),
    ),
];

/// `GET /assets/{file}`: revalidated by `ETag` (a hash of the bytes), so an upgrade is seen at
/// once.
pub async fn serve(request: HttpRequest, file: web::Path<String>) -> HttpResponse {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(name, _, _)| *name == file.as_str())
    else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("no such asset");
    };
    // SHA-256 in hex, as secrets are hashed: the first 96 bits name a version well enough.
    let digest = secret::digest(body);
    let etag = format!("\"{}\"", &digest[..24]);
    let unchanged = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|value| value.as_bytes() == etag.as_bytes());
    let mut response = match unchanged {
        true => HttpResponse::NotModified(),
        false => HttpResponse::Ok(),
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    match unchanged {
        true => response.finish(),
        false => response.content_type(*content_type).body(*body),
    }
}
