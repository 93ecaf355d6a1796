//! Answers for requests no route takes: 405 with an `Allow` header when the path exists for
//! other methods, 404 otherwise. The known paths come from the OpenAPI description, which is
//! built from the same declaration as the routes.

use actix_web::http::Method;
use actix_web::HttpRequest;

use super::error::ApiError;

/// The documented paths and the methods each accepts.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<(Vec<Segment>, Vec<Method>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Parameter,
}

impl RouteTable {
    /// The routes of `api`.
    pub fn from_description(api: &utoipa::openapi::OpenApi) -> Self {
        let routes = api
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let segments = template
                    .trim_matches('/')
                    .split('/')
                    .map(|part| match part.starts_with('{') && part.ends_with('}') {
                        true => Segment::Parameter,
                        false => Segment::Literal(part.to_owned()),
                    })
                    .collect();
                let methods = [
                    (&item.get, Method::GET),
                    (&item.put, Method::PUT),
                    (&item.post, Method::POST),
                    (&item.delete, Method::DELETE),
                    (&item.patch, Method::PATCH),
                ]
                .into_iter()
                .filter_map(|(operation, method)| operation.as_ref().map(|_| method))
                .collect();
                (segments, methods)
            })
            .collect();
        Self { routes }
    }

    /// Methods allowed on `path`; empty when no documented route has that path.
    pub fn allowed_methods(&self, path: &str) -> Vec<Method> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.routes
            .iter()
            .filter(|(segments, _)| {
                segments.len() == parts.len()
                    && segments
                        .iter()
                        .zip(&parts)
                        .all(|(segment, part)| match segment {
                            Segment::Literal(literal) => literal == part,
                            Segment::Parameter => !part.is_empty(),
                        })
            })
            .flat_map(|(_, methods)| methods.iter().cloned())
            .collect()
    }
}

/// The error for a request that no route took.
pub fn unmatched(request: &HttpRequest) -> ApiError {
    let allowed = request
        .app_data::<RouteTable>()
        .map(|table| table.allowed_methods(request.path()))
        .unwrap_or_default();
    // A path that only looks like a route (`/healthz/`) but takes this very method is unknown.
    if allowed.is_empty() || allowed.contains(request.method()) {
        ApiError::RouteNotFound {
            path: request.path().to_owned(),
        }
    } else {
        ApiError::MethodNotAllowed {
            method: request.method().to_string(),
            path: request.path().to_owned(),
            allowed,
        }
    }
}
