//! The audit trail over HTTP: filtered pages, streamed exports, and the chain check.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{get, HttpRequest, HttpResponse};
use futures_util::{stream, StreamExt as _};
use serde::Deserialize;
use switchyard_proto::{
    profile, AuditAction, AuditEvent, AuditPage, AuditVerification, EnvironmentName, ErrorBody,
    FieldProblem, MachineRoleName,
};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::IntoParams;

use super::capability::{AuditTrail, ReadAll, ReadAudit};
use super::error::ApiError;
use crate::domain::audit::{AuditFilter, MOST_EVENTS_PER_PAGE};

/// Events per page when `limit` is not given.
const DEFAULT_PAGE: u32 = 50;

/// The filters of a query or an export, as sent. Everything is optional; all given must hold.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Acted by this user name (for API tokens, their owner) or device.
    actor: Option<String>,
    /// This action, such as `profile.publish` or `auth.login`.
    action: Option<String>,
    /// Concerning this environment.
    environment: Option<String>,
    /// Concerning this machine role.
    role: Option<String>,
    /// Changing this setting or one under it: `go.proxy`, `npm.scopes`, or a variable a
    /// section manages, such as `GOPROXY`.
    setting: Option<String>,
    /// At or after this time (RFC 3339, such as `2026-11-01T00:00:00Z`).
    since: Option<String>,
    /// Before this time (RFC 3339).
    until: Option<String>,
    /// Older than the event this came from: `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Events per page: 1 to 500, 50 by default (queries only).
    limit: Option<String>,
    /// `jsonl` (JSON Lines, the default) or `csv` (exports only).
    format: Option<String>,
}

/// The filters, read from the query string by hand so that every mistake is a 422 naming its
/// parameter (not a 400 for the first one). Unknown and repeated parameters are the first
/// problems; [`AuditQuery::filter`] adds the rest.
fn read_query(query_string: &str) -> (AuditQuery, Vec<FieldProblem>) {
    let mut query = AuditQuery::default();
    let mut problems = Vec::new();
    for (key, value) in url::form_urlencoded::parse(query_string.as_bytes()) {
        let slot = match key.as_ref() {
            "actor" => &mut query.actor,
            "action" => &mut query.action,
            "environment" => &mut query.environment,
            "role" => &mut query.role,
            "setting" => &mut query.setting,
            "since" => &mut query.since,
            "until" => &mut query.until,
            "cursor" => &mut query.cursor,
            "limit" => &mut query.limit,
            "format" => &mut query.format,
            other => {
                problems.push(problem(
                    other,
                    "is not a filter; use actor, action, environment, role, setting, since, \
                     until, cursor, limit or format",
                ));
                continue;
            }
        };
        if slot.replace(value.into_owned()).is_some() {
            problems.push(problem(&key, "is given more than once"));
        }
    }
    (query, problems)
}

fn problem(path: &str, message: impl Into<String>) -> FieldProblem {
    FieldProblem {
        path: path.to_owned(),
        message: message.into(),
    }
}

