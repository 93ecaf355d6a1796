//! Files: each format's lines as users and their tools write them, lines no client reads,
//! and now and then a file the client cannot read at all.

use std::collections::BTreeSet;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::Index;
use switchyard_agent::plan::{Setting, Target};

use super::profiles::GIT_BASES;
use super::{editor_of, plain, re, set_all, word};

/// `body` (lines ending in `\n`) with the line endings of one style (LF, CRLF, a lone CR, or
/// CRLF and LF in turn), maybe a byte-order mark first, maybe no ending last.
pub(crate) fn file(body: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    (
        body,
        0..10_u8,
        proptest::bool::weighted(0.1),
        proptest::bool::weighted(0.3),
    )
        .prop_map(|(body, style, bom, open)| {
            let mut text = String::from(if bom { "\u{feff}" } else { "" });
            for (at, line) in body.split_inclusive('\n').enumerate() {
                let Some(line) = line.strip_suffix('\n') else {
                    text.push_str(line);
                    continue;
                };
                text.push_str(line);
                text.push_str(match style {
                    0..=4 => "\n",
                    5..=7 => "\r\n",
                    8 => "\r",
                    _ if at % 2 == 0 => "\r\n",
                    _ => "\n",
                });
            }
            if open {
                for ending in ["\r\n", "\n", "\r"] {
                    if let Some(kept) = text.strip_suffix(ending).map(str::len) {
                        text.truncate(kept);
                        break;
                    }
                }
            }
            text
        })
}

/// As [`file`], for a format of lines that end at LF alone (`Breaks::Lf`: Go's env file,
/// environment.d, the shell snippet, Bundler's config): no CR just before the file's end. Go
/// and sh keep a lone CR in the line, and so does the agent's model; but a line the agent adds
/// after the user's last one gives it the LF it lacked, and the model then reads that CR and
/// the LF as a CRLF ending. Every byte is kept; only the model's reading of the user's last
/// line changes (its text loses the CR). A lone CR anywhere else is made.
pub(crate) fn lf_file(body: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    file(body).prop_map(|text| text.trim_end_matches('\r').to_owned())
}

/// Up to `most` of `line`, each ending in `\n`.
pub(crate) fn lines(
    line: impl Strategy<Value = String>,
    most: usize,
) -> impl Strategy<Value = String> {
    vec(line, 0..most).prop_map(|lines| {
        lines
            .iter()
            .map(|line| format!("{line}\n"))
            .collect::<String>()
    })
}

/// A value as a user writes one: plain, with spaces, quotes, escapes, comment characters, or
/// beyond ASCII.
fn user_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => re("[a-z0-9:/._-]{0,16}"),
        1 => re("[ -~]{0,16}"),
        1 => re("[ -~àé€✓😀]{0,8}"),
    ]
}

const NPM_KEYS: &[&str] = &[
    "registry",
    "@corp:registry",
    "@mine:registry",
    "@a.b:registry",
    "//npm.corp.example/:_authToken",
    "//r.example/:_authToken",
    "strict-ssl",
    "proxy",
    "https-proxy",
    "save-exact",
];

pub(crate) fn npmrc_line() -> impl Strategy<Value = String> {
    let key = || prop_oneof![4 => word(NPM_KEYS), 1 => re("[a-z@/:._-]{1,10}")];
    prop_oneof![
        6 => (key(), re("[ \t]{0,2}=[ \t]{0,2}"), user_value())
            .prop_map(|(key, equals, value)| format!("{key}{equals}{value}")),
        1 => (key(), re("[ -~é]{0,12}")).prop_map(|(key, value)| format!("\"{key}\"=\"{value}\"")),
        1 => (key(), user_value()).prop_map(|(key, value)| format!("{key}[]={value}")),
        1 => key(),
        1 => re("[#;] ?[ -~é]{0,16}"),
        1 => re("[ \t]{0,3}"),
        1 => re("\\[[a-z ]{0,6}\\] ?"),
        1 => re("\\PC{0,24}"),
    ]
}

