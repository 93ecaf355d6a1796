//! A field's JSON as its form shows it: never a secret, rows for maps and lists of records.

use serde_json::Value;
use switchyard_proto::FieldProblem;

use super::{concerns, Kind, Section};
use crate::console::form::Form;

/// One cell of a row of a field.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The form's name for it.
    pub name: String,
    /// Its label (visually the column's heading).
    pub label: &'static str,
    /// `text`, `password` or `checkbox`.
    pub input: &'static str,
    /// What it holds (never a secret).
    pub value: String,
    /// For a checkbox: ticked.
    pub checked: bool,
    /// For a password: a secret is stored, which an empty field keeps.
    pub stored: bool,
}

/// A field as its form shows it.
#[derive(Debug, Clone)]
pub struct FieldView {
    /// Its form name, and its element's id with the section's prefix.
    pub name: String,
    /// Its element id.
    pub id: String,
    /// Its label.
    pub label: &'static str,
    /// Its hint.
    pub help: &'static str,
    /// `text`, `number`, `bool`, `lines`, `secret` or `rows`.
    pub input: &'static str,
    /// What it holds (for text, number, bool, lines); never a secret.
    pub value: String,
    /// For a secret: one is stored.
    pub stored: bool,
    /// For rows: the column labels.
    pub columns: Vec<&'static str>,
    /// For rows: each row's cells, the last one empty for adding.
    pub rows: Vec<Vec<Cell>>,
    /// What the API (or the form) found wrong with it.
    pub problem: Option<String>,
}

/// The fields of `section` showing `value` (the section's JSON, or nothing), with
/// `problems` at their fields, and `posted` (a form sent back with problems) over `value`
/// for what a person typed that is not a secret.
pub fn views(
    section: &Section,
    value: Option<&Value>,
    posted: Option<&Form>,
    problems: &[FieldProblem],
) -> Vec<FieldView> {
    let empty = Value::Null;
    let value = value.unwrap_or(&empty);
    section
        .fields
        .iter()
        .map(|field| {
            let held = match section.whole() {
                true => value,
                false => value.get(field.key).unwrap_or(&empty),
            };
            let name = match field.key.is_empty() {
                true => "value".to_owned(),
                false => field.key.to_owned(),
            };
            let path = section.field_path(field);
            let problem = problems
                .iter()
                .filter(|problem| concerns(&problem.path, &path))
                .map(|problem| match problem.path == path {
                    true => problem.message.clone(),
                    false => format!(
                        "{}: {}",
                        &problem.path[path.len()..].trim_start_matches('.'),
                        problem.message
                    ),
                })
                .collect::<Vec<_>>();
            let mut view = FieldView {
                id: format!("{}-{}", section.path.replace('.', "-"), name),
                name,
                label: field.label,
                help: field.help,
                input: "text",
                value: String::new(),
                stored: false,
                columns: Vec::new(),
                rows: Vec::new(),
                problem: (!problem.is_empty()).then(|| problem.join("; ")),
            };
            show(field.kind, held, &mut view);
            if let Some(posted) = posted {
                if matches!(view.input, "text" | "number" | "bool" | "lines") {
                    view.value = posted.text(&view.name).to_owned();
                }
            }
            view
        })
        .collect()
}

