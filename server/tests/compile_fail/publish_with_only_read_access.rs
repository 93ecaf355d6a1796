//! A handler that may only read an environment tries to publish in it.

use actix_web::{post, web, HttpResponse};
use switchyard_server::domain::profiles::ProfileTarget;
use switchyard_server::http::capability::ReadEnvironment;
use switchyard_server::http::ApiError;

#[post("/environments/{environment}/profiles/{target}/publish")]
async fn publish(
    reader: ReadEnvironment,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let target = ProfileTarget::parse(&path.1).unwrap();
    reader.profiles().publish(&target, 1, "no ops role").await?;
    Ok(HttpResponse::Created().finish())
}

fn main() {
    let _ = publish;
}