const GO_KEYS: &[&str] = &[
    "GOPROXY",
    "GOPRIVATE",
    "GONOPROXY",
    "GONOSUMDB",
    "GOSUMDB",
    "GOINSECURE",
    "GOFLAGS",
    "gOPROXY",
];

pub(crate) fn go_line() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => (prop_oneof![4 => word(GO_KEYS), 1 => re("[A-Za-z][A-Z0-9_]{0,6}")], re("[ -~é]{0,16}"))
            .prop_map(|(key, value)| format!("{key}={value}")),
        1 => (word(GO_KEYS), user_value()).prop_map(|(key, value)| format!(" {key}={value}")),
        1 => re("#[ -~]{0,12}"),
        1 => Just(String::new()),
        1 => re("\\PC{0,20}"),
    ]
}

const ENV_KEYS: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SY_TOKEN",
    "SY_HOME",
    "GEM_HOST",
    "PATH",
];

/// A line of environment.d or of a shell snippet: each format's own, and the other's.
pub(crate) fn env_line() -> impl Strategy<Value = String> {
    let key = || prop_oneof![4 => word(ENV_KEYS), 1 => re("[A-Za-z_][A-Za-z0-9_]{0,6}")];
    // Text without `'`, to go between single quotes.
    let quotable = || re("[ -&(-~é]{0,12}");
    prop_oneof![
        3 => (key(), re("[a-z0-9:/.,_-]{0,16}")).prop_map(|(key, value)| format!("{key}={value}")),
        1 => (key(), re("[ -~é]{0,12}")).prop_map(|(key, value)| {
            format!("{key}=\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
        }),
        1 => (key(), quotable()).prop_map(|(key, value)| format!("{key}='{value}'")),
        2 => (key(), quotable()).prop_map(|(key, value)| format!("export {key}='{value}'")),
        1 => (key(), re("[a-z0-9:/._-]{0,12}")).prop_map(|(key, value)| format!("export {key}={value}")),
        1 => key().prop_map(|key| format!("export {key}='it'\\''s' \\")),
        1 => re("[#;] ?[ -~é]{0,12}"),
        1 => re("\\PC{0,20}"),
    ]
}

const BUNDLE_KEYS: &[&str] = &[
    "BUNDLE_MIRROR__HTTPS://RUBYGEMS__ORG/",
    "BUNDLE_GEMS__CORP__EXAMPLE",
    "BUNDLE_R__EXAMPLE",
    "BUNDLE_NPM__CORP__EXAMPLE",
    "BUNDLE_JOBS",
    "BUNDLE_PATH",
];

pub(crate) fn bundler_line() -> impl Strategy<Value = String> {
    let key = || prop_oneof![4 => word(BUNDLE_KEYS), 1 => re("BUNDLE_[A-Z_]{1,8}")];
    prop_oneof![
        5 => (key(), re("[ -~é]{0,12}")).prop_map(|(key, value)| format!("{key}: \"{value}\"")),
        1 => (key(), re("[ -~]{0,12}")).prop_map(|(key, value)| format!("{key}: '{value}'")),
        1 => (key(), re("[a-z0-9:/.]{0,12}")).prop_map(|(key, value)| format!("{key}: {value}")),
        1 => Just("---".to_owned()),
        1 => re("# [ -~]{0,12}"),
        // A line that starts with a blank: Bundler cannot read the file.
        1 => (key(), re("[a-z]{0,6}")).prop_map(|(key, value)| format!(" {key}: \"{value}\"")),
    ]
}

pub(crate) const JAVA_KEYS: &[&str] = &[
    "systemProp.http.proxyHost",
    "systemProp.http.proxyPort",
    "systemProp.https.proxyHost",
    "systemProp.https.proxyPort",
    "systemProp.http.proxyUser",
    "systemProp.http.proxyPassword",
    "systemProp.https.proxyUser",
    "systemProp.https.proxyPassword",
    "systemProp.http.nonProxyHosts",
    "switchyard.repository.username",
    "switchyard.repository.password",
    "org.gradle.jvmargs",
    "org.gradle.caching",
];

pub(crate) fn java_line() -> impl Strategy<Value = String> {
    let key = || {
        prop_oneof![
            6 => word(JAVA_KEYS),
            // The same key with an escape Java reads as the letter.
            1 => word(JAVA_KEYS).prop_map(|key| key.replacen("proxy", "prox\\y", 1)),
            1 => re("[a-z.]{1,8}"),
        ]
    };
    let value = || re("[ -~é€]{0,12}");
    prop_oneof![
        5 => (key(), word(&["=", " = ", ":", " ", "\t:"]), value())
            .prop_map(|(key, separator, value)| format!("{key}{separator}{value}")),
        1 => (key(), value(), value())
            .prop_map(|(key, value, more)| format!("{key}={value}\\\n   {more}")),
        1 => (key(), value()).prop_map(|(key, value)| format!("  {key} = {value}")),
        1 => word(&["\\u00e9=x", "a=\\uZZ", "b=\\u00"]),
        1 => re("[#!][ -~é]{0,12}"),
        1 => Just(String::new()),
        1 => re("\\PC{0,16}"),
    ]
}

const PIP_KEYS: &[&str] = &[
    "index-url",
    "index_url",
    "Index-URL",
    "--index-url",
    "pypi-url",
    "extra-index-url",
    "extra_index_url",
    "trusted-host",
    "timeout",
    "default-timeout",
    "user",
];

/// A pip file configparser reads: each section once, each key once in it (some are
/// spellings pip takes for one), values that go on over deeper lines, comments and blank
/// lines inside them; now and then something before the first section.
pub(crate) fn pip_file() -> impl Strategy<Value = String> {
    let entry = (
        word(&["", "", "  "]),
        word(PIP_KEYS),
        word(&[" = ", "=", ": ", " : "]),
        re("[a-z0-9:/._-]{0,16}"),
        vec(
            word(&[
                "    https://old.example/simple",
                "  # legacy mirror",
                "",
                "      more",
            ]),
            0..2,
        ),
    );
    let section = (
        word(&["global", "install", "download", "DEFAULT", "freeze"]),
        vec(entry, 0..4),
    );
    (
        prop_oneof![
            8 => Just(String::new()),
            1 => re("\\PC{1,16}\n"),
            1 => Just("timeout = 5\n".to_owned()),
        ],
        word(&["", "# my pip\n", "; pip\n\n"]),
        vec(section, 0..4),
    )
        .prop_map(|(stray, prelude, sections)| {
            let mut text = format!("{stray}{prelude}");
            let mut seen = BTreeSet::new();
            for (name, entries) in sections {
                if !seen.insert(name.clone()) {
                    continue;
                }
                text.push_str(&format!("[{name}]\n"));
                let mut keys = BTreeSet::new();
                for (indent, key, separator, value, more) in entries {
                    if keys.insert(key.to_lowercase()) {
                        text.push_str(&format!("{indent}{key}{separator}{value}\n"));
                        for line in more {
                            text.push_str(&format!("{line}\n"));
                        }
                    }
                }
            }
            text
        })
}

const GIT_KEYS: &[&str] = &[
    "proxy",
    "insteadOf",
    "insteadof",
    "pushInsteadOf",
    "name",
    "email",
    "sslVerify",
];

/// A git config: sections (a rewrite's under the bases the profiles use), keys in any case,
/// quoted values, comments after values, escapes, values that go on over a line, keys alone.
pub(crate) fn git_file() -> impl Strategy<Value = String> {
    let value = || {
        prop_oneof![
            4 => re("[A-Za-z0-9@:/._~+-]{1,16}").prop_map(|value| format!(" = {value}")),
            1 => re("[a-z ;#]{0,8}").prop_map(|value| format!(" = \"{value}\"")),
            1 => re("[a-z:/.]{1,8}").prop_map(|value| format!("=  {value} ; note")),
            1 => re("[a-z]{1,6}").prop_map(|value| format!(" = {value}\\\n  more")),
            1 => Just(String::new()),
            1 => Just(" = a\\tb # x".to_owned()),
        ]
    };
    let key = || {
        (word(&["\t", "", "    "]), word(GIT_KEYS), value())
            .prop_map(|(indent, key, value)| format!("{indent}{key}{value}\n"))
    };
    let line = || {
        prop_oneof![
            6 => key(),
            1 => re("[#;] ?[ -~]{0,12}\n"),
            1 => Just("\n".to_owned()),
        ]
    };
    let header = prop_oneof![
        4 => word(&["[http]", "[HTTP]", "[core]", "[user]", "[http \"https://x.example/\"]"]),
        4 => word(GIT_BASES).prop_map(|base| format!("[url \"{base}\"]")),
        1 => word(GIT_BASES).prop_map(|base| format!("[Url \"{base}\"] # mirror")),
        1 => re("\\PC{1,12}"),
    ];
    (vec(line(), 0..2), vec((header, vec(line(), 0..4)), 0..4)).prop_map(|(prelude, sections)| {
        let mut text: String = prelude.concat();
        for (header, lines) in sections {
            text.push_str(&format!("{header}\n"));
            text.push_str(&lines.concat());
        }
        text
    })
}

/// `text` as a TOML basic string.
fn basic(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => re("[ -~àé€😀]{0,12}").prop_map(|text| basic(&text)),
        1 => re("[ -&(-~é]{0,12}").prop_map(|text| format!("'{text}'")),
    ]
}

fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => toml_string(),
        1 => re("-?[0-9]{1,4}"),
        1 => word(&["true", "false"]),
        1 => vec(word(&["\"mine.example\"", "\"a.example\"", "'b'"]), 0..3)
            .prop_map(|items| format!("[{}]", items.join(", "))),
        1 => toml_string().prop_map(|index| format!("{{ index = {index} }}")),
        // Not TOML.
        1 => re("\\PC{1,10}"),
    ]
}

const TOML_ROOT_KEYS: &[&str] = &[
    "index-url",
    "native-tls",
    "allow-insecure-host",
    "offline",
    "registries.corp.index",
    "http.proxy",
];
const TOML_TABLES: &[&str] = &[
    "http",
    "net",
    "source.crates-io",
    "source.mine",
    "registries.corp",
    "registries.switchyard",
    "registries",
    "registry",
    "pip",
];
const TOML_KEYS: &[&str] = &[
    "proxy",
    "timeout",
    "replace-with",
    "registry",
    "index",
    "token",
    "credential-provider",
    "offline",
    "corp",
    "default",
];

/// One `key = value` line of a table, maybe after a comment or a blank line, and its key.
fn toml_line(keys: &'static [&'static str]) -> impl Strategy<Value = (String, String)> {
    (
        word(keys),
        word(&[" = ", "=", "  =  "]),
        toml_value(),
        word(&["", "", "", " # mine", "\t# x"]),
        word(&["", "", "", "\n", "# note\n"]),
    )
        .prop_map(|(key, equals, value, comment, before)| {
            let line = format!("{before}{key}{equals}{value}{comment}\n");
            (key, line)
        })
}