impl AuditQuery {
    /// The store's filter for `reader`, or every problem with the parameters.
    fn filter(
        &self,
        reader: &ReadAudit,
        paged: bool,
        mut problems: Vec<FieldProblem>,
    ) -> Result<AuditFilter, ApiError> {
        let mut check = |name: &str, result: Result<(), String>| {
            if let Err(message) = result {
                problems.push(problem(name, message));
            }
        };
        let mut filter = AuditFilter {
            limit: DEFAULT_PAGE,
            visible_environments: reader
                .environments()
                .map(|names| names.iter().map(ToString::to_string).collect()),
            ..AuditFilter::default()
        };
        if let Some(actor) = &self.actor {
            check("actor", plain_text(actor, 256));
            filter.actor = Some(actor.clone());
        }
        if let Some(action) = &self.action {
            let parsed = serde_json::from_value::<AuditAction>(serde_json::json!(action));
            check(
                "action",
                parsed.map(|a| filter.action = Some(a)).map_err(|_| {
                    format!("is not an action; use one of {}", action_names().join(", "))
                }),
            );
        }
        if let Some(environment) = &self.environment {
            check(
                "environment",
                EnvironmentName::parse(environment.as_str())
                    .map(|name| filter.environment = Some(name.to_string()))
                    .map_err(|e| e.to_string()),
            );
        }
        if let Some(role) = &self.role {
            check(
                "role",
                MachineRoleName::parse(role.as_str())
                    .map(|name| filter.machine_role = Some(name.to_string()))
                    .map_err(|e| e.to_string()),
            );
        }
        if let Some(setting) = &self.setting {
            check("setting", plain_text(setting, 512));
            let path = profile::setting_of_variable(setting).map_or(setting.as_str(), |s| s);
            filter.setting = Some(path.to_owned());
        }
        for (name, text, slot) in [
            ("since", &self.since, &mut filter.since),
            ("until", &self.until, &mut filter.until),
        ] {
            if let Some(text) = text {
                check(
                    name,
                    OffsetDateTime::parse(text, &Rfc3339)
                        .map(|time| *slot = Some(time))
                        .map_err(|_| {
                            "must be an RFC 3339 time, such as 2026-11-01T00:00:00Z".to_owned()
                        }),
                );
            }
        }
        if let (Some(since), Some(until)) = (filter.since, filter.until) {
            if until <= since {
                check("until", Err("must be later than since".into()));
            }
        }
        if let Some(cursor) = &self.cursor {
            check(
                "cursor",
                cursor
                    .parse::<u64>()
                    .ok()
                    .filter(|seq| *seq >= 1)
                    .map(|seq| filter.before_seq = Some(seq))
                    .ok_or_else(|| "is not a cursor from a previous page".to_owned()),
            );
        }
        match (&self.limit, paged) {
            (Some(limit), true) => check(
                "limit",
                limit
                    .parse::<u32>()
                    .ok()
                    .filter(|limit| (1..=MOST_EVENTS_PER_PAGE).contains(limit))
                    .map(|limit| filter.limit = limit)
                    .ok_or_else(|| format!("must be a number from 1 to {MOST_EVENTS_PER_PAGE}")),
            ),
            (Some(_), false) => check(
                "limit",
                Err("an export has no limit; narrow it with since, until or cursor".into()),
            ),
            (None, _) => {}
        }
        if self.format.is_some() && paged {
            check(
                "format",
                Err("only exports have a format; use /api/v1/audit/export".into()),
            );
        }
        if let (Some(visible), Some(wanted)) = (&filter.visible_environments, &filter.environment) {
            if problems.is_empty() && !visible.contains(wanted) {
                return Err(ApiError::Forbidden(format!(
                    "you see the audit trail of the environments you operate, not of {wanted}"
                )));
            }
        }
        match problems.is_empty() {
            true => Ok(filter),
            false => Err(ApiError::Invalid(problems)),
        }
    }
}

/// Text a filter can hold: not empty, not too long, no control characters.
fn plain_text(text: &str, max: usize) -> Result<(), String> {
    if text.is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(format!(
            "must be 1 to {max} characters without control characters"
        ));
    }
    Ok(())
}

/// Every action's name, as filters take them.
pub(crate) fn action_names() -> Vec<&'static str> {
    AuditAction::ALL
        .iter()
        .map(|action| action.as_str())
        .collect()
}

/// Audit events, newest first, a page at a time.
///
/// Admins and auditors see every event; ops see the events of the environments they operate;
/// developers see none.
#[utoipa::path(
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of events, newest first", body = AuditPage),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Neither admin, auditor nor ops; or ops asking about another environment", body = ErrorBody),
        (status = 422, description = "A filter is invalid; each is named", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor", "ops (their environments)"])))
)]
#[get("/audit")]
pub async fn list_events(
    reader: ReadAudit,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(page(&reader, request.query_string()).await?))
}

/// The page of events `query_string` asks for (the filters of [`AuditQuery`]), as `reader`
/// may see them: for the API's query and the console's audit page alike.
///
/// # Errors
/// [`ApiError::Invalid`] naming each wrong filter, [`ApiError::Forbidden`] for ops asking
/// about an environment they do not operate, store errors.
pub(crate) async fn page(reader: &ReadAudit, query_string: &str) -> Result<AuditPage, ApiError> {
    let (query, problems) = read_query(query_string);
    let filter = query.filter(reader, true, problems)?;
    let mut events = reader
        .trail()
        .events(&AuditFilter {
            limit: filter.limit + 1,
            ..filter.clone()
        })
        .await?;
    let next_cursor = match events.len() > filter.limit as usize {
        true => {
            events.truncate(filter.limit as usize);
            events.last().map(|event| event.seq.to_string())
        }
        false => None,
    };
    Ok(AuditPage {
        events,
        next_cursor,
    })
}

/// The events a filter selects, newest first, streamed as JSON Lines or CSV: however many
/// there are, the server holds one page at a time.
#[utoipa::path(
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "The events, one per line", content((String = "application/x-ndjson"), (String = "text/csv"))),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Neither admin, auditor nor ops; or ops asking about another environment", body = ErrorBody),
        (status = 422, description = "A filter is invalid; each is named", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor", "ops (their environments)"])))
)]
#[get("/audit/export")]
pub async fn export_events(
    reader: ReadAudit,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    export(&reader, request.query_string())
}