/// Fills `view` with `held`, as `kind` shows it.
fn show(kind: Kind, held: &Value, view: &mut FieldView) {
    let text = |value: &Value| {
        value
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| match value {
                Value::Null => String::new(),
                other => other.to_string(),
            })
    };
    let set = |value: &Value| value.get("set").and_then(Value::as_bool) == Some(true);
    let name = view.name.clone();
    let cell = |column: &str, i: usize, label: &'static str, input: &'static str| Cell {
        name: format!("{name}.{column}.{i}"),
        label,
        input,
        value: String::new(),
        checked: false,
        stored: false,
    };
    match kind {
        Kind::Text => view.value = text(held),
        Kind::Number => {
            view.input = "number";
            view.value = text(held);
        }
        Kind::Bool => {
            view.input = "bool";
            view.value = text(held);
        }
        Kind::Lines => {
            view.input = "lines";
            view.value = strings(held).join("\n");
        }
        Kind::Pairs => {
            view.input = "lines";
            view.value = held
                .as_object()
                .map(|map| {
                    map.iter()
                        .map(|(key, value)| format!("{key} = {}", text(value)))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default();
        }
        Kind::Secret => {
            view.input = "secret";
            view.stored = set(held);
        }
        Kind::GoProxy => {
            view.value = held
                .as_array()
                .map(|entries| {
                    let mut out = String::new();
                    // Each source is followed by how the next is reached; the last one's `|` is
                    // kept too, though Go reads nothing after it.
                    for (i, entry) in entries.iter().enumerate() {
                        out.push_str(&text(entry.get("source").unwrap_or(&Value::Null)));
                        let any_error =
                            entry.get("fallback").and_then(Value::as_str) == Some("any-error");
                        match (any_error, i + 1 == entries.len()) {
                            (true, _) => out.push('|'),
                            (false, false) => out.push(','),
                            (false, true) => {}
                        }
                    }
                    out
                })
                .unwrap_or_default();
        }
        Kind::SecretRows => {
            view.input = "rows";
            view.columns = vec!["Name", "Secret", "Remove"];
            let keys: Vec<String> = held
                .as_object()
                .map(|map| map.keys().cloned().collect())
                .unwrap_or_default();
            for (i, key) in keys.iter().chain([&String::new()]).enumerate() {
                let mut name_cell = cell("name", i, "Name", "text");
                name_cell.value = key.clone();
                let mut secret = cell("secret", i, "Secret", "password");
                secret.stored = !key.is_empty();
                let mut row = vec![name_cell, secret];
                if !key.is_empty() {
                    row.push(cell("remove", i, "Remove", "checkbox"));
                }
                view.rows.push(row);
            }
        }
        Kind::Rewrites => {
            view.input = "rows";
            view.columns = vec!["Base", "Instead of", "Push instead of", "Remove"];
            let rewrites = held.as_array().cloned().unwrap_or_default();
            for (i, rewrite) in rewrites.iter().chain([&Value::Null]).enumerate() {
                let mut base = cell("base", i, "Base", "text");
                base.value = text(rewrite.get("base").unwrap_or(&Value::Null));
                let mut instead = cell("instead-of", i, "Instead of", "text");
                instead.value =
                    strings(rewrite.get("instead-of").unwrap_or(&Value::Null)).join(" ");
                let mut push = cell("push-instead-of", i, "Push instead of", "text");
                push.value =
                    strings(rewrite.get("push-instead-of").unwrap_or(&Value::Null)).join(" ");
                let mut row = vec![base, instead, push];
                if !rewrite.is_null() {
                    row.push(cell("remove", i, "Remove", "checkbox"));
                }
                view.rows.push(row);
            }
        }
        Kind::Logins => {
            view.input = "rows";
            view.columns = vec!["Proxy", "User name", "Password", "Remove"];
            let logins: Vec<(String, Value)> = held
                .as_object()
                .map(|map| map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            for (i, (proxy, login)) in logins
                .iter()
                .chain([&(String::new(), Value::Null)])
                .enumerate()
            {
                let mut proxy_cell = cell("proxy", i, "Proxy", "text");
                proxy_cell.value = proxy.clone();
                let mut user = cell("username", i, "User name", "text");
                user.value = text(login.get("username").unwrap_or(&Value::Null));
                let mut password = cell("password", i, "Password", "password");
                password.stored = login.get("password").is_some_and(set);
                let mut row = vec![proxy_cell, user, password];
                if !proxy.is_empty() {
                    row.push(cell("remove", i, "Remove", "checkbox"));
                }
                view.rows.push(row);
            }
        }
        Kind::Variables => {
            view.input = "rows";
            view.columns = vec!["Name", "Value", "Secret", "Remove"];
            let variables: Vec<(String, Value)> = held
                .as_object()
                .map(|map| map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            for (i, (name, value)) in variables
                .iter()
                .chain([&(String::new(), Value::Null)])
                .enumerate()
            {
                let mut name_cell = cell("name", i, "Name", "text");
                name_cell.value = name.clone();
                let secret = value.is_object();
                let mut value_cell = cell(
                    "value",
                    i,
                    "Value",
                    match secret {
                        true => "password",
                        false => "text",
                    },
                );
                value_cell.stored = secret && set(value);
                if !secret {
                    value_cell.value = text(value);
                }
                let mut secret_cell = cell("secret", i, "Secret", "checkbox");
                secret_cell.checked = secret;
                let mut row = vec![name_cell, value_cell, secret_cell];
                if !name.is_empty() {
                    row.push(cell("remove", i, "Remove", "checkbox"));
                }
                view.rows.push(row);
            }
        }
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