/// The lines whose key is not one of an earlier line's: TOML refuses a key twice.
fn push_unique(text: &mut String, lines: Vec<(String, String)>) {
    let mut seen = BTreeSet::new();
    for (key, line) in lines {
        if seen.insert(key) {
            text.push_str(&line);
        }
    }
}

/// A Cargo or uv file: keys at the top, tables (each once), inline tables, arrays, the
/// `[[index]]` tables uv reads (the agent's names among them), and now and then what is
/// not TOML.
pub(crate) fn toml_file() -> impl Strategy<Value = String> {
    (
        vec(toml_line(TOML_ROOT_KEYS), 0..4),
        vec((word(TOML_TABLES), vec(toml_line(TOML_KEYS), 0..4)), 0..4),
        vec(
            (
                word(&["mine", "switchyard", "switchyard-extra-1", "other"]),
                toml_string(),
                any::<bool>(),
            ),
            0..3,
        ),
    )
        .prop_map(|(root, tables, indexes)| {
            let mut text = String::new();
            push_unique(&mut text, root);
            let mut seen = BTreeSet::new();
            for (name, lines) in tables {
                if seen.insert(name.clone()) {
                    text.push_str(&format!("[{name}]\n"));
                    push_unique(&mut text, lines);
                }
            }
            for (name, url, default) in indexes {
                text.push_str(&format!("[[index]]\nname = \"{name}\"\nurl = {url}\n"));
                if default {
                    text.push_str("default = true\n");
                }
            }
            text
        })
}