/// The export `query_string` asks for (the filters of [`AuditQuery`] and `format`), streamed,
/// as `reader` may see it: for the API's export and the console's alike.
///
/// # Errors
/// As [`page`].
pub(crate) fn export(reader: &ReadAudit, query_string: &str) -> Result<HttpResponse, ApiError> {
    let (query, mut problems) = read_query(query_string);
    let format = match query.format.as_deref() {
        None | Some("jsonl") => ExportFormat::JsonLines,
        Some("csv") => ExportFormat::Csv,
        Some(_) => {
            problems.push(problem("format", "must be jsonl or csv"));
            ExportFormat::JsonLines
        }
    };
    let mut filter = query.filter(reader, false, problems)?;
    filter.limit = MOST_EVENTS_PER_PAGE;
    let (content_type, file) = match format {
        ExportFormat::JsonLines => ("application/x-ndjson", "audit.jsonl"),
        ExportFormat::Csv => ("text/csv; charset=utf-8", "audit.csv"),
    };
    let header_line = match format {
        ExportFormat::Csv => Some(Bytes::from(format!("{}\r\n", CSV_COLUMNS.join(",")))),
        ExportFormat::JsonLines => None,
    };
    let pages = export_pages(reader.trail(), filter, format);
    let body = stream::iter(header_line.map(Ok)).chain(pages);
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

#[derive(Debug, Clone, Copy)]
enum ExportFormat {
    JsonLines,
    Csv,
}

/// One chunk per page of events, fetched only when the client has taken the previous one.
fn export_pages(
    trail: AuditTrail,
    filter: AuditFilter,
    format: ExportFormat,
) -> impl futures_util::Stream<Item = Result<Bytes, ApiError>> {
    stream::try_unfold(Some(filter), move |filter| {
        let trail = trail.clone();
        async move {
            let Some(filter) = filter else {
                return Ok(None);
            };
            let events = trail.events(&filter).await?;
            if events.is_empty() {
                return Ok(None);
            }
            let next = (events.len() == filter.limit as usize).then(|| AuditFilter {
                before_seq: events.last().map(|event| event.seq),
                ..filter.clone()
            });
            let mut chunk = String::new();
            for event in &events {
                match format {
                    ExportFormat::JsonLines => {
                        chunk.push_str(&serde_json::to_string(event).unwrap_or_default());
                        chunk.push('\n');
                    }
                    ExportFormat::Csv => chunk.push_str(&csv_line(event)),
                }
            }
            Ok(Some((Bytes::from(chunk), next)))
        }
    })
}

const CSV_COLUMNS: [&str; 17] = [
    "seq",
    "id",
    "at",
    "actor_kind",
    "actor",
    "source",
    "user_agent",
    "request_id",
    "action",
    "environment",
    "machine_role",
    "target",
    "outcome",
    "changes",
    "detail",
    "previous_hash",
    "hash",
];

fn csv_line(event: &AuditEvent) -> String {
    let optional = |value: &Option<String>| value.clone().unwrap_or_default();
    let changes: Vec<String> = event.changes.iter().map(ToString::to_string).collect();
    let fields = [
        event.seq.to_string(),
        event.id.to_string(),
        event.at.format(&Rfc3339).unwrap_or_default(),
        event.actor_kind.as_str().to_owned(),
        event.actor.clone(),
        optional(&event.source),
        optional(&event.user_agent),
        optional(&event.request_id),
        event.action.as_str().to_owned(),
        optional(&event.environment),
        optional(&event.machine_role),
        event.target.clone(),
        event.outcome.as_str().to_owned(),
        changes.join("; "),
        serde_json::to_string(&event.detail).unwrap_or_default(),
        event.previous_hash.clone(),
        event.hash.clone(),
    ];
    let mut line = fields.map(|field| csv_field(&field)).join(",");
    line.push_str("\r\n");
    line
}

/// One CSV field (RFC 4180). Text a spreadsheet would run as a formula (`=`, `+`, `-`, `@`
/// first) gets a leading `'`, so opening an export cannot run what someone typed.
fn csv_field(text: &str) -> String {
    let mut text = text.to_owned();
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        text.insert(0, '\'');
    }
    match text.contains([',', '"', '\n', '\r']) {
        true => format!("\"{}\"", text.replace('"', "\"\"")),
        false => text,
    }
}

/// Walks the whole audit trail and says whether every link holds; if not, names the first
/// broken one. Record `head_seq` and `head_hash` elsewhere: a later check can then show that
/// nothing was cut from the end.
#[utoipa::path(
    tag = "audit",
    responses(
        (status = 200, description = "What the walk found (`intact` says whether it holds)", body = AuditVerification),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not admin or auditor", body = ErrorBody),
    ),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "auditor"])))
)]
#[get("/audit/verify")]
pub async fn verify(reader: ReadAll) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(verification(&reader).await?))
}

/// The walk of the whole chain, a break logged as an error: for the API and the console.
///
/// # Errors
/// Store errors.
pub(crate) async fn verification(reader: &ReadAll) -> Result<AuditVerification, ApiError> {
    let verdict = reader.verify_audit_trail().await?;
    if let Some(broken) = &verdict.first_broken {
        tracing::error!(seq = broken.seq, problem = %broken.problem, "the audit trail is broken");
    }
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }
}
