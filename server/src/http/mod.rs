//! The HTTP face of the server: routes, middleware, the error mapping and the OpenAPI
//! description, declared once so the served API and its description cannot drift.

mod agent;
pub(crate) mod audit;
pub(crate) mod auth;
pub mod capability;
mod change_requests;
pub(crate) mod devices;
pub(crate) mod enrollment;
mod environments;
pub mod error;
pub mod json;
mod keys;
mod machine_roles;
mod meta;
pub mod origin;
mod profiles;
mod refusals;
pub mod request_id;
mod rollouts;
pub(crate) mod tokens;
mod unmatched;
pub(crate) mod users;
mod variables;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{from_fn, ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, App, HttpRequest, HttpResponse, ResponseError};
use actix_web_prom::PrometheusMetrics;
use utoipa::OpenApi;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

pub use error::ApiError;
pub use json::{ApiJson, BodyLimit};
pub use unmatched::RouteTable;

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::http::origin::TrustedProxies;

/// `value` of the query parameter `name` when the database can hold it: versions, sequences
/// and positions are kept as signed 64-bit numbers, so the API documents and takes
/// 0 to 2^63 - 1 ([`MAX_STORED_NUMBER`]); a larger one is a 400, not a silent wrap.
pub(crate) fn stored_number(name: &str, value: u64) -> Result<u64, error::ApiError> {
    match value <= MAX_STORED_NUMBER {
        true => Ok(value),
        false => Err(error::ApiError::InvalidParameter {
            name: name.into(),
            problem: format!("must be 0 to {MAX_STORED_NUMBER}"),
        }),
    }
}

/// The largest version, sequence or position the API takes ([`stored_number`]).
pub const MAX_STORED_NUMBER: u64 = i64::MAX as u64;

/// Where the OpenAPI description is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The store, the publishing rules and delivery: reached only through a capability.
    pub gate: capability::Gate,
    /// The time.
    pub clock: SharedClock,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// Longest a machine's profile request may wait for a change.
    pub agent_max_wait: std::time::Duration,
    /// How many machines wait in a long-poll now (the `switchyard_agents_waiting` metric).
    pub waiting: prometheus::IntGauge,
    /// Requests refused with 501 for a method no route has (the
    /// `switchyard_http_requests_unknown_method_total` metric): counted apart from
    /// `switchyard_http_requests_total`, where each invented method would open a series.
    pub unknown_methods: prometheus::IntCounter,
    /// Machines' signed requests checked against the database at once, one per database
    /// connection: when thousands arrive together (a server restart), they queue here in
    /// order instead of all waiting on the pool until its timeout.
    pub device_checks: Arc<tokio::sync::Semaphore>,
}

/// What is computed once at start-up and shared by every worker.
#[derive(Clone)]
pub struct Shared {
    /// Handler state.
    pub state: web::Data<AppState>,
    /// The OpenAPI description, rendered.
    pub description: web::Data<ApiDescriptionJson>,
    /// The documented routes, for 404 and 405 answers.
    pub routes: RouteTable,
    /// Largest request body.
    pub body_limit: BodyLimit,
    /// Prometheus middleware and registry.
    pub metrics: PrometheusMetrics,
}

impl Shared {
    /// Computes what the workers share.
    pub fn new(
        state: AppState,
        body_limit: BodyLimit,
        metrics: PrometheusMetrics,
    ) -> Result<Self, serde_json::Error> {
        let api = api_description();
        Ok(Self {
            state: web::Data::new(state),
            description: web::Data::new(ApiDescriptionJson(api.to_json()?)),
            routes: RouteTable::from_description(&api),
            body_limit,
            metrics,
        })
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("state", &self.state)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

/// The OpenAPI description as JSON text.
#[derive(Debug, Clone)]
pub struct ApiDescriptionJson(pub String);

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchyard",
        description = "Package proxy and mirror settings for developer machines: \
                       profiles per environment and machine role, signed delivery, audit."
    ),
    components(schemas(switchyard_proto::ErrorBody)),
    modifiers(&BearerScheme),
    tags(
        (name = "service", description = "Health, readiness and version of the server itself"),
        (name = "auth", description = "Logging in and out, sessions, the caller"),
        (name = "users", description = "Users, global roles and per-environment grants"),
        (name = "environments", description = "Environments such as staging and production"),
        (name = "tokens", description = "API tokens for scripts and CI"),
        (name = "profiles", description = "Machine roles, profile drafts, versions, diffs and rollback"),
        (name = "keys", description = "The server's signing keys and the key sets machines follow"),
        (name = "devices", description = "Enrollment tokens and enrolled machines"),
        (name = "rollouts", description = "Versions that reach machines wave by wave, gated on the machines' own reports; time-boxed overrides"),
        (name = "agent", description = "What machines call: enrollment, key sets, their profile"),
        (name = "audit", description = "Who changed what, when and from where: query, export, verify"),
    )
)]
struct ApiDoc;

/// The security schemes protected operations name: `bearer` (an access token from
/// `POST /api/v1/auth/login`, or an API token) and `device` (a machine's signed request).
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT access token or API token (syt_...)")
                    .description(Some(
                        "An access token from POST /api/v1/auth/login, or an API token",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "device",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "An enrolled machine's signed request: Device id=\"...\", ts=\"...\", \
                 nonce=\"...\", sig=\"...\" (see switchyard_proto::signing::DeviceAuthorization)",
            ))),
        );
    }
}

