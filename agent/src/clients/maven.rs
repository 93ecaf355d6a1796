//! Maven: where it reads its mirrors, logins and proxies, and how the agent asks it.
//!
//! Order (Maven's "Settings Reference" and "Guide to Mirror Settings"; Maven 3
//! `MavenCli.settings`, `DefaultSettingsBuilder`, `DefaultMirrorSelector`; each point seen with
//! Maven 3.8.7): the user's settings, `${user.home}/.m2/settings.xml` (Java's `user.home`: the
//! account's home from the system, which `-Duser.home=` in `MAVEN_OPTS` changes; on Windows
//! `%USERPROFILE%\.m2\settings.xml`), or the file `-s`/`--settings` names on the command line,
//! in `MAVEN_ARGS` (Maven 3.9) or in a project's `.mvn/maven.config`; then the global
//! settings of Maven's installation (`${maven.home}/conf/settings.xml`), under the user's: a
//! mirror, server or proxy whose id the user's file has is the user's. Maven reads no proxy
//! variables. Every value is trimmed, `${...}` is interpolated from the environment and
//! properties, and a password in braces is taken for an encrypted one.
//!
//! A repository goes to the mirror whose whole `mirrorOf` is its id, else to the first (user's
//! before global) whose patterns match it, read in order (`*`, `external:*`, an id; `!id`
//! leaves it out unless an earlier pattern took it). A request goes through the first active
//! proxy of its protocol whose `nonProxyHosts` (whole host names, `*` for any part) does not
//! name the host; a host it names goes through the next such proxy, direct only when there is
//! none. A repository's login is the `<server>` with its id (a mirror's, for a mirrored one).
//!
//! The agent writes, in the user's `settings.xml` (owner-only when it holds a password): the
//! mirror `switchyard` first among the mirrors (its `url`, its `mirrorOf`), the server
//! `switchyard` (`username`, `password`), and the proxies `switchyard-http` and
//! `switchyard-https` first among the proxies (the one proxy, for both protocols, with its
//! login from `proxy.credentials` and its `nonProxyHosts`). The machine's settings live in
//! Maven's installation, which the agent does not edit.
//!
//! Asked with `mvn -X -o -B validate` on a project of nothing, in an empty folder of the
//! user's, offline: Maven says which user settings it read, which mirror it uses for central
//! and for each repository `mirrorOf` names, and warns of what it doubted in the settings
//! with our ids. It never shows a login or a proxy: those are proven by what reaches a
//! repository and a proxy (`agent_clients` suite); a user's own active proxy, which would
//! take the hosts of `no-proxy`, is looked for in the file. Where Maven cannot be asked, a
//! `user.home` of the account's elsewhere than `HOME`, `-s` in `MAVEN_ARGS` or a project's
//! `.mvn/maven.config` are looked for.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use switchyard_proto::profile::{MavenClient, Secret};
use switchyard_proto::Profile;

use super::run::Ran;
use super::{same_file, variable, Asking, Check, Client, EmptyFolder, Surroundings};
use crate::formats::xml::{Xml, XmlSyntax};
use crate::formats::Editor;
use crate::plan::{flat, login_for, logins, Setting, Target};
use crate::platform::{Dirs, Os};

/// The id of the agent's mirror and server.
const MIRROR: &str = "switchyard";

/// The repository every build has, which a mirror of `*` stands in for.
pub(super) const CENTRAL: &str = "central";

/// Maven's `settings.xml`.
#[derive(Debug)]
pub struct SettingsXml;

