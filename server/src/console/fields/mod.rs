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

mod read;
mod show;

use serde_json::{json, Map, Value};

pub use read::read;
pub use show::{views, Cell, FieldView};

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
        "Such as https://npm.corp.example/",
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
        "Such as https://pypi.corp.example/simple/",
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
        "Such as sparse+https://crates.corp.example/index/, or a git index URL.",
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
        "Such as https://maven.corp.example/repository/all/",
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
        "Such as https://gems.corp.example/",
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

#[cfg(test)]
mod tests;
