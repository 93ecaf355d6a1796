//! A profile's sections as forms: which fields each section has, how a field's JSON value is
//! shown in a form, and how what the form sends becomes JSON again.
//!
//! The JSON is then read and checked exactly as `PUT .../draft` reads its body
//! (`crate::http::json::checked`), so a form's problems are the API's 422 problems, each shown
//! at the field its path names. Secrets are write-only: a form never holds one; an empty
//! secret field keeps what is stored (`{"set": true}`), a typed one replaces it
//! (`{"value": "..."}`).
//!
//! The field names are the profile's JSON keys (README, "Profiles"); a test compares this
//! table with the profile's schema, so a setting cannot be left without a field.

use serde_json::{json, Map, Value};
use switchyard_proto::FieldProblem;

use super::form::Form;

/// How a field is edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One line of text (URLs too: the API, not the browser, says what is wrong with one).
    Text,
    /// A whole number.
    Number,
    /// Unset, true or false.
    Bool,
    /// A list of texts, one per line.
    Lines,
    /// Names and texts, one `NAME = VALUE` per line.
    Pairs,
    /// A secret.
    Secret,
    /// Names each with a secret: one row each, and one to add.
    SecretRows,
    /// `GOPROXY`'s own syntax: sources separated by `,` (next on "not found") or `|` (next on
    /// any error).
    GoProxy,
    /// git's URL rewrites: a base and the URLs it stands in for, a row each.
    Rewrites,
    /// Proxy logins: a proxy URL, a user name and a password, a row each.
    Logins,
    /// Variables: a name and a text or a secret, a row each.
    Variables,
}

/// One setting of a section.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Its JSON key in the section (`registry`), or `""` for a section that is one map (`env`).
    pub key: &'static str,
    /// What people call it.
    pub label: &'static str,
    /// A hint shown under it.
    pub help: &'static str,
    /// How it is edited.
    pub kind: Kind,
}

const fn field(key: &'static str, label: &'static str, help: &'static str, kind: Kind) -> Field {
    Field {
        key,
        label,
        help,
        kind,
    }
}

/// One section of a profile: its JSON path (`npm`, `clients.pnpm`), title and fields.
#[derive(Debug, Clone, Copy)]
pub struct Section {
    /// Its JSON path: a top-level key, or `clients.NAME`.
    pub path: &'static str,
    /// Its heading.
    pub title: &'static str,
    /// What it configures.
    pub about: &'static str,
    /// Its settings.
    pub fields: &'static [Field],
}

const GO: &[Field] = &[
    field("proxy", "GOPROXY", "Sources in Go's syntax: https://goproxy.corp.example,direct (a comma tries the next after \"not found\", | after any error).", Kind::GoProxy),
    field("private", "GOPRIVATE", "Module path patterns, one per line.", Kind::Lines),
    field("noproxy", "GONOPROXY", "Module path patterns, one per line.", Kind::Lines),
    field("nosumdb", "GONOSUMDB", "Module path patterns, one per line.", Kind::Lines),
    field("sumdb", "GOSUMDB", "The checksum database, or off.", Kind::Text),
    field("insecure", "GOINSECURE", "Module path patterns, one per line.", Kind::Lines),
];

const NPM: &[Field] = &[
    field(
        "registry",
        "Registry",
        "https://npm.corp.example/",
        Kind::Text,
    ),
    field(
        "registry-fallbacks",
        "Fallback registries",
        "Tried in order when the registry fails; one per line.",
        Kind::Lines,
    ),
    field(
        "scopes",
        "Scopes",
        "One per line: @scope = registry URL.",
        Kind::Pairs,
    ),
    field(
        "auth-tokens",
        "Tokens",
        "A registry URL and its token; leave a token empty to keep it.",
        Kind::SecretRows,
    ),
    field(
        "strict-ssl",
        "strict-ssl",
        "Whether TLS certificates are checked.",
        Kind::Bool,
    ),
    field(
        "proxy",
        "proxy",
        "http://proxy.corp.example:3128",
        Kind::Text,
    ),
    field(
        "https-proxy",
        "https-proxy",
        "http://proxy.corp.example:3128",
        Kind::Text,
    ),
];

