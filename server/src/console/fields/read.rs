//! What a section's form sends, as the section's JSON.

use serde_json::{json, Map, Value};
use switchyard_proto::FieldProblem;

use super::{Kind, Section};
use crate::console::form::Form;

/// Most rows a form's field may send: past this a form was not made by a page.
const MOST_ROWS: usize = 1000;

/// The section's JSON for what `posted` holds, and the problems of lines the form itself
/// cannot read (a `NAME = VALUE` line without `=`), each at its field's path.
pub fn read(section: &Section, posted: &Form) -> (Value, Vec<FieldProblem>) {
    let mut problems = Vec::new();
    let mut object = Map::new();
    for field in section.fields {
        let name = match field.key.is_empty() {
            true => "value",
            false => field.key,
        };
        let path = section.field_path(field);
        let text = posted.text(name).trim();
        let value = match field.kind {
            Kind::Text => (!text.is_empty()).then(|| json!(text)),
            Kind::Number => (!text.is_empty()).then(|| {
                text.parse::<u64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| json!(text))
            }),
            Kind::Bool => match text {
                "true" => Some(json!(true)),
                "false" => Some(json!(false)),
                _ => None,
            },
            Kind::Lines => {
                let lines = lines(text);
                (!lines.is_empty()).then(|| json!(lines))
            }
            Kind::Pairs => {
                let mut map = Map::new();
                for line in lines(text) {
                    match line.split_once('=') {
                        Some((key, value)) => {
                            map.insert(key.trim().to_owned(), json!(value.trim()));
                        }
                        None => problems.push(FieldProblem {
                            path: path.clone(),
                            message: format!("each line is NAME = VALUE; \"{line}\" has no ="),
                        }),
                    }
                }
                (!map.is_empty()).then_some(Value::Object(map))
            }
            Kind::Secret => {
                let typed = posted.get(name).unwrap_or_default();
                match (
                    typed.is_empty(),
                    posted.ticked(&format!("{name}.remove")),
                    posted.ticked(&format!("{name}.stored")),
                ) {
                    (_, true, _) => None,
                    (false, false, _) => Some(json!({ "value": typed })),
                    (true, false, true) => Some(json!({ "set": true })),
                    (true, false, false) => None,
                }
            }
            Kind::GoProxy => {
                let mut entries = Vec::new();
                let mut source = String::new();
                for c in text.chars().chain([',']) {
                    match c {
                        ',' | '|' => {
                            let trimmed = source.trim();
                            if !trimmed.is_empty() {
                                let fallback = match c {
                                    '|' => "any-error",
                                    _ => "not-found",
                                };
                                entries.push(json!({ "source": trimmed, "fallback": fallback }));
                            }
                            source.clear();
                        }
                        c => source.push(c),
                    }
                }
                (!entries.is_empty()).then(|| json!(entries))
            }
            Kind::SecretRows => {
                let mut map = Map::new();
                for i in 0..rows(posted, name, "name") {
                    let key = posted.text(&format!("{name}.name.{i}")).trim();
                    let secret = posted
                        .get(&format!("{name}.secret.{i}"))
                        .unwrap_or_default();
                    if key.is_empty() || posted.ticked(&format!("{name}.remove.{i}")) {
                        continue;
                    }
                    // An empty secret keeps the stored one; the API says when none is stored.
                    let value = match secret.is_empty() {
                        false => json!({ "value": secret }),
                        true => json!({ "set": true }),
                    };
                    map.insert(key.to_owned(), value);
                }
                (!map.is_empty()).then_some(Value::Object(map))
            }
            Kind::Rewrites => {
                let mut rewrites = Vec::new();
                for i in 0..rows(posted, name, "base") {
                    let base = posted.text(&format!("{name}.base.{i}")).trim();
                    let instead = words(posted.text(&format!("{name}.instead-of.{i}")));
                    let push = words(posted.text(&format!("{name}.push-instead-of.{i}")));
                    let blank = base.is_empty() && instead.is_empty() && push.is_empty();
                    if blank || posted.ticked(&format!("{name}.remove.{i}")) {
                        continue;
                    }
                    let mut rewrite = json!({ "base": base, "instead-of": instead });
                    if !push.is_empty() {
                        rewrite["push-instead-of"] = json!(push);
                    }
                    rewrites.push(rewrite);
                }
                (!rewrites.is_empty()).then(|| json!(rewrites))
            }
            Kind::Logins => {
                let mut map = Map::new();
                for i in 0..rows(posted, name, "proxy") {
                    let proxy = posted.text(&format!("{name}.proxy.{i}")).trim();
                    let username = posted.text(&format!("{name}.username.{i}")).trim();
                    let password = posted
                        .get(&format!("{name}.password.{i}"))
                        .unwrap_or_default();
                    if proxy.is_empty() || posted.ticked(&format!("{name}.remove.{i}")) {
                        continue;
                    }
                    let password = match password.is_empty() {
                        true => json!({ "set": true }),
                        false => json!({ "value": password }),
                    };
                    map.insert(
                        proxy.to_owned(),
                        json!({ "username": username, "password": password }),
                    );
                }
                (!map.is_empty()).then_some(Value::Object(map))
            }
            Kind::Variables => {
                let mut map = Map::new();
                for i in 0..rows(posted, name, "name") {
                    let variable = posted.text(&format!("{name}.name.{i}")).trim();
                    let value = posted.get(&format!("{name}.value.{i}")).unwrap_or_default();
                    if variable.is_empty() || posted.ticked(&format!("{name}.remove.{i}")) {
                        continue;
                    }
                    let value = match (
                        posted.ticked(&format!("{name}.secret.{i}")),
                        value.is_empty(),
                    ) {
                        (true, true) => json!({ "set": true }),
                        (true, false) => json!({ "value": value }),
                        (false, _) => json!(value),
                    };
                    map.insert(variable.to_owned(), value);
                }
                (!map.is_empty()).then_some(Value::Object(map))
            }
        };
        match (value, section.whole()) {
            (Some(value), true) => return (value, problems),
            (Some(value), false) => {
                object.insert(field.key.to_owned(), value);
            }
            (None, _) => {}
        }
    }
    (Value::Object(object), problems)
}

/// How many rows the form sent for a rows field (by the column every row has), at most
/// [`MOST_ROWS`].
fn rows(posted: &Form, name: &str, column: &str) -> usize {
    let prefix = format!("{name}.{column}.");
    posted
        .names()
        .filter_map(|key| key.strip_prefix(&prefix)?.parse::<usize>().ok())
        .map(|i| i + 1)
        .max()
        .unwrap_or(0)
        .min(MOST_ROWS)
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

fn words(text: &str) -> Vec<String> {
    text.split([' ', ',', '\t'])
        .map(str::trim)
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}