const YAML_KEYS: &[&str] = &[
    "npmRegistryServer",
    "npmScopes",
    "npmRegistries",
    "unsafeHttpWhitelist",
    "enableStrictSsl",
    "httpProxy",
    "httpsProxy",
    "enableTelemetry",
    ":sources",
    ":backtrace",
    "gem",
    "yarnPath",
];
const YAML_NAMES: &[&str] = &[
    "corp",
    "mine",
    "\"corp\"",
    "a.b",
    "\"https://npm.corp.example\"",
    "https://r.example",
    "'//npm.corp.example'",
];

fn yaml_scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => re("[a-z0-9][a-z0-9/._-]{0,15}"),
        2 => word(&[
            "https://rubygems.org/",
            "mine.example",
            "npm.corp.example",
            "https://npm.corp.example/",
        ]),
        1 => re("[ -~àé€]{0,10}").prop_map(|text| {
            format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
        }),
        1 => re("[ -&(-~é]{0,10}").prop_map(|text| format!("'{text}'")),
        1 => word(&["~", "null", "", "true", "false", "123", "{}", "[]"]),
    ]
}

/// A top-level key and its text: a scalar, mappings of mappings (Yarn's scopes and
/// registries), a list (indented or not), a flow list or flow mapping; maybe after a comment
/// or a blank line.
fn yaml_entry() -> impl Strategy<Value = (String, String)> {
    let body = prop_oneof![
        4 => (yaml_scalar(), word(&["", "", " # mine"]))
            .prop_map(|(value, comment)| format!(" {value}{comment}\n")),
        2 => (vec((word(YAML_NAMES), yaml_scalar(), yaml_scalar()), 1..3), word(&["  ", "    "]))
            .prop_map(|(entries, step)| {
                let mut text = String::from("\n");
                for (name, server, token) in entries {
                    text.push_str(&format!(
                        "{step}{name}:\n{step}{step}npmRegistryServer: {server}\n{step}{step}npmAuthToken: {token}\n"
                    ));
                }
                text
            }),
        2 => (vec(yaml_scalar(), 1..3), word(&["  - ", "- "])).prop_map(|(items, dash)| {
            let mut text: String = items.iter().map(|item| format!("\n{dash}{item}")).collect();
            text.push('\n');
            text
        }),
        1 => vec(yaml_scalar(), 0..3).prop_map(|items| format!(" [{}]\n", items.join(", "))),
        1 => (word(YAML_NAMES), yaml_scalar())
            .prop_map(|(name, server)| format!(" {{{name}: {{npmRegistryServer: {server}}}}}\n")),
    ];
    (word(YAML_KEYS), body, word(&["", "", "", "\n", "# note\n"])).prop_map(
        |(key, body, before)| {
            let text = format!("{before}{key}:{body}");
            (key, text)
        },
    )
}