const NPM_CLIENT: &[Field] = &[NPM[0], NPM[2], NPM[3], NPM[4]];

const PYPI: &[Field] = &[
    field(
        "index-url",
        "index-url",
        "https://pypi.corp.example/simple/",
        Kind::Text,
    ),
    field(
        "index-url-fallbacks",
        "Fallback indexes",
        "Tried in order when the index fails; one per line.",
        Kind::Lines,
    ),
    field(
        "extra-index-url",
        "extra-index-url",
        "Further indexes, one per line.",
        Kind::Lines,
    ),
    field(
        "trusted-host",
        "trusted-host",
        "Hosts served over plain HTTP or with certificates not checked, one per line.",
        Kind::Lines,
    ),
    field("timeout", "timeout", "Seconds (pip's alone).", Kind::Number),
];

const PIP_CLIENT: &[Field] = &[PYPI[0], PYPI[2], PYPI[3], PYPI[4]];
const UV_CLIENT: &[Field] = &[PYPI[0], PYPI[2], PYPI[3]];

const CARGO: &[Field] = &[
    field(
        "registry",
        "Mirror of crates.io",
        "sparse+https://crates.corp.example/index/ or a git index URL.",
        Kind::Text,
    ),
    field(
        "registry-token",
        "Mirror's token",
        "Leave empty to keep the stored token.",
        Kind::Secret,
    ),
    field(
        "registries",
        "Registries",
        "One per line: name = index URL.",
        Kind::Pairs,
    ),
    field(
        "tokens",
        "Registry tokens",
        "A registry's name and its token; leave a token empty to keep it.",
        Kind::SecretRows,
    ),
    field(
        "http-proxy",
        "http.proxy",
        "http://proxy.corp.example:3128",
        Kind::Text,
    ),
];

const MAVEN: &[Field] = &[
    field(
        "repository",
        "Repository",
        "https://maven.corp.example/repository/all/",
        Kind::Text,
    ),
    field(
        "mirror-of",
        "mirrorOf",
        "What it stands in for, one per line: *, external:*, central, !id.",
        Kind::Lines,
    ),
    field("username", "User name", "", Kind::Text),
    field(
        "password",
        "Password",
        "Leave empty to keep the stored password.",
        Kind::Secret,
    ),
    field(
        "proxy",
        "Proxy",
        "http://proxy.corp.example:3128",
        Kind::Text,
    ),
    field(
        "no-proxy",
        "No proxy for",
        "Hosts, one per line: *.corp.example.",
        Kind::Lines,
    ),
];

const RUBYGEMS: &[Field] = &[
    field(
        "source",
        "Gem source",
        "https://gems.corp.example/",
        Kind::Text,
    ),
    field("username", "User name", "", Kind::Text),
    field(
        "password",
        "Password",
        "Leave empty to keep the stored password.",
        Kind::Secret,
    ),
];

const GIT: &[Field] = &[
    field(
        "rewrites",
        "URL rewrites",
        "url.BASE.insteadOf: a base and the URLs it replaces (several separated by spaces).",
        Kind::Rewrites,
    ),
    field(
        "http-proxy",
        "http.proxy",
        "http://proxy.corp.example:3128",
        Kind::Text,
    ),
];

const PROXY: &[Field] = &[
    field("http", "HTTP_PROXY", "Such as http://proxy.corp.example:3128", Kind::Text),
    field("https", "HTTPS_PROXY", "Such as http://proxy.corp.example:3128", Kind::Text),
    field("no-proxy", "NO_PROXY", "Hosts and domains, one per line.", Kind::Lines),
    field("credentials", "Proxy logins", "A proxy URL (scheme://host:port), its user name and password; leave a password empty to keep it.", Kind::Logins),
];

const ENV: &[Field] = &[field(
    "",
    "Variables",
    "A name and its value; tick secret for tokens (shown never again).",
    Kind::Variables,
)];

const PROBE_URLS: &[Field] = &[field(
    "",
    "Probe URLs",
    "One per line: endpoint URL = the URL machines probe it with.",
    Kind::Pairs,
)];