impl XmlSyntax for SettingsXml {
    fn client(&self) -> &'static str {
        "Maven"
    }

    fn root(&self) -> &'static str {
        "settings"
    }

    fn identity(&self) -> &'static str {
        "id"
    }

    /// What Maven would not read as written: `${`, which it interpolates
    /// (`DefaultSettingsBuilder.interpolate`), and a password in braces, which it takes for an
    /// encrypted one (`DefaultSettingsDecrypter`). A password the profile gives is refused at
    /// the server already; a proxy's login from `proxy.credentials` is refused here.
    fn refuses(&self, key: &str, value: &str) -> Option<String> {
        if value.contains("${") {
            return Some("Maven would read ${...} in it as a property".into());
        }
        let encrypted = value.starts_with('{') && value.contains('}');
        (key.ends_with(".password") && encrypted)
            .then(|| "Maven would try to decrypt a password in braces".into())
    }

    /// The fields of `settings.xml`'s model (Maven's `settings.mdo`), each read once: twice
    /// is a "Duplicated tag" Maven refuses the file for, even when it reads leniently. Lists
    /// (`mirrors`, `servers`...), what is free-form (a server's `configuration`, a profile's
    /// `properties`) and elements Maven does not know (skipped when it reads leniently) may
    /// hold a name twice.
    fn once(&self, parent: &str, child: &str) -> bool {
        let fields: &[&str] = match parent {
            "settings" => &[
                "localRepository",
                "interactiveMode",
                "usePluginRegistry",
                "offline",
                "proxies",
                "servers",
                "mirrors",
                "profiles",
                "activeProfiles",
                "pluginGroups",
            ],
            "mirror" => &[
                "id",
                "name",
                "url",
                "layout",
                "mirrorOf",
                "mirrorOfLayouts",
                "blocked",
            ],
            "server" => &[
                "id",
                "username",
                "password",
                "privateKey",
                "passphrase",
                "filePermissions",
                "directoryPermissions",
                "configuration",
            ],
            "proxy" => &[
                "id",
                "active",
                "protocol",
                "username",
                "password",
                "port",
                "host",
                "nonProxyHosts",
            ],
            "profile" => &[
                "id",
                "activation",
                "properties",
                "repositories",
                "pluginRepositories",
            ],
            "repository" | "pluginRepository" => {
                &["id", "name", "url", "layout", "releases", "snapshots"]
            }
            "releases" | "snapshots" => &["enabled", "updatePolicy", "checksumPolicy"],
            _ => &[],
        };
        fields.contains(&child)
    }
}

/// What the agent writes in `settings.xml` for `profile` (normalized): the Maven
/// repository's section with `clients.maven` over it.
pub fn settings(profile: &Profile) -> Vec<Setting> {
    let Some(maven) = profile.maven_for(MavenClient::Maven) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mirror = |leaf: &str| format!("mirrors.mirror[{MIRROR}].{leaf}");
    if let Some(repository) = &maven.repository {
        found.push(flat(&mirror("url"), repository.clone(), false));
        let of = maven
            .mirror_of
            .as_ref()
            .filter(|of| !of.is_empty())
            .map_or_else(|| "*".to_owned(), |of| of.join(","));
        found.push(flat(&mirror("mirrorOf"), of, false));
    }
    let server = |leaf: &str| format!("servers.server[{MIRROR}].{leaf}");
    if let Some(username) = &maven.username {
        found.push(flat(&server("username"), username.clone(), false));
    }
    if let Some(Secret::Value(password)) = &maven.password {
        found.push(flat(&server("password"), password.clone(), true));
    }
    if let Some(proxy) = &maven.proxy {
        found.extend(proxies(proxy, maven.no_proxy.as_deref(), profile));
    }
    found
}

/// The proxy of the `maven` section as Maven and Gradle take one: a host, a port, and the
/// login `proxy.credentials` has for its origin.
pub(super) struct Proxy {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) login: Option<(String, String)>,
}

impl Proxy {
    /// The proxy at `url`, with its login from `profile`; `None` when `url` names no host.
    pub(super) fn of(url: &str, profile: &Profile) -> Option<Self> {
        let parsed = url::Url::parse(url).ok()?;
        Some(Self {
            host: parsed.host_str()?.to_owned(),
            port: parsed.port_or_known_default()?,
            login: login_for(url, logins(profile))
                .map(|(user, password)| (user.to_owned(), password.to_owned())),
        })
    }
}

