//! The server's signing keys: admins list and rotate them; machines follow the chain of key
//! sets.

use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;
use switchyard_proto::delivery::SigningKeyInfo;
use switchyard_proto::signing::Signed;
use switchyard_proto::ErrorBody;
use utoipa::IntoParams;

use super::capability::{Admin, Anonymous, ReadAll};
use super::error::ApiError;
use super::origin::RequestOrigin;
use super::AppState;
use crate::domain::signing::SigningKeyRecord;

fn info(record: &SigningKeyRecord) -> SigningKeyInfo {
    SigningKeyInfo {
        version: record.version,
        key_id: record.key_id.clone(),
        public_key: record.public_key.clone(),
        created_at: record.created_at,
    }
}

/// The signing keys, oldest first; the last one signs deliveries.
#[utoipa::path(
    tag = "keys",
    responses(
        (status = 200, description = "Signing keys, oldest first", body = [SigningKeyInfo]),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not admin or auditor", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor"])))
)]
#[get("/keys")]
pub async fn list_keys(reader: ReadAll) -> Result<HttpResponse, ApiError> {
    let keys: Vec<SigningKeyInfo> = reader
        .directory()
        .signing_keys()
        .await?
        .iter()
        .map(info)
        .collect();
    Ok(HttpResponse::Ok().json(keys))
}

/// Makes a new signing key. Its key set is signed by the current key, so enrolled machines
/// move to it by themselves; deliveries are signed with it at once, and machines that have
/// moved trust the old key no more.
#[utoipa::path(
    tag = "keys",
    responses(
        (status = 201, description = "The new key", body = SigningKeyInfo),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not admin", body = ErrorBody),
        (status = 409, description = "Another rotation happened at the same moment", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin"])))
)]
#[post("/keys/rotate")]
pub async fn rotate_key(
    admin: Admin,
    state: web::Data<AppState>,
    from: RequestOrigin,
) -> Result<HttpResponse, ApiError> {
    let origin = from.by(admin.access());
    let record = admin.rotate_signing_key(&origin, state.clock.now()).await?;
    tracing::info!(by = %admin.access().user.username, key = %record.key_id, version = record.version, "signing key rotated");
    Ok(HttpResponse::Created().json(info(&record)))
}

/// Which key sets a machine asks for.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeySetQuery {
    /// The key-set version the machine trusts now; 0 (the default) for all of them.
    #[serde(default)]
    #[param(minimum = 0, maximum = 9223372036854775807_u64)]
    after: u64,
}

/// The signed key sets after version `after`, oldest first: a machine checks each with the
/// keys of the one before and so moves to the current keys. Key sets are public.
#[utoipa::path(
    tag = "keys",
    params(KeySetQuery),
    responses(
        (status = 200, description = "Signed key sets, oldest first", body = [Signed]),
        (status = 400, description = "after is not a number from 0 to 2^63 - 1", body = ErrorBody),
    ),
    security(()),
    extensions(("x-roles" = json!(["anyone"])))
)]
#[get("/agent/key-sets")]
pub async fn key_sets(
    anyone: Anonymous,
    query: web::Query<KeySetQuery>,
) -> Result<HttpResponse, ApiError> {
    let chain = anyone
        .key_sets(super::stored_number("after", query.after)?)
        .await?;
    Ok(HttpResponse::Ok().json(chain))
}