/// A Yarn or RubyGems file: a mapping of keys, each once but now and then one given twice
/// (its readers take the last), maybe a document start; now and then one that is no mapping.
pub(crate) fn yaml_file() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => (
            word(&["", "", "---\n", "# my yarn\n"]),
            vec(yaml_entry(), 0..6),
            proptest::bool::weighted(0.1),
        )
            .prop_map(|(start, entries, twice)| {
                let mut text = start;
                let mut seen = BTreeSet::new();
                let mut first = None;
                for (key, entry) in entries {
                    if seen.insert(key) {
                        if first.is_none() {
                            first = Some(entry.clone());
                        }
                        text.push_str(&entry);
                    }
                }
                if let (true, Some(entry)) = (twice, first) {
                    text.push_str(&entry);
                }
                text
            }),
        1 => word(&["{}\n", "[]\n", "- a\n- b\n", "key: [unclosed\n", "\tkey: tab\n"]),
        1 => re("\\PC{0,24}"),
    ]
}

/// Text as a user's `settings.xml` holds a value: plain, escaped, with character references,
/// CDATA, a comment, white space around.
fn xml_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => re("[a-zA-Z0-9:/._*,!-]{0,16}"),
        1 => re("[ -~àé€]{0,12}").prop_map(|text| {
            text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
        }),
        1 => re("[a-z]{0,6}").prop_map(|text| format!("{text}&amp;&#x41;&#233;")),
        1 => re("[ -\\\\^-~]{0,8}").prop_map(|text| format!("<![CDATA[{text}]]>")),
        1 => re("[a-z]{1,8}").prop_map(|text| format!("\n   {text}  ")),
        1 => re("[a-z]{0,4}").prop_map(|text| format!("{text}<!-- old -->")),
    ]
}

/// One item of a list (a `<mirror>` of `<mirrors>`): maybe its `<id>`, and fields, each once.
type XmlItem = (Option<String>, Vec<(String, String)>);

fn xml_item(
    ids: &'static [&'static str],
    fields: &'static [&'static str],
) -> impl Strategy<Value = XmlItem> {
    (
        option::weighted(0.9, word(ids)),
        vec((word(fields), xml_text()), 0..4),
    )
}

/// The ids the agent gives its own mirror, server and proxies in `settings.xml`.
const AGENT_IDS: &[&str] = &["switchyard", "switchyard-http", "switchyard-https"];

fn xml_list(out: &mut String, step: &str, list: &str, item: &str, items: Vec<XmlItem>) {
    if items.is_empty() {
        out.push_str(&format!("{step}<{list}/>\n"));
        return;
    }
    out.push_str(&format!("{step}<{list}>\n"));
    // Each of the agent's ids once in a list: the editor takes the agent's item by its id, and
    // where a file holds two, it cannot take its settings out and leave both as they read (it
    // refuses, "would not read back as written; not written", and writes nothing).
    let mut agents = BTreeSet::new();
    for (id, fields) in items {
        let id = id.map(|id| {
            let again = AGENT_IDS.contains(&id.as_str()) && !agents.insert(id.clone());
            if again {
                "theirs".to_owned()
            } else {
                id
            }
        });
        out.push_str(&format!("{step}{step}<{item}>\n"));
        if let Some(id) = id {
            out.push_str(&format!("{step}{step}{step}<id>{id}</id>\n"));
        }
        let mut seen = BTreeSet::new();
        for (name, text) in fields {
            if seen.insert(name.clone()) {
                out.push_str(&format!("{step}{step}{step}<{name}>{text}</{name}>\n"));
            }
        }
        out.push_str(&format!("{step}{step}</{item}>\n"));
    }
    out.push_str(&format!("{step}</{list}>\n"));
}