/// The one proxy as Maven's two (Maven takes a proxy for the protocol of the repository it
/// fetches from): host, port, the login `proxy.credentials` has for its origin, the hosts
/// fetched without it joined by `|`.
fn proxies(url: &str, no_proxy: Option<&[String]>, profile: &Profile) -> Vec<Setting> {
    let Some(Proxy { host, port, login }) = Proxy::of(url, profile) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for protocol in ["http", "https"] {
        let key = |leaf: &str| format!("proxies.proxy[{MIRROR}-{protocol}].{leaf}");
        found.push(flat(&key("active"), "true".into(), false));
        found.push(flat(&key("protocol"), protocol.into(), false));
        found.push(flat(&key("host"), host.clone(), false));
        found.push(flat(&key("port"), port.to_string(), false));
        if let Some((username, password)) = &login {
            found.push(flat(&key("username"), username.clone(), false));
            found.push(flat(&key("password"), password.clone(), true));
        }
        if let Some(hosts) = no_proxy.filter(|hosts| !hosts.is_empty()) {
            found.push(flat(&key("nonProxyHosts"), hosts.join("|"), false));
        }
    }
    found
}

/// The Java system property `property` as `-D<property>=` in the options of `variable`
/// (`MAVEN_OPTS`, `GRADLE_OPTS`) sets it, if it does (the last one counts).
pub(super) fn java_property(
    env: &dyn Fn(&str) -> Option<String>,
    variable: &str,
    property: &str,
) -> Option<String> {
    let options = crate::platform::set(env, variable)?;
    let prefix = format!("-D{property}=");
    options
        .split_whitespace()
        .filter_map(|option| option.strip_prefix(prefix.as_str()))
        .map(|value| value.trim_matches(['"', '\'']))
        .rfind(|value| !value.is_empty())
        .map(str::to_owned)
}

/// The file `-s` or `--settings` names in `arguments` (Maven's own command-line syntax:
/// `-s file`, `-sfile`, `--settings file`, `--settings=file`), the last one.
fn settings_option(arguments: &str) -> Option<String> {
    let mut words = arguments.split_whitespace();
    let mut found = None;
    while let Some(word) = words.next() {
        let named = match word {
            "-s" | "--settings" => words.next().map(str::to_owned),
            _ => word
                .strip_prefix("--settings=")
                .or_else(|| word.strip_prefix("-s").filter(|rest| !rest.is_empty()))
                .map(str::to_owned),
        };
        found = named.or(found);
    }
    found.map(|file| file.trim_matches(['"', '\'']).to_owned())
}

/// Why Java would take another `user.home` than the home the agent writes in, when
/// `-Duser.home=` in `variables` does not set it: the account's home from the system, which
/// the user's `HOME` does not change.
pub(super) fn another_java_home(
    env: &BTreeMap<String, String>,
    variables: &[&str],
    client: &str,
) -> Option<String> {
    let lookup = |name: &str| env.get(name).cloned();
    if variables
        .iter()
        .any(|variable| java_property(&lookup, variable, "user.home").is_some())
    {
        return None;
    }
    let account = crate::platform::account_home()?;
    let home = env.get("HOME").filter(|home| !home.is_empty())?;
    let same = std::fs::canonicalize(&account).ok() == std::fs::canonicalize(home).ok()
        || account == Path::new(home);
    (!same).then(|| {
        format!(
            "{client} takes Java's user.home from the account ({}), not HOME ({home}): it reads the files there",
            account.display()
        )
    })
}

/// Why Maven, by the order above, would read other user settings than the agent's: Java's
/// `user.home` elsewhere than `HOME`, `-s` in `MAVEN_ARGS`, or in the `.mvn/maven.config` of
/// the project the agent runs in.
pub fn modelled(_settings: &[Setting], around: &Surroundings) -> Vec<String> {
    let mut found: Vec<String> = another_java_home(around.env, &["MAVEN_OPTS"], "Maven")
        .into_iter()
        .collect();
    if let Some((name, value)) = variable(around.env, "MAVEN_ARGS") {
        if let Some(file) = settings_option(value) {
            found.push(format!(
                "{name} names other user settings ({file}), which Maven reads instead"
            ));
        }
    }
    // Maven's project base is the nearest folder above with `.mvn` in it.
    let config = around
        .cwd
        .into_iter()
        .flat_map(Path::ancestors)
        .map(|folder| folder.join(".mvn"))
        .find(|folder| folder.is_dir())
        .map(|folder| folder.join("maven.config"));
    if let Some(config) = config {
        let named = std::fs::read_to_string(&config)
            .ok()
            .and_then(|text| settings_option(&text));
        if let Some(file) = named {
            found.push(format!(
                "{} names other user settings ({file}), which Maven reads instead",
                config.display()
            ));
        }
    }
    found
}