/// Every section, in the order of the README's table.
pub const SECTIONS: &[Section] = &[
    Section {
        path: "go",
        title: "Go",
        about: "The go command's variables.",
        fields: GO,
    },
    Section {
        path: "npm",
        title: "npm registry",
        about: "For npm, pnpm and Yarn.",
        fields: NPM,
    },
    Section {
        path: "pypi",
        title: "Python package index",
        about: "For pip and uv.",
        fields: PYPI,
    },
    Section {
        path: "cargo",
        title: "Cargo",
        about: "Crates: a mirror of crates.io and further registries.",
        fields: CARGO,
    },
    Section {
        path: "maven",
        title: "Maven repository",
        about: "For Maven and Gradle.",
        fields: MAVEN,
    },
    Section {
        path: "rubygems",
        title: "Gem source",
        about: "For RubyGems and Bundler.",
        fields: RUBYGEMS,
    },
    Section {
        path: "git",
        title: "git",
        about: "URL rewrites and git's proxy.",
        fields: GIT,
    },
    Section {
        path: "proxy",
        title: "Proxy variables",
        about: "HTTP_PROXY, HTTPS_PROXY and NO_PROXY for every program.",
        fields: PROXY,
    },
    Section {
        path: "env",
        title: "Further variables",
        about: "Variables set for every program, such as GEM_HOST.",
        fields: ENV,
    },
    Section {
        path: "probe-urls",
        title: "Probe URLs",
        about: "Where machines probe an endpoint instead of its own URL.",
        fields: PROBE_URLS,
    },
    Section {
        path: "clients.npm",
        title: "npm's own values",
        about: "Laid over the npm registry's, for npm alone.",
        fields: NPM_CLIENT,
    },
    Section {
        path: "clients.pnpm",
        title: "pnpm's own values",
        about: "Laid over the npm registry's, for pnpm alone.",
        fields: NPM_CLIENT,
    },
    Section {
        path: "clients.yarn",
        title: "Yarn's own values",
        about: "Laid over the npm registry's, for Yarn alone.",
        fields: NPM_CLIENT,
    },
    Section {
        path: "clients.pip",
        title: "pip's own values",
        about: "Laid over the package index's, for pip alone.",
        fields: PIP_CLIENT,
    },
    Section {
        path: "clients.uv",
        title: "uv's own values",
        about: "Laid over the package index's, for uv alone.",
        fields: UV_CLIENT,
    },
    Section {
        path: "clients.maven",
        title: "Maven's own values",
        about: "Laid over the Maven repository's, for Maven alone.",
        fields: MAVEN,
    },
    Section {
        path: "clients.gradle",
        title: "Gradle's own values",
        about: "Laid over the Maven repository's, for Gradle alone.",
        fields: MAVEN,
    },
    Section {
        path: "clients.gem",
        title: "RubyGems' own values",
        about: "Laid over the gem source's, for gem alone.",
        fields: RUBYGEMS,
    },
    Section {
        path: "clients.bundler",
        title: "Bundler's own values",
        about: "Laid over the gem source's, for Bundler alone.",
        fields: RUBYGEMS,
    },
];

/// The section at `path`, if there is one.
pub fn section(path: &str) -> Option<&'static Section> {
    SECTIONS.iter().find(|section| section.path == path)
}

