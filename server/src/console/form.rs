//! A console form as posted: CSRF-checked before a handler sees a field.
//!
//! Every form carries the CSRF cookie's value in a hidden `csrf` field (double submit, as the
//! OWASP CSRF cheat sheet describes it), and a browser that names where the form came from
//! (`Origin`, else `Sec-Fetch-Site`) must name this site. Either check alone refuses a form
//! another site makes a browser post; `SameSite=Strict` cookies are a third.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::StreamExt as _;

use super::page::PageError;
use super::session;

/// Largest form body accepted, in bytes: a profile's section with every value long.
const MOST_FORM_BYTES: usize = 256 * 1024;

/// The fields of a posted form, in order, the `csrf` field checked and taken out.
#[derive(Debug, Default)]
pub struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    /// A form of `fields`, as if posted (for tests and pages that build one).
    pub fn from_pairs(fields: Vec<(String, String)>) -> Self {
        Self { fields }
    }

    /// The first value of `name`, if the form has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The value of `name`, or empty.
    pub fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or_default()
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every field's name, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(key, _)| key.as_str())
    }

    /// Whether a checkbox named `name` was ticked.
    pub fn ticked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

impl FromRequest for Form {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let checked = same_site(request);
        let csrf = session::csrf_token(request);
        let urlencoded = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
        let mut payload = payload.take();
        Box::pin(async move {
            checked?;
            if !urlencoded {
                return Err(PageError::BadForm(
                    "a console form is sent as application/x-www-form-urlencoded".into(),
                ));
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| PageError::BadForm(e.to_string()))?;
                if body.len() + chunk.len() > MOST_FORM_BYTES {
                    return Err(PageError::BadForm(format!(
                        "the form is larger than {} KiB",
                        MOST_FORM_BYTES / 1024
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            let mut fields: Vec<(String, String)> = url::form_urlencoded::parse(&body)
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect();
            let sent = fields
                .iter()
                .position(|(key, _)| key == "csrf")
                .map(|at| fields.remove(at).1);
            let expected = csrf.filter(|token| token.from_cookie);
            match (sent, expected) {
                (Some(sent), Some(expected)) if same_secret(&sent, &expected.value) => {
                    Ok(Form { fields })
                }
                _ => Err(PageError::Csrf),
            }
        })
    }
}

/// Refuses a request a browser says came from another site.
fn same_site(request: &HttpRequest) -> Result<(), PageError> {
    let headers = request.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = request.connection_info().host().to_owned();
        let matches = origin
            .to_str()
            .ok()
            .and_then(|text| url::Url::parse(text).ok())
            .and_then(|url| {
                let authority = match url.port() {
                    Some(port) => format!("{}:{port}", url.host_str()?),
                    None => url.host_str()?.to_owned(),
                };
                Some(authority.eq_ignore_ascii_case(&host))
            })
            .unwrap_or(false);
        return matches.then_some(()).ok_or(PageError::Csrf);
    }
    match headers
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok())
    {
        Some("same-origin") | Some("none") | None => Ok(()),
        Some(_) => Err(PageError::Csrf),
    }
}

/// Compares two secrets in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0_u8, |differ, (x, y)| differ | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", "a"));
    }
}