/// Whether a repository with id `id` (not on this machine, over https) goes to a mirror whose
/// `mirrorOf` is `patterns` (Maven's `DefaultMirrorSelector.matchPattern`): read in order, an
/// exact id takes it and `!id` leaves it out, each ending the reading; `*` and `external:*`
/// take it unless a later `!id` leaves it out.
pub(super) fn mirrors(patterns: &str, id: &str) -> bool {
    if patterns == "*" || patterns == id {
        return true;
    }
    let mut matched = false;
    for pattern in patterns.split(',').map(str::trim) {
        match pattern.strip_prefix('!') {
            Some(excluded) if !excluded.is_empty() => {
                if excluded == id {
                    return false;
                }
            }
            _ if pattern == id => return true,
            _ => matched |= matches!(pattern, "*" | "external:*"),
        }
    }
    matched
}

/// The ids of repositories `patterns` names (`corp`, not `*`, `external:*` or `!corp`):
/// declared in the project Maven is asked about, so that it says which mirror it takes for
/// them.
pub(super) fn named_ids(patterns: &str) -> Vec<&str> {
    patterns
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.starts_with('!') && !p.contains('*') && *p != CENTRAL)
        .filter(|p| {
            p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .collect()
}

/// A project of nothing that declares the repositories `ids`, at addresses no one can have
/// (`.invalid`, RFC 2606), never fetched: Maven runs offline.
fn project(ids: &[&str]) -> String {
    let repositories: String = ids
        .iter()
        .map(|id| {
            format!(
                "<repository><id>{id}</id><url>https://{id}.switchyard.invalid/</url></repository>"
            )
        })
        .collect();
    format!(
        "<project><modelVersion>4.0.0</modelVersion><groupId>switchyard.check</groupId>\
         <artifactId>check</artifactId><version>1</version><packaging>pom</packaging>\
         <repositories>{repositories}</repositories></project>\n"
    )
}

/// What `mvn -X` said it read: the user settings file, the mirror it takes for each
/// repository (`(mirror id, mirror URL)` by repository id), its warnings.
#[derive(Debug, Default, PartialEq, Eq)]
struct Said {
    user_settings: Option<String>,
    mirrors: BTreeMap<String, (String, String)>,
    warnings: Vec<String>,
}

fn read(said: &str) -> Said {
    let mut read = Said::default();
    for line in said.lines() {
        if let Some(file) = line.strip_prefix("[DEBUG] Reading user settings from ") {
            read.user_settings = Some(file.trim().to_owned());
        } else if let Some(rest) = line.strip_prefix("[DEBUG] Using mirror ") {
            // `switchyard (URL) for central (URL).`
            let parsed = rest.split_once(" (").and_then(|(mirror, rest)| {
                let (url, rest) = rest.split_once(") for ")?;
                let (repository, _) = rest.split_once(" (")?;
                Some((repository.to_owned(), (mirror.to_owned(), url.to_owned())))
            });
            read.mirrors.extend(parsed);
        } else if let Some(warning) = line.strip_prefix("[WARNING] ") {
            if !warning.trim().is_empty() {
                read.warnings.push(warning.trim().to_owned());
            }
        }
    }
    read
}

/// Why `mvn` failed, from what it printed: its first `[FATAL]` or `[ERROR]` line, without the
/// terminal's colour codes.
fn failure(said: &str) -> String {
    let line = said
        .lines()
        .find(|line| line.contains("[FATAL]") || line.contains("[ERROR]"))
        .unwrap_or("mvn failed and said nothing of why");
    let plain: String = strip_colours(line);
    format!("mvn -o validate failed: {}", plain.trim())
}

/// `text` without ANSI escape sequences (`ESC [ ... letter`) or other control characters.
fn strip_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // The sequence runs to its final letter.
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else if !c.is_control() {
            out.push(c);
        }
    }
    out
}