impl Section {
    /// Its value in `profile` (a profile as JSON), if set.
    pub fn value<'a>(&self, profile: &'a Value) -> Option<&'a Value> {
        self.path
            .split('.')
            .try_fold(profile, |value, key| value.get(key))
    }

    /// `profile` with this section replaced by `value`, or left out when `value` is empty.
    pub fn replace(&self, profile: &mut Value, value: Value) {
        let keys: Vec<&str> = self.path.split('.').collect();
        let Some((leaf, parents)) = keys.split_last() else {
            return;
        };
        let mut object = &mut *profile;
        for key in parents {
            if !object.get(*key).is_some_and(Value::is_object) {
                object[*key] = json!({});
            }
            object = &mut object[*key];
        }
        let empty = value.as_object().is_some_and(Map::is_empty);
        if let Some(map) = object.as_object_mut() {
            match empty {
                true => map.remove(*leaf),
                false => map.insert((*leaf).to_owned(), value),
            };
        }
        // `clients` with no client left goes too.
        if let ([parent, _], Some(map)) = (keys.as_slice(), profile.as_object_mut()) {
            let emptied = map
                .get(*parent)
                .and_then(Value::as_object)
                .is_some_and(Map::is_empty);
            if emptied {
                map.remove(*parent);
            }
        }
    }

    /// The JSON path of `field` in the profile, as problems name it.
    pub fn field_path(&self, field: &Field) -> String {
        match field.key.is_empty() {
            true => self.path.to_owned(),
            false => format!("{}.{}", self.path, field.key),
        }
    }

    /// Whether this section is a map itself (`env`, `probe-urls`) rather than an object of
    /// fields.
    fn whole(&self) -> bool {
        self.fields.len() == 1 && self.fields[0].key.is_empty()
    }
}

