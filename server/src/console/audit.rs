//! The audit trail: filtered, paged, exported and verified with the API's own functions, so
//! the console shows exactly what `GET /api/v1/audit` would.

use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use switchyard_proto::{AuditEvent, AuditVerification, FieldProblem};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{Date, Duration};

use super::page::{render, render_with, Console, Frame, Moment, PageError};
use crate::http::audit;
use crate::http::capability::{ReadAll, ReadAudit};
use crate::http::error::ApiError;

/// The filters the page offers, as the form names them (and the API's query does).
const FILTERS: [&str; 7] = [
    "actor",
    "action",
    "environment",
    "role",
    "setting",
    "since",
    "until",
];

/// A day as a date field sends it.
const DAY: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// One filter field: its value as typed and its problem, if the API found one.
struct Field {
    name: &'static str,
    value: String,
    problem: Option<String>,
}

/// One event as listed.
struct Row {
    event: AuditEvent,
    at: Moment,
}

/// `/audit`.
#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    frame: Frame,
    fields: Vec<Field>,
    actions: Vec<&'static str>,
    rows: Vec<Row>,
    /// The query of these filters as typed, for export and paging links (empty: none).
    filters: String,
    /// Whether the viewer may have the chain checked (on asking: it reads the whole trail).
    may_verify: bool,
    /// The query of the next, older page.
    older: Option<String>,
    /// Whether this page is not the newest.
    paged: bool,
    /// The chain's check, for those who may run it (admins and auditors).
    verification: Option<AuditVerification>,
    /// Problems not about one field.
    problem: Option<String>,
}

/// What the form sent, read: the API's query (empty fields left out, a day such as
/// `2026-11-30`, as a date field sends it, as its first moment in UTC for `since` and the next
/// day's for `until`, so the range includes the day), the filters as typed (for links to
/// other pages of the same list), the fields, and the cursor.
struct Asked {
    api: String,
    typed: String,
    fields: Vec<Field>,
    cursor: Option<String>,
}

fn asked(request: &HttpRequest) -> Asked {
    let sent: Vec<(String, String)> =
        url::form_urlencoded::parse(request.query_string().as_bytes())
            .map(|(key, value)| (key.into_owned(), value.trim().to_owned()))
            .collect();
    let value = |name: &str| {
        sent.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    };
    let mut api = url::form_urlencoded::Serializer::new(String::new());
    let mut links = url::form_urlencoded::Serializer::new(String::new());
    let fields: Vec<Field> = FILTERS
        .iter()
        .map(|name| {
            let typed = value(name);
            if !typed.is_empty() {
                api.append_pair(name, &as_api_time(name, &typed));
                links.append_pair(name, &typed);
            }
            Field {
                name,
                value: typed,
                problem: None,
            }
        })
        .collect();
    Asked {
        api: api.finish(),
        typed: links.finish(),
        fields,
        cursor: Some(value("cursor")).filter(|cursor| !cursor.is_empty()),
    }
}

/// `since` and `until` given as a day, as RFC 3339; anything else as typed.
fn as_api_time(name: &str, typed: &str) -> String {
    let Ok(day) = Date::parse(typed, DAY) else {
        return typed.to_owned();
    };
    let day = match name {
        "until" => day.checked_add(Duration::days(1)).unwrap_or(day),
        "since" => day,
        _ => return typed.to_owned(),
    };
    format!("{day}T00:00:00Z")
}

/// `GET /audit`; with `verify=1`, the chain's check above the list, for those who may run it.
pub async fn trail(
    Console(reader): Console<ReadAudit>,
    verifier: Option<ReadAll>,
    request: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let Asked {
        api,
        typed: filters,
        mut fields,
        cursor,
    } = asked(&request);
    let query = match &cursor {
        Some(cursor) => join(&api, &format!("cursor={}", encode(cursor))),
        None => api.clone(),
    };
    let verify_asked = url::form_urlencoded::parse(request.query_string().as_bytes())
        .any(|(key, value)| key == "verify" && value == "1");
    let verification = match (&verifier, verify_asked) {
        (Some(verifier), true) => Some(audit::verification(verifier).await?),
        _ => None,
    };
    let frame = Frame::new(&request, Some(reader.access()), "audit");
    let mut page = AuditPage {
        frame,
        fields: Vec::new(),
        actions: audit::action_names(),
        rows: Vec::new(),
        filters: filters.clone(),
        may_verify: verifier.is_some(),
        older: None,
        paged: cursor.is_some(),
        verification,
        problem: None,
    };
    match audit::page(&reader, &query).await {
        Ok(found) => {
            page.older = found
                .next_cursor
                .map(|next| join(&filters, &format!("cursor={}", encode(&next))));
            page.rows = found
                .events
                .into_iter()
                .map(|event| Row {
                    at: Moment::of(event.at),
                    event,
                })
                .collect();
            page.fields = fields;
            render(&page)
        }
        Err(ApiError::Invalid(problems)) => {
            page.problem = place(&problems, &mut fields);
            page.fields = fields;
            render_with(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(error) => Err(error.into()),
    }
}

/// Puts each problem at its field; returns the text of those no field shows.
fn place(problems: &[FieldProblem], fields: &mut [Field]) -> Option<String> {
    let mut elsewhere = Vec::new();
    for problem in problems {
        match fields.iter_mut().find(|field| field.name == problem.path) {
            Some(field) => field.problem = Some(problem.message.clone()),
            None => elsewhere.push(format!("{}: {}", problem.path, problem.message)),
        }
    }
    (!elsewhere.is_empty()).then(|| elsewhere.join("; "))
}

fn join(filters: &str, more: &str) -> String {
    match filters.is_empty() {
        true => more.to_owned(),
        false => format!("{filters}&{more}"),
    }
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `GET /audit/export`: the API's export of the filters the page shows.
pub async fn export(
    Console(reader): Console<ReadAudit>,
    request: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let filters = asked(&request).api;
    let format = url::form_urlencoded::parse(request.query_string().as_bytes())
        .find(|(key, _)| key == "format")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| "jsonl".to_owned());
    let query = join(&filters, &format!("format={}", encode(&format)));
    Ok(audit::export(&reader, &query)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_the_whole_day_in_utc() {
        assert_eq!(as_api_time("since", "2026-11-30"), "2026-11-30T00:00:00Z");
        assert_eq!(as_api_time("until", "2026-11-30"), "2026-12-01T00:00:00Z");
        assert_eq!(
            as_api_time("until", "2026-11-30T12:00:00Z"),
            "2026-11-30T12:00:00Z"
        );
        assert_eq!(as_api_time("actor", "2026-11-30"), "2026-11-30");
    }
}