/// What Maven reads for the agent's `settings`, written to the user settings `asking.file`.
pub fn check(asking: &Asking) -> Check {
    let folder = match EmptyFolder::new("maven", &asking.runner.cwd) {
        Ok(folder) => folder,
        Err(error) => return Check::Failed(format!("no empty folder to ask Maven in: {error}")),
    };
    let of = asking
        .settings
        .iter()
        .find(|setting| setting.key.ends_with(".mirrorOf"))
        .map(|setting| setting.values[0].clone());
    // The repositories our mirror names, and those the user's own mirrors name by id: Maven
    // takes a mirror that names a repository exactly over a wildcard, so each is asked for.
    let content = std::fs::read_to_string(asking.file).unwrap_or_default();
    let theirs: Vec<String> = Xml(SettingsXml)
        .entities(&content, "mirrors", "mirror")
        .into_iter()
        .filter(|mirror| mirror.get("id").is_none_or(|id| id != MIRROR))
        .filter_map(|mirror| mirror.get("mirrorOf").cloned())
        .collect();
    let mut ids: Vec<&str> = of.as_deref().map(named_ids).unwrap_or_default();
    ids.extend(theirs.iter().flat_map(|patterns| named_ids(patterns)));
    ids.sort_unstable();
    ids.dedup();
    if let Err(error) = std::fs::write(folder.path().join("pom.xml"), project(&ids)) {
        return Check::Failed(format!("cannot write a project to ask Maven with: {error}"));
    }
    let mut runner = asking.runner.clone();
    runner.cwd = folder.path().to_owned();
    // A JVM starting on a busy machine takes seconds.
    runner.timeout = runner.timeout.max(std::time::Duration::from_secs(60));
    let said = match runner.printed("mvn", &["-X", "-o", "-B", "validate"]) {
        Err(Ran::Missing) => return Check::NotInstalled,
        Err(Ran::Failed(problem) | Ran::Said(problem)) => return Check::Failed(problem),
        Ok(printed) if printed.success => read(&printed.stdout),
        // Maven says why on its standard output, its first error first.
        Ok(printed) => return Check::Failed(failure(&printed.stdout)),
    };
    let mut differences = Vec::new();
    match &said.user_settings {
        Some(file) if same_file(asking.file)(&format!("user settings ({file})")) => {}
        Some(file) => differences.push(format!(
            "Maven reads its user settings from {file}, not {}",
            asking.file.display()
        )),
        None => differences.push("Maven did not say which user settings it read".into()),
    }
    let url = asking
        .settings
        .iter()
        .find(|setting| setting.key.ends_with(".url"))
        .map(|setting| setting.values[0].as_str());
    if let (Some(url), Some(of)) = (url, of.as_deref()) {
        let expected = std::iter::once(CENTRAL)
            .chain(ids.iter().copied())
            .filter(|id| mirrors(of, id));
        for repository in expected {
            match said.mirrors.get(repository) {
                Some((mirror, at)) if mirror == MIRROR && at == url => {}
                Some((mirror, at)) => differences.push(format!(
                    "Maven fetches {repository} through the mirror {mirror} ({at})"
                )),
                None => differences.push(format!("Maven uses no mirror for {repository}")),
            }
        }
    }
    // What Maven refused or doubted in the settings, of the agent's ids (`... with id
    // switchyard @ file`), not of a path or a project that happens to hold the word.
    let ours = [
        MIRROR.to_owned(),
        format!("{MIRROR}-http"),
        format!("{MIRROR}-https"),
    ];
    differences.extend(
        said.warnings
            .iter()
            .filter(|warning| {
                let words: Vec<&str> = warning.split_whitespace().collect();
                words
                    .windows(2)
                    .any(|pair| pair[0] == "id" && ours.iter().any(|id| id == pair[1]))
            })
            .map(|warning| format!("Maven warns: {}", strip_colours(warning))),
    );
    differences.extend(other_proxies(asking, &content));
    Check::Read(differences)
}