/// Whether a problem at `path` belongs to the field at `field_path`.
pub fn concerns(path: &str, field_path: &str) -> bool {
    path.strip_prefix(field_path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn form(fields: &[(&str, &str)]) -> Form {
        Form::from_pairs(
            fields
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
        )
    }

    /// The schema's properties of the object `reference` names.
    fn properties(schemas: &Value, reference: &Value) -> Vec<String> {
        let reference = reference["$ref"]
            .as_str()
            .or_else(|| {
                reference["oneOf"]
                    .as_array()
                    .and_then(|options| options.iter().find_map(|o| o["$ref"].as_str()))
            })
            .unwrap_or_else(|| panic!("no reference in {reference}"));
        let name = reference.rsplit('/').next().unwrap();
        let mut keys: Vec<String> = schemas[name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name} has no properties"))
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn every_setting_of_the_profile_schema_has_a_field() {
        let description: Value =
            serde_json::from_str(&crate::http::api_description().to_json().unwrap()).unwrap();
        let schemas = &description["components"]["schemas"];
        let profile = &schemas["Profile"]["properties"];
        let mut top: Vec<&str> = profile
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|key| *key != "clients")
            .collect();
        top.sort();
        let mut ours: Vec<&str> = SECTIONS
            .iter()
            .map(|section| section.path)
            .filter(|path| !path.starts_with("clients."))
            .collect();
        ours.sort();
        assert_eq!(ours, top, "one section per top-level key of a profile");
        for section in SECTIONS.iter().filter(|s| !s.whole()) {
            let schema = match section.path.split_once('.') {
                Some((_, client)) => {
                    let clients = &schemas["ClientOverrides"]["properties"];
                    properties(schemas, &clients[client])
                }
                None => properties(schemas, &profile[section.path]),
            };
            for field in section.fields {
                assert!(
                    schema.iter().any(|key| key == field.key),
                    "{}.{} is not a setting",
                    section.path,
                    field.key
                );
            }
            // A client's section leaves out only what the API refuses there: fallbacks and
            // npm's proxies (stated on the ecosystem alone) and uv's timeout (uv reads none).
            let refused: &[&str] = match section.path {
                "clients.npm" | "clients.pnpm" | "clients.yarn" => {
                    &["registry-fallbacks", "proxy", "https-proxy"]
                }
                "clients.pip" => &["index-url-fallbacks"],
                "clients.uv" => &["index-url-fallbacks", "timeout"],
                _ => &[],
            };
            let missing: Vec<&String> = schema
                .iter()
                .filter(|key| !section.fields.iter().any(|field| field.key == key.as_str()))
                .filter(|key| !refused.contains(&key.as_str()))
                .collect();
            assert!(
                missing.is_empty(),
                "{} has no field for {missing:?}",
                section.path
            );
        }
    }

    #[test]
    fn goproxy_is_edited_in_its_own_syntax() {
        let go = section("go").unwrap();
        let (value, problems) = read(
            go,
            &form(&[("proxy", " https://a.example , https://b.example|direct ")]),
        );
        assert!(problems.is_empty());
        assert_eq!(
            value["proxy"],
            json!([
                { "source": "https://a.example", "fallback": "not-found" },
                { "source": "https://b.example", "fallback": "any-error" },
                { "source": "direct", "fallback": "not-found" },
            ])
        );
        let shown = views(go, Some(&value), None, &[]);
        assert_eq!(shown[0].value, "https://a.example,https://b.example|direct");
        let (last, _) = read(go, &form(&[("proxy", "https://a.example|")]));
        assert_eq!(last["proxy"][0]["fallback"], "any-error");
        assert_eq!(
            views(go, Some(&last), None, &[])[0].value,
            "https://a.example|"
        );
    }

    #[test]
    fn secrets_are_kept_replaced_or_removed_and_never_shown() {
        let npm = section("npm").unwrap();
        let stored = json!({ "auth-tokens": { "https://npm.corp.example/": { "set": true } } });
        let shown = views(npm, Some(&stored), None, &[]);
        let tokens = shown
            .iter()
            .find(|view| view.name == "auth-tokens")
            .unwrap();
        assert_eq!(tokens.rows.len(), 2, "one row each and one to add");
        assert!(tokens.rows[0][1].stored && tokens.rows[0][1].value.is_empty());
        let kept = read(
            npm,
            &form(&[
                ("auth-tokens.name.0", "https://npm.corp.example/"),
                ("auth-tokens.secret.0", ""),
                ("auth-tokens.name.1", "https://other.example/"),
                ("auth-tokens.secret.1", "t0ken"),
            ]),
        )
        .0;
        assert_eq!(
            kept["auth-tokens"],
            json!({
                "https://npm.corp.example/": { "set": true },
                "https://other.example/": { "value": "t0ken" },
            })
        );
        let removed = read(
            npm,
            &form(&[
                ("auth-tokens.name.0", "https://npm.corp.example/"),
                ("auth-tokens.remove.0", "1"),
            ]),
        )
        .0;
        assert_eq!(removed, json!({}));
        let cargo = section("cargo").unwrap();
        let stored = read(
            cargo,
            &form(&[("registry-token", ""), ("registry-token.stored", "1")]),
        )
        .0;
        assert_eq!(stored["registry-token"], json!({ "set": true }));
        let dropped = read(
            cargo,
            &form(&[
                ("registry-token", ""),
                ("registry-token.stored", "1"),
                ("registry-token.remove", "1"),
            ]),
        )
        .0;
        assert_eq!(dropped, json!({}));
    }

    #[test]
    fn pairs_without_an_equals_sign_are_a_problem_at_their_field() {
        let npm = section("npm").unwrap();
        let (value, problems) = read(
            npm,
            &form(&[("scopes", "@corp = https://npm.corp.example/\n\n@oops")]),
        );
        assert_eq!(
            value["scopes"],
            json!({ "@corp": "https://npm.corp.example/" })
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "npm.scopes");
    }

    #[test]
    fn a_section_is_replaced_and_an_empty_one_removed() {
        let pnpm = section("clients.pnpm").unwrap();
        let mut profile = json!({ "npm": { "registry": "https://a/" } });
        pnpm.replace(&mut profile, json!({ "registry": "https://b/" }));
        assert_eq!(profile["clients"]["pnpm"]["registry"], "https://b/");
        pnpm.replace(&mut profile, json!({}));
        assert_eq!(profile, json!({ "npm": { "registry": "https://a/" } }));
        let env = section("env").unwrap();
        let (value, _) = read(
            env,
            &form(&[
                ("value.name.0", "GEM_HOST"),
                ("value.value.0", "https://gems.corp.example"),
                ("value.name.1", "TOKEN"),
                ("value.value.1", "s3cret"),
                ("value.secret.1", "1"),
            ]),
        );
        assert_eq!(
            value,
            json!({ "GEM_HOST": "https://gems.corp.example", "TOKEN": { "value": "s3cret" } })
        );
    }

    #[test]
    fn problems_are_placed_at_the_field_their_path_names() {
        assert!(concerns("npm.scopes.@corp", "npm.scopes"));
        assert!(concerns("go.proxy[0].source", "go.proxy"));
        assert!(concerns("npm.registry", "npm.registry"));
        assert!(!concerns("npm.registry-fallbacks", "npm.registry"));
    }
}