/// Every route, in one declaration that feeds both the server and its OpenAPI description.
fn routes(config: &mut ServiceConfig) {
    config.service(meta::healthz).service(meta::readyz).service(
        utoipa_actix_web::scope("/api/v1")
            .service(meta::version)
            .service(meta::openapi)
            .service(auth::login)
            .service(auth::refresh)
            .service(auth::logout)
            .service(auth::me)
            .service(users::list_users)
            .service(users::create_user)
            .service(users::get_user)
            .service(users::disable_user)
            .service(users::enable_user)
            .service(users::reset_password)
            .service(users::set_global_role)
            .service(users::put_grant)
            .service(users::remove_grant)
            .service(environments::list_environments)
            .service(environments::create_environment)
            .service(environments::get_environment)
            .service(environments::update_environment)
            .service(tokens::create_token)
            .service(tokens::list_tokens)
            .service(tokens::revoke_token)
            .service(machine_roles::list_machine_roles)
            .service(machine_roles::create_machine_role)
            .service(profiles::get_draft)
            .service(profiles::put_draft)
            .service(profiles::publish)
            .service(profiles::rollback)
            .service(profiles::list_versions)
            .service(profiles::get_version)
            .service(profiles::diff)
            .service(profiles::effective)
            .service(change_requests::list_change_requests)
            .service(change_requests::get_change_request)
            .service(change_requests::approve_change_request)
            .service(change_requests::reject_change_request)
            .service(audit::list_events)
            .service(audit::export_events)
            .service(audit::verify)
            .service(keys::list_keys)
            .service(keys::rotate_key)
            .service(keys::key_sets)
            .service(enrollment::create_enrollment_token)
            .service(enrollment::list_enrollment_tokens)
            .service(enrollment::revoke_enrollment_token)
            .service(enrollment::enroll)
            .service(agent::fetch_profile)
            .service(devices::report_status)
            .service(devices::leave)
            .service(devices::list_devices)
            .service(devices::rollout)
            .service(devices::mirror_health)
            .service(devices::revoke_device)
            .service(devices::move_device)
            .service(devices::set_labels)
            .service(rollouts::list_rollouts)
            .service(rollouts::get_rollout)
            .service(rollouts::promote_rollout)
            .service(rollouts::pause_rollout)
            .service(rollouts::resume_rollout)
            .service(rollouts::abort_rollout)
            .service(rollouts::list_overrides)
            .service(variables::list_allowances)
            .service(variables::allow_variable)
            .service(variables::withdraw_variable),
    );
}

/// The OpenAPI description of the API, as the code declares it.
pub fn api_description() -> utoipa::openapi::OpenApi {
    let mut api = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
        .split_for_parts()
        .1;
    refusals::describe(&mut api);
    api
}

/// The application: routes, middleware and shared state. Built per worker thread.
pub fn app(
    shared: Shared,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .into_utoipa_app()
        .app_data(shared.state)
        .app_data(shared.description)
        .app_data(shared.routes)
        .app_data(shared.body_limit)
        .app_data(web::PayloadConfig::new(shared.body_limit.0))
        .app_data(web::QueryConfig::default().error_handler(|error, _| {
            ApiError::InvalidParameter {
                name: "query".into(),
                problem: error.to_string(),
            }
            .into()
        }))
        .configure(routes)
        .into_app()
        .route("/docs", web::get().to(docs_redirect))
        .service(
            SwaggerUi::new("/docs/{_:.*}").config(utoipa_swagger_ui::Config::new([OPENAPI_PATH])),
        )
        .configure(crate::console::routes)
        .default_service(web::to(route_not_found))
        // Middleware runs outside-in from the last one added: the request id first, so every
        // log line and error body of the request carries it.
        .wrap(ErrorHandlers::new().default_handler(error_as_json))
        .wrap(shared.metrics)
        .wrap(from_fn(request_id::middleware))
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

async fn route_not_found(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    // A browser that asked for a console address that is none gets a page, not JSON.
    if crate::console::page::wants_page(&request) {
        let missing =
            crate::console::page::PageError::Status(actix_web::http::StatusCode::NOT_FOUND);
        return Ok(missing.error_response());
    }
    Err(unmatched::unmatched(&request))
}

/// Error answers made outside our handlers (such as actix's own 405) get the same JSON body as
/// ours, so clients parse every error one way. The console's error pages stay pages.
fn error_as_json<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| {
            let value = value.as_bytes();
            value.starts_with(b"application/json") || value.starts_with(b"text/html")
        });
    if ours {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let (request, _) = response.into_parts();
    if crate::console::page::wants_page(&request) {
        let page = crate::console::page::PageError::Status(status).error_response();
        return Ok(ErrorHandlerResponse::Response(
            ServiceResponse::new(request, page).map_into_right_body(),
        ));
    }
    let error = match (status.as_u16(), unmatched::unmatched(&request)) {
        (404, unmatched) => unmatched,
        // A console address answered for some other method is no API route: the bare 405.
        (405, unmatched @ ApiError::MethodNotAllowed { .. }) => unmatched,
        _ => ApiError::Status(status),
    };
    let json = error.error_response();
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, json).map_into_right_body(),
    ))
}
