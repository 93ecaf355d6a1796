//! The web console: server-rendered pages for ops and auditors at `/`, over the very
//! capabilities the API's handlers take, so a page can show or do only what its viewer's role
//! allows through the API.
//!
//! Pages are askama templates compiled into the binary (`server/templates/console/`); the one
//! script and style sheet are ours, served from the binary too (`server/assets/`). Every read
//! works without the script, which only shows times in the viewer's zone and copies secrets
//! shown once. Pages are sent with a Content-Security-Policy that allows nothing but this
//! server's own script, styles and forms.
//!
//! Sessions are cookies ([`session`]); forms are CSRF-checked ([`form`]); errors become pages
//! with the request id ([`page::PageError`]).

mod api_tokens;
mod assets;
mod audit;
mod change_requests;
mod drafts;
mod environments;
pub mod fields;
pub mod form;
mod machines;
pub mod page;
mod profiles;
mod release;
mod rollouts;
pub mod session;
mod sign_in;
mod users;

use actix_web::http::header;
use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::web;

/// The policy every console answer carries: only this server's script, styles, images and
/// forms; no frames, plugins, inline script or `<base>`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// The console's routes, under the root beside the API (`/api/`), the health checks and the
/// API's documentation (`/docs/`).
pub fn routes(config: &mut web::ServiceConfig) {
    // Assets need no session: served before the scope, so fetching one never renews a session
    // nor sets a cookie.
    config.service(
        web::resource("/assets/{file}")
            .wrap(DefaultHeaders::new().add((header::X_CONTENT_TYPE_OPTIONS, "nosniff")))
            .route(web::get().to(assets::serve)),
    );
    config.service(
        web::scope("")
            .wrap(from_fn(session::middleware))
            .wrap(
                DefaultHeaders::new()
                    .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
                    .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                    .add((header::X_FRAME_OPTIONS, "DENY"))
                    .add((header::REFERRER_POLICY, "same-origin")),
            )
            .service(web::resource("/").get(environments::list))
            .service(
                web::resource("/sign-in")
                    .get(sign_in::form)
                    .post(sign_in::submit),
            )
            .service(web::resource("/sign-out").post(sign_in::sign_out))
            .service(web::resource("/environments/{environment}").get(environments::show))
            .service(
                web::resource("/environments/{environment}/profiles/{target}")
                    .get(profiles::versions),
            )
            .service(
                web::resource("/environments/{environment}/profiles/{target}/diff")
                    .get(profiles::diff),
            )
            .service(
                web::resource("/environments/{environment}/profiles/{target}/draft")
                    .get(drafts::show),
            )
            .service(
                web::resource("/environments/{environment}/profiles/{target}/draft/{section}")
                    .post(drafts::save),
            )
            .service(
                web::resource("/environments/{environment}/profiles/{target}/publish")
                    .post(drafts::publish),
            )
            .service(
                web::resource("/environments/{environment}/profiles/{target}/rollback")
                    .post(drafts::rollback),
            )
            .service(
                web::resource("/environments/{environment}/change-requests")
                    .get(change_requests::queue),
            )
            .service(
                web::resource("/environments/{environment}/change-requests/{id}/approve")
                    .post(change_requests::approve),
            )
            .service(
                web::resource("/environments/{environment}/change-requests/{id}/reject")
                    .post(change_requests::reject),
            )
            .service(web::resource("/environments/{environment}/machines").get(machines::list))
            .service(
                web::resource("/environments/{environment}/machines/{id}/revoke")
                    .post(machines::revoke),
            )
            .service(
                web::resource("/environments/{environment}/enrollment-tokens")
                    .get(machines::tokens)
                    .post(machines::create_token),
            )
            .service(
                web::resource("/environments/{environment}/enrollment-tokens/{id}/revoke")
                    .post(machines::revoke_token),
            )
            .service(web::resource("/environments/{environment}/rollouts").get(rollouts::list))
            .service(
                web::resource("/environments/{environment}/rollouts/{id}/{move}")
                    .post(rollouts::move_by_hand),
            )
            .service(web::resource("/users").get(users::list).post(users::create))
            .service(web::resource("/users/{username}").get(users::show))
            .service(
                web::resource("/users/{username}/grants/{environment}/remove")
                    .post(users::remove_grant),
            )
            .service(web::resource("/users/{username}/{change}").post(users::change))
            .service(
                web::resource("/tokens")
                    .get(api_tokens::list)
                    .post(api_tokens::create),
            )
            .service(web::resource("/tokens/{id}/revoke").post(api_tokens::revoke))
            .service(web::resource("/audit").get(audit::trail))
            .service(web::resource("/audit/export").get(audit::export)),
    );
}