/// A `settings.xml` Maven reads (each of its fields once, lists of mirrors, servers and
/// proxies with the agent's ids among them), and now and then one it cannot.
pub(crate) fn xml_file() -> impl Strategy<Value = String> {
    let document = (
        word(&[
            "",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<?xml version=\"1.0\"?>\n",
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n",
        ]),
        word(&["", "<!-- mine -->\n"]),
        word(&[
            "<settings>",
            "<settings xmlns=\"http://maven.apache.org/SETTINGS/1.0.0\">",
            "<settings\n    xmlns=\"http://maven.apache.org/SETTINGS/1.0.0\">",
        ]),
        word(&["  ", "    ", "\t"]),
        option::of(xml_text()),
        option::of(word(&["true", "false", " false "])),
        option::of(vec(
            xml_item(
                &["switchyard", "theirs", "central"],
                &["url", "mirrorOf", "name", "layout"],
            ),
            0..3,
        )),
        option::of(vec(
            xml_item(
                &["switchyard", "theirs"],
                &["username", "password", "filePermissions"],
            ),
            0..3,
        )),
        option::of(vec(
            xml_item(
                &["switchyard-http", "switchyard-https", "theirs"],
                &[
                    "host",
                    "port",
                    "active",
                    "protocol",
                    "username",
                    "nonProxyHosts",
                ],
            ),
            0..3,
        )),
    )
        .prop_map(
            |(declaration, comment, open, step, local, offline, mirrors, servers, proxies)| {
                let mut out = format!("{declaration}{comment}{open}\n");
                if let Some(text) = local {
                    out.push_str(&format!(
                        "{step}<localRepository>{text}</localRepository>\n"
                    ));
                }
                if let Some(text) = offline {
                    out.push_str(&format!("{step}<offline>{text}</offline>\n"));
                }
                for (list, item, items) in [
                    ("mirrors", "mirror", mirrors),
                    ("servers", "server", servers),
                    ("proxies", "proxy", proxies),
                ] {
                    if let Some(items) = items {
                        xml_list(&mut out, &step, list, item, items);
                    }
                }
                out.push_str("</settings>\n");
                out
            },
        );
    prop_oneof![
        12 => document,
        1 => word(&[
            "",
            "<settings/>\n",
            "<settings></settings>",
            "<project></project>\n",
            "<settings><mirrors></settings>\n",
            "<settings>&nbsp;</settings>\n",
        ]),
        1 => re("\\PC{0,24}"),
    ]
}

/// The agent's init script, as the editor writes it for some entries, with now and then a
/// line put in by hand (an entry, a broken one, anything); or a file of the user's.
pub(crate) fn init_file() -> impl Strategy<Value = String> {
    let entries = vec(
        (word(&["url", "mirrorOf", "extra"]), re("[ -~àé€]{0,12}")),
        0..3,
    );
    let put_in = vec(
        (
            any::<Index>(),
            prop_oneof![
                2 => re("\\PC{0,20}"),
                1 => re("switchyard\\['[a-z]{0,5}'\\] = '[a-z]{0,5}'"),
                1 => Just("switchyard[x".to_owned()),
                1 => Just(String::new()),
            ],
        ),
        0..3,
    );
    prop_oneof![
        4 => (entries, put_in).prop_map(|(entries, put_in)| {
            let settings: Vec<Setting> = entries
                .iter()
                .map(|(key, value)| Setting { values: vec![value.clone()], ..plain(key) })
                .collect();
            let written = editor_of(Target::Gradle)
                .render("", &set_all(&settings))
                .unwrap_or_default();
            let mut lines: Vec<String> =
                written.split_inclusive('\n').map(str::to_owned).collect();
            for (at, line) in put_in {
                let at = at.index(lines.len() + 1);
                lines.insert(at, format!("{line}\n"));
            }
            lines.concat()
        }),
        1 => file(lines(re("\\PC{0,30}"), 6)),
    ]
}