/// Where the profile has hosts fetched without its proxy: the other active proxies of the user's
/// settings `content`, through which Maven sends those hosts instead of fetching them directly
/// (`DefaultProxySelector` takes the next active proxy of the protocol whose
/// `nonProxyHosts` does not name the host).
fn other_proxies(asking: &Asking, content: &str) -> Vec<String> {
    if !asking
        .settings
        .iter()
        .any(|setting| setting.key.ends_with(".nonProxyHosts"))
    {
        return Vec::new();
    }
    Xml(SettingsXml)
        .entities(content, "proxies", "proxy")
        .into_iter()
        .filter(|proxy| {
            let id = proxy.get("id").map(String::as_str).unwrap_or_default();
            !id.starts_with(MIRROR) && proxy.get("active").is_none_or(|active| active != "false")
        })
        .map(|proxy| {
            format!(
                "Maven sends the hosts of no-proxy through the user's proxy {} instead",
                proxy
                    .get("id")
                    .map(String::as_str)
                    .unwrap_or("without an id")
            )
        })
        .collect()
}

/// Maven as a [`Client`].
#[derive(Debug)]
pub struct Maven;

impl Client for Maven {
    fn target(&self) -> Target {
        Target::Maven
    }

    fn name(&self) -> &'static str {
        "Maven"
    }

    fn editor(&self) -> &'static dyn Editor {
        static EDITOR: Xml<SettingsXml> = Xml(SettingsXml);
        &EDITOR
    }

    /// `.m2/settings.xml` in Java's `user.home`; none for the machine, whose settings are
    /// in Maven's installation.
    fn file(&self, _os: Os, dirs: &Dirs, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        match dirs {
            Dirs::User { home, .. } => {
                let home = java_property(env, "MAVEN_OPTS", "user.home")
                    .map_or_else(|| home.clone(), PathBuf::from);
                Some(home.join(".m2").join("settings.xml"))
            }
            Dirs::Machine { .. } => None,
        }
    }

    fn modelled(&self, settings: &[Setting], around: &Surroundings) -> Vec<String> {
        modelled(settings, around)
    }

    fn settings(&self, profile: &Profile, _os: Os) -> Vec<Setting> {
        settings(profile)
    }

    fn check(&self, asking: &Asking) -> Check {
        check(asking)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_of_patterns_match_as_maven_matches_them() {
        assert!(mirrors("*", "central"));
        assert!(mirrors("external:*", "corp"));
        assert!(!mirrors("*,!central", "central"));
        assert!(mirrors("*,!central", "corp"));
        assert!(mirrors("corp, central", "central"));
        assert!(
            mirrors("central,!central", "central"),
            "the first word counts"
        );
        assert!(!mirrors("external:http:*", "central"), "central is https");
        assert!(!mirrors("corp", "central"));
        assert_eq!(named_ids("*,!central,corp,central,a b"), ["corp"]);
    }

    #[test]
    fn the_settings_option_is_found_in_every_form() {
        assert_eq!(settings_option("-B -s /a.xml"), Some("/a.xml".into()));
        assert_eq!(settings_option("-s/a.xml"), Some("/a.xml".into()));
        assert_eq!(
            settings_option("--settings=x.xml -T2"),
            Some("x.xml".into())
        );
        assert_eq!(
            settings_option("--settings x.xml -s y.xml"),
            Some("y.xml".into())
        );
        assert_eq!(settings_option("-B -U"), None);
    }

    #[test]
    fn a_failure_is_said_without_colours() {
        let said = "[INFO] x\n\u{1b}[1;31m[ERROR]\u{1b}[m Non-parseable settings /h/.m2/settings.xml\n[ERROR] more\n";
        assert_eq!(
            failure(said),
            "mvn -o validate failed: [ERROR] Non-parseable settings /h/.m2/settings.xml"
        );
    }

    #[test]
    fn maven_says_what_it_read() {
        let said = "[DEBUG] Reading global settings from /usr/share/maven/conf/settings.xml\n[DEBUG] Reading user settings from /home/ada/.m2/settings.xml\n[WARNING] \n[WARNING] 'servers.server.id' must be unique but found duplicate server with id switchyard @ /home/ada/.m2/settings.xml\n[DEBUG] Using mirror switchyard (http://127.0.0.1:9/m2/) for corp (https://corp.switchyard.invalid/).\n[DEBUG] Using mirror theirs (https://theirs.example/) for central (https://repo.maven.apache.org/maven2).\n";
        let read = read(said);
        assert_eq!(
            read.user_settings.as_deref(),
            Some("/home/ada/.m2/settings.xml")
        );
        assert_eq!(
            read.mirrors["central"],
            ("theirs".into(), "https://theirs.example/".into())
        );
        assert_eq!(read.mirrors["corp"].1, "http://127.0.0.1:9/m2/");
        assert_eq!(read.warnings.len(), 1);
    }

    #[test]
    fn one_proxy_for_both_protocols_with_its_login() {
        let profile: Profile = serde_json::from_value(serde_json::json!({
            "maven": {"repository": "https://maven.corp.example/public/",
                      "username": "ada", "password": {"value": "pw"},
                      "proxy": "http://proxy.corp.example:3128", "no-proxy": ["*.corp.example", "localhost"]},
            "proxy": {"credentials": {"http://proxy.corp.example:3128": {"username": "p", "password": {"value": "q"}}}}
        }))
        .unwrap();
        let found: BTreeMap<String, (String, bool)> = settings(&profile.normalized())
            .into_iter()
            .map(|s| (s.key, (s.values[0].clone(), s.secret)))
            .collect();
        assert_eq!(found["mirrors.mirror[switchyard].mirrorOf"].0, "*");
        assert_eq!(
            found["servers.server[switchyard].password"],
            ("pw".into(), true)
        );
        for protocol in ["http", "https"] {
            let key = |leaf: &str| format!("proxies.proxy[switchyard-{protocol}].{leaf}");
            assert_eq!(found[&key("protocol")].0, protocol);
            assert_eq!(found[&key("host")].0, "proxy.corp.example");
            assert_eq!(found[&key("port")].0, "3128");
            assert_eq!(found[&key("password")], ("q".into(), true));
            assert_eq!(found[&key("nonProxyHosts")].0, "*.corp.example|localhost");
        }
    }

    #[test]
    fn other_user_settings_named_by_a_project_or_maven_args_are_found() {
        let home = tempfile::tempdir().unwrap();
        let project = home.path().join("work/app");
        std::fs::create_dir_all(project.join("module")).unwrap();
        std::fs::create_dir_all(project.join(".mvn")).unwrap();
        std::fs::write(
            project.join(".mvn/maven.config"),
            "-B\n--settings ./ci.xml\n",
        )
        .unwrap();
        let env = BTreeMap::from([
            ("MAVEN_ARGS".to_owned(), "-s /etc/other.xml".to_owned()),
            (
                "MAVEN_OPTS".to_owned(),
                format!("-Duser.home={}", home.path().display()),
            ),
        ]);
        let paths = crate::clients::user_paths(home.path(), &env);
        let cwd = project.join("module");
        let around = Surroundings {
            paths: &paths,
            env: &env,
            cwd: Some(&cwd),
        };
        let found = modelled(&[], &around);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("/etc/other.xml"), "{found:?}");
        assert!(
            found[1].contains("./ci.xml") && found[1].contains("maven.config"),
            "{found:?}"
        );
        let plain = BTreeMap::from([(
            "MAVEN_OPTS".to_owned(),
            format!("-Duser.home={}", home.path().display()),
        )]);
        let around = Surroundings {
            paths: &paths,
            env: &plain,
            cwd: Some(home.path()),
        };
        assert!(modelled(&[], &around).is_empty());
        // Without it, Java's home is the account's, not the HOME of the test.
        let elsewhere = BTreeMap::from([(
            "HOME".to_owned(),
            home.path().to_string_lossy().into_owned(),
        )]);
        let around = Surroundings {
            paths: &paths,
            env: &elsewhere,
            cwd: None,
        };
        let found = modelled(&[], &around);
        // Windows has no account database to take it from: Java takes the profile folder.
        assert_eq!(
            found.first().is_some_and(|f| f.contains("user.home")),
            cfg!(unix),
            "{found:?}"
        );
    }

    #[test]
    fn maven_opts_may_move_the_user_home() {
        let env = |name: &str| {
            (name == "MAVEN_OPTS").then(|| "-Xmx1g -Duser.home=/srv/ada -Dx=y".to_owned())
        };
        assert_eq!(
            java_property(&env, "MAVEN_OPTS", "user.home").as_deref(),
            Some("/srv/ada")
        );
        assert_eq!(java_property(&|_| None, "MAVEN_OPTS", "user.home"), None);
    }
}
