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

mod assets;
mod audit;
mod change_requests;
mod drafts;
mod environments;
pub mod fields;
pub mod form;
pub mod page;
mod profiles;
pub mod session;
mod sign_in;

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
            .route("/", web::get().to(environments::list))
            .route("/sign-in", web::get().to(sign_in::form))
            .route("/sign-in", web::post().to(sign_in::submit))
            .route("/sign-out", web::post().to(sign_in::sign_out))
            .route(
                "/environments/{environment}",
                web::get().to(environments::show),
            )
            .route(
                "/environments/{environment}/profiles/{target}",
                web::get().to(profiles::versions),
            )
            .route(
                "/environments/{environment}/profiles/{target}/diff",
                web::get().to(profiles::diff),
            )
            .route(
                "/environments/{environment}/profiles/{target}/draft",
                web::get().to(drafts::show),
            )
            .route(
                "/environments/{environment}/profiles/{target}/draft/{section}",
                web::post().to(drafts::save),
            )
            .route(
                "/environments/{environment}/profiles/{target}/publish",
                web::post().to(drafts::publish),
            )
            .route(
                "/environments/{environment}/profiles/{target}/rollback",
                web::post().to(drafts::rollback),
            )
            .route(
                "/environments/{environment}/change-requests",
                web::get().to(change_requests::queue),
            )
            .route(
                "/environments/{environment}/change-requests/{id}/approve",
                web::post().to(change_requests::approve),
            )
            .route(
                "/environments/{environment}/change-requests/{id}/reject",
                web::post().to(change_requests::reject),
            )
            .route("/audit", web::get().to(audit::trail))
            .route("/audit/export", web::get().to(audit::export)),
    );
}
