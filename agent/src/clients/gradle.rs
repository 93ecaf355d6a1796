//! Gradle: where it reads its repositories and proxy, and how the agent asks it.
//!
//! Order (Gradle's user manual, "Initialization Scripts" and "Build Environment"; each point
//! seen with Gradle 4.4.1): Gradle's user home is `-Dgradle.user.home=` in `GRADLE_OPTS`,
//! else `GRADLE_USER_HOME`, else `.gradle` in Java's `user.home` (the account's home from the
//! system; `%USERPROFILE%\.gradle`). Init scripts run before the build: those named with
//! `-I`, then `init.gradle` in the user home, then every `*.gradle` of the user home's
//! `init.d` in the order of their names, then those of the installation's `init.d`.
//! Repositories are what the build declares, as init scripts change them. System properties
//! (the proxy) come from `-D` on Gradle's command line (not `-D` in `GRADLE_OPTS`, which
//! `systemProp.*` overwrites), over `systemProp.*` in the user home's `gradle.properties`,
//! over the project's `gradle.properties`, over the installation's. Gradle reads no proxy
//! variables.
//!
//! The agent writes the `maven` section (the company's Maven repository, shared with Maven):
//! an init script of its own, `init.d/switchyard.gradle`, that points every http(s) Maven
//! repository `mirror-of` names (Maven's patterns: a repository's name is its id, Maven
//! Central's is `central`; never `mavenLocal()`, a repository over another transport, or one
//! with a login of its own when the profile gives none) at the repository, in projects, their
//! `buildscript`, `pluginManagement` and, from Gradle 6.8, `dependencyResolutionManagement`;
//! and, in `gradle.properties` through a Java properties editor that keeps every other line,
//! the repository's login (read by the script when it runs: Gradle compiles init scripts into
//! its caches, where a password would stay) and the proxy (`systemProp.http.*` and
//! `systemProp.https.*`: host, port, the login from `proxy.credentials`, and
//! `http.nonProxyHosts`, which Java reads for both). The installation's files are not
//! edited: the machine scope leaves Gradle out.
//!
//! Asked with `gradle --offline --no-daemon -q` on a build of nothing in an empty folder of the
//! user's: the build declares Maven Central and each repository `mirror-of` names, and prints
//! each repository's URL and login (a password as its SHA-256, never itself) and the proxy's
//! system properties, as Gradle has them after every init script and properties file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use switchyard_proto::profile::{MavenClient, Secret};
use switchyard_proto::Profile;

use super::maven::Proxy;
use super::maven::{another_java_home, java_property, mirrors, named_ids, CENTRAL};
use super::run::Ran;
use super::{Asking, Check, Client, EmptyFolder, Surroundings};
use crate::formats::init_script::InitScript;
use crate::formats::java_properties::JavaProperties;
use crate::formats::Editor;
use crate::plan::{flat, Setting, Target};
use crate::platform::{self, Dirs, Os};

/// The keys of `gradle.properties` that hold the repository's login: read by the init script
/// when it runs, so that no password is in the script, which Gradle compiles into its caches.
const LOGIN_USER: &str = "switchyard.repository.username";
const LOGIN_PASSWORD: &str = "switchyard.repository.password";

/// What the init script does with its settings (`url`, `mirrorOf`) and the login in
/// `gradle.properties`.
const BODY: &str = r#"// The repository's login, from the user's gradle.properties, read as Gradle reads it, when
// the script runs (a password in the script would be compiled into Gradle's caches).
def switchyardLogin = new Properties()
def switchyardProperties = new File(gradle.gradleUserHomeDir, 'gradle.properties')
if (switchyardProperties.isFile()) {
    switchyardProperties.withInputStream { switchyardLogin.load(it) }
}
def switchyardUser = switchyardLogin.getProperty('switchyard.repository.username')
def switchyardPassword = switchyardLogin.getProperty('switchyard.repository.password')

// The login a repository was given in the build, if any (Gradle 6.6 and later wrap it).
def switchyardOwnLogin = { repository ->
    def own = repository.hasProperty('configuredCredentials') ? repository.configuredCredentials : null
    if (own != null && own.respondsTo('getOrNull')) own = own.orNull
    own
}

// Whether the repository manager stands in for `repository`, as Maven's mirrorOf patterns
// say, read in order: a repository's name is its id, Maven Central's is central; an exact id
// or !id ends the reading. Only http and https repositories: mavenLocal() and other file
// repositories are this machine's, and s3, gcs or sftp ones have logins of their own kinds.
// One with a login of its own is left alone unless the profile gives the manager's: its
// password must not go to the manager.
def switchyardStandsIn = { repository ->
    if (!(repository instanceof MavenArtifactRepository) || repository.url == null) return false
    def url = repository.url.toString()
    def scheme = repository.url.scheme
    if (!(scheme in ['http', 'https']) || url == switchyard['url']) return false
    def own = switchyardOwnLogin(repository)
    if (own != null && (switchyardUser == null || !(own instanceof PasswordCredentials))) return false
    def central = ['https://repo.maven.apache.org/maven2', 'https://repo1.maven.org/maven2',
                   'http://repo.maven.apache.org/maven2', 'http://repo1.maven.org/maven2']
    def id = url.replaceAll('/+$', '') in central ? 'central' : repository.name
    def local = repository.url.host in ['localhost', '127.0.0.1', '[::1]']
    def patterns = switchyard['mirrorOf'] ?: '*'
    if (patterns == '*' || patterns == id) return true
    def stands = false
    for (pattern in patterns.split(',')*.trim()) {
        if (pattern.startsWith('!') && pattern.length() > 1) {
            if (pattern.substring(1) == id) return false
        } else if (pattern == id) {
            return true
        } else if (pattern == '*' || (pattern == 'external:*' && !local)
                   || (pattern == 'external:http:*' && !local && scheme == 'http')) {
            stands = true
        }
    }
    stands
}

def switchyardMirror = { repository ->
    if (!switchyardStandsIn(repository)) return
    repository.url = switchyard['url']
    if (switchyardUser != null) {
        repository.credentials.username = switchyardUser
        repository.credentials.password = switchyardPassword
    }
    // Gradle 7 and later refuse plain http unless told.
    if (repository.url.scheme == 'http' && repository.hasProperty('allowInsecureProtocol')) {
        repository.allowInsecureProtocol = true
    }
}

allprojects {
    buildscript.repositories.all(switchyardMirror)
    repositories.all(switchyardMirror)
}

settingsEvaluated { settings ->
    settings.pluginManagement.repositories.all(switchyardMirror)
    if (settings.hasProperty('dependencyResolutionManagement')) {
        settings.dependencyResolutionManagement.repositories.all(switchyardMirror)
    }
}
"#;

/// The init script's keys for the `maven` section of `profile` (normalized).
pub fn init_settings(profile: &Profile) -> Vec<Setting> {
    let Some(maven) = profile.maven_for(MavenClient::Gradle) else {
        return Vec::new();
    };
    let Some(repository) = &maven.repository else {
        return Vec::new();
    };
    let mut found = vec![flat("url", repository.clone(), false)];
    if let Some(of) = maven.mirror_of.as_ref().filter(|of| !of.is_empty()) {
        found.push(flat("mirrorOf", of.join(","), false));
    }
    found
}

/// What the agent writes in `gradle.properties` for `profile` (normalized): the repository's
/// login, which the init script reads, and the proxy's system properties, the one proxy for
/// both protocols (Java takes `http.*` for http and `https.*` for https).
pub fn properties_settings(profile: &Profile) -> Vec<Setting> {
    let Some(maven) = profile.maven_for(MavenClient::Gradle) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    if let (Some(_), Some(username), Some(Secret::Value(password))) =
        (&maven.repository, &maven.username, &maven.password)
    {
        found.push(flat(LOGIN_USER, username.clone(), false));
        found.push(flat(LOGIN_PASSWORD, password.clone(), true));
    }
    let Some(proxy) = maven
        .proxy
        .as_deref()
        .and_then(|url| Proxy::of(url, profile))
    else {
        return found;
    };
    // Java reads `http.nonProxyHosts` for both protocols; there is no `https.nonProxyHosts`
    // (Java's "Networking Properties"; seen with Gradle 4.4.1).
    if let Some(hosts) = maven.no_proxy.as_ref().filter(|hosts| !hosts.is_empty()) {
        found.push(flat(
            "systemProp.http.nonProxyHosts",
            hosts.join("|"),
            false,
        ));
    }
    for protocol in ["http", "https"] {
        let key = |name: &str| format!("systemProp.{protocol}.{name}");
        found.push(flat(&key("proxyHost"), proxy.host.clone(), false));
        found.push(flat(&key("proxyPort"), proxy.port.to_string(), false));
        if let Some((username, password)) = &proxy.login {
            found.push(flat(&key("proxyUser"), username.clone(), false));
            found.push(flat(&key("proxyPassword"), password.clone(), true));
        }
    }
    found
}

/// Gradle's user home: `-Dgradle.user.home=` in `GRADLE_OPTS` or `JAVA_OPTS` (which Gradle
/// takes over the variable), else `GRADLE_USER_HOME`, else `.gradle` in Java's `user.home`
/// (`-Duser.home=` there moves it).
fn user_home(home: &std::path::Path, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let option = |property: &str| {
        ["GRADLE_OPTS", "JAVA_OPTS"]
            .iter()
            .find_map(|variable| java_property(env, variable, property))
    };
    if let Some(set) = option("gradle.user.home").or_else(|| platform::set(env, "GRADLE_USER_HOME"))
    {
        return PathBuf::from(set);
    }
    option("user.home")
        .map_or_else(|| home.to_owned(), PathBuf::from)
        .join(".gradle")
}

/// Why Gradle would not read `settings` as written: its user home elsewhere (Java's
/// `user.home` is the account's), or, for the init script, a script of the user's in
/// `init.d` that runs after it (by name) and names repositories. Nothing the user's
/// environment holds is read over `gradle.properties`: only `-D` on Gradle's own command line
/// is (seen with Gradle 4.4.1: `-D` in `GRADLE_OPTS` is not).
pub fn modelled(settings: &[Setting], around: &Surroundings) -> Vec<String> {
    let env = |name: &str| around.env.get(name).cloned();
    let mut found = Vec::new();
    let named = ["GRADLE_OPTS", "JAVA_OPTS"]
        .iter()
        .any(|variable| java_property(&env, variable, "gradle.user.home").is_some());
    if !named && platform::set(&env, "GRADLE_USER_HOME").is_none() {
        found.extend(another_java_home(
            around.env,
            &["GRADLE_OPTS", "JAVA_OPTS"],
            "Gradle",
        ));
    }
    let ours = around.paths.files.get(&Target::Gradle);
    let folder = ours.and_then(|ours| Some((ours.parent()?, ours.file_name()?)));
    if let (true, Some((folder, name))) = (settings.iter().any(|s| s.key == "url"), folder) {
        let mut later: Vec<PathBuf> = std::fs::read_dir(folder)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                let file = path
                    .file_name()
                    .map(|file| file.to_string_lossy().to_lowercase());
                file.is_some_and(|file| {
                    (file.ends_with(".gradle") || file.ends_with(".gradle.kts"))
                        && file.as_str() > name.to_string_lossy().as_ref()
                })
            })
            .collect();
        later.sort();
        for script in later {
            let text = std::fs::read_to_string(&script).unwrap_or_default();
            if text.contains("repositories") {
                found.push(format!(
                    "Gradle runs {} after the agent's script, and it may change repositories",
                    script.display()
                ));
            }
        }
    }
    found
}

/// A build of nothing that declares Maven Central and the repositories `ids`, and prints what
/// Gradle has for each, and for the proxy (passwords as their SHA-256).
fn build(ids: &[&str]) -> String {
    let named: String = ids
        .iter()
        .map(|id| {
            format!("    maven {{ name = '{id}'; url = 'https://{id}.switchyard.invalid/' }}\n")
        })
        .collect();
    format!(
        r#"repositories {{
    mavenCentral()
{named}}}
task switchyardCheck {{
    doLast {{
        def digest = {{ text -> text == null ? '-' : java.security.MessageDigest.getInstance('SHA-256').digest(text.getBytes('UTF-8')).encodeHex().toString() }}
        repositories.each {{ repository ->
            if (repository instanceof MavenArtifactRepository) {{
                def id = repository.name == 'MavenRepo' ? '{CENTRAL}' : repository.name
                def login = repository.hasProperty('configuredCredentials') ? repository.configuredCredentials : null
                if (login != null && login.respondsTo('getOrNull')) login = login.orNull
                def user = login instanceof PasswordCredentials ? login.username : null
                def password = login instanceof PasswordCredentials ? login.password : null
                println "switchyard-repository\t${{id}}\t${{repository.url}}\t${{user ?: '-'}}\t${{digest(password)}}"
            }}
        }}
        ['http', 'https'].each {{ protocol ->
            ['proxyHost', 'proxyPort', 'nonProxyHosts', 'proxyUser'].each {{ name ->
                println "switchyard-property\t${{protocol}}.${{name}}\t${{System.getProperty(protocol + '.' + name) ?: '-'}}"
            }}
            println "switchyard-property\t${{protocol}}.proxyPassword\t${{digest(System.getProperty(protocol + '.proxyPassword'))}}"
        }}
    }}
}}
"#
    )
}

/// What the check build printed: each repository's (URL, user, password digest) by id, and
/// each proxy property.
#[derive(Debug, Default)]
struct Said {
    repositories: BTreeMap<String, (String, String, String)>,
    properties: BTreeMap<String, String>,
}

fn read(said: &str) -> Said {
    let mut read = Said::default();
    for line in said.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["switchyard-repository", id, url, user, digest] => {
                read.repositories.insert(
                    (*id).to_owned(),
                    ((*url).to_owned(), (*user).to_owned(), (*digest).to_owned()),
                );
            }
            ["switchyard-property", name, value] => {
                read.properties
                    .insert((*name).to_owned(), (*value).to_owned());
            }
            _ => {}
        }
    }
    read
}

/// A password as the check build prints it: its SHA-256 in hex.
fn sha256(text: &str) -> String {
    crate::files::digest(text.as_bytes())
}

/// Runs the check build in an empty folder of the user's.
fn ask(asking: &Asking, ids: &[&str]) -> Result<Said, Check> {
    let folder = EmptyFolder::new("gradle", &asking.runner.cwd)
        .map_err(|error| Check::Failed(format!("no empty folder to ask Gradle in: {error}")))?;
    // Its own settings file stops Gradle looking for one in the folders above.
    for (name, text) in [
        ("settings.gradle", String::new()),
        ("build.gradle", build(ids)),
    ] {
        std::fs::write(folder.path().join(name), text).map_err(|error| {
            Check::Failed(format!("cannot write a build to ask Gradle with: {error}"))
        })?;
    }
    let mut runner = asking.runner.clone();
    runner.cwd = folder.path().to_owned();
    // Two JVMs start on a busy machine: the launcher and the build's.
    runner.timeout = runner.timeout.max(std::time::Duration::from_secs(120));
    let args = ["--offline", "--no-daemon", "-q", "switchyardCheck"];
    match runner.printed("gradle", &args) {
        Err(Ran::Missing) => Err(Check::NotInstalled),
        Err(Ran::Failed(problem) | Ran::Said(problem)) => Err(Check::Failed(problem)),
        Ok(printed) if printed.success => Ok(read(&printed.stdout)),
        Ok(printed) => Err(Check::Failed(failure(&printed.stderr))),
    }
}

/// Why Gradle failed: the line after its `* What went wrong:`.
fn failure(said: &str) -> String {
    let mut lines = said.lines();
    let why = lines
        .by_ref()
        .find(|line| line.trim() == "* What went wrong:")
        .and_then(|_| lines.find(|line| !line.trim().is_empty()))
        .unwrap_or("Gradle failed and said nothing of why");
    format!("gradle --offline failed: {}", why.trim())
}

/// The repositories the check build declares for mirror-of patterns `of` (Maven Central
/// and those `of` names), and those the init script stands in for.
fn mirrored(of: &str) -> (Vec<&str>, Vec<&str>) {
    let ids = named_ids(of);
    let expected = std::iter::once(CENTRAL)
        .chain(ids.iter().copied())
        .filter(|id| mirrors(of, id))
        .collect();
    (ids, expected)
}

/// The value of `key` among `settings`.
fn value<'a>(settings: &'a [Setting], key: &str) -> Option<&'a str> {
    settings
        .iter()
        .find(|setting| setting.key == key)
        .map(|setting| setting.values[0].as_str())
}

/// What Gradle reads for the init script's settings: the repository's URL for each
/// repository it stands in for.
fn check_init(asking: &Asking) -> Check {
    let (Some(url), of) = (
        value(asking.settings, "url"),
        value(asking.settings, "mirrorOf").unwrap_or("*"),
    ) else {
        return Check::Read(Vec::new());
    };
    let (declared, expected) = mirrored(of);
    let said = match ask(asking, &declared) {
        Ok(said) => said,
        Err(check) => return check,
    };
    let differences = expected
        .into_iter()
        .filter_map(|id| match said.repositories.get(id) {
            None => Some(format!("Gradle has no repository {id}")),
            Some((at, _, _)) if at.trim_end_matches('/') != url.trim_end_matches('/') => {
                Some(format!("Gradle fetches {id} from {at}"))
            }
            Some(_) => None,
        })
        .collect();
    Check::Read(differences)
}

/// What Gradle reads for `gradle.properties`: the proxy's system properties, and the
/// repository's login on each repository the init script (beside it, in `init.d`) stands in
/// for.
fn check_properties(asking: &Asking) -> Check {
    let script = asking
        .file
        .parent()
        .map(|home| home.join("init.d").join("switchyard.gradle"))
        .and_then(|path| std::fs::read_to_string(path).ok())
        .unwrap_or_default();
    let of = INIT_EDITOR
        .current(&script, &flat("mirrorOf", String::new(), false))
        .and_then(|values| values.into_iter().next())
        .unwrap_or_else(|| "*".to_owned());
    let (declared, expected) = mirrored(&of);
    let said = match ask(asking, &declared) {
        Ok(said) => said,
        Err(check) => return check,
    };
    let mut differences: Vec<String> = asking
        .settings
        .iter()
        .filter_map(|setting| {
            let property = setting.key.strip_prefix("systemProp.")?;
            let published = &setting.values[0];
            let read = said.properties.get(property).map(String::as_str);
            let same = match setting.secret {
                true => read == Some(sha256(published).as_str()),
                false => read == Some(published.as_str()),
            };
            let shown = match (setting.secret, read) {
                (_, None | Some("-")) => "nothing",
                (true, _) => "another value",
                (false, Some(read)) => read,
            };
            (!same).then(|| format!("Gradle reads {property} = {shown}"))
        })
        .collect();
    if let Some(username) = value(asking.settings, LOGIN_USER) {
        let password = value(asking.settings, LOGIN_PASSWORD)
            .map(sha256)
            .unwrap_or_else(|| "-".into());
        for id in expected {
            let sent = said.repositories.get(id);
            if sent.is_none_or(|(_, user, digest)| user != username || *digest != password) {
                differences.push(format!(
                    "Gradle sends {id} another login than the published one"
                ));
            }
        }
    }
    Check::Read(differences)
}

/// One of Gradle's files in its user home, as a [`Client`]: the init script, and
/// `gradle.properties`.
pub struct GradleFile {
    target: Target,
    /// Where it is in Gradle's user home.
    path: &'static [&'static str],
    editor: &'static dyn Editor,
    settings: fn(&Profile) -> Vec<Setting>,
    check: fn(&Asking) -> Check,
}

static INIT_EDITOR: InitScript = InitScript {
    client: "Gradle",
    map: "switchyard",
    body: BODY,
};

/// `init.d/switchyard.gradle`.
pub static INIT: GradleFile = GradleFile {
    target: Target::Gradle,
    path: &["init.d", "switchyard.gradle"],
    editor: &INIT_EDITOR,
    settings: init_settings,
    check: check_init,
};

/// `gradle.properties`.
pub static PROPERTIES: GradleFile = GradleFile {
    target: Target::GradleProperties,
    path: &["gradle.properties"],
    editor: &JavaProperties,
    settings: properties_settings,
    check: check_properties,
};

impl std::fmt::Debug for GradleFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GradleFile")
            .field("target", &self.target)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Client for GradleFile {
    fn target(&self) -> Target {
        self.target
    }

    fn name(&self) -> &'static str {
        "Gradle"
    }

    fn editor(&self) -> &'static dyn Editor {
        self.editor
    }

    /// In Gradle's user home; none for the machine, whose files are in Gradle's installation.
    fn file(&self, _os: Os, dirs: &Dirs, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        match dirs {
            Dirs::User { home, .. } => Some(
                self.path
                    .iter()
                    .fold(user_home(home, env), |path, part| path.join(part)),
            ),
            Dirs::Machine { .. } => None,
        }
    }

    fn modelled(&self, settings: &[Setting], around: &Surroundings) -> Vec<String> {
        modelled(settings, around)
    }

    fn settings(&self, profile: &Profile, _os: Os) -> Vec<Setting> {
        (self.settings)(profile)
    }

    fn check(&self, asking: &Asking) -> Check {
        (self.check)(asking)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_build_says_what_gradle_has() {
        let said = "openjdk version \"17\"\nswitchyard-repository\tcentral\thttp://127.0.0.1:9/m2/\tada\tabc\nswitchyard-property\thttp.proxyHost\tproxy.corp.example\n";
        let read = read(said);
        assert_eq!(
            read.repositories["central"],
            ("http://127.0.0.1:9/m2/".into(), "ada".into(), "abc".into())
        );
        assert_eq!(read.properties["http.proxyHost"], "proxy.corp.example");
        assert!(build(&["corp"]).contains("name = 'corp'"));
    }

    #[test]
    fn the_maven_section_gives_the_script_and_the_properties() {
        let profile: Profile = serde_json::from_value(serde_json::json!({
            "maven": {"repository": "https://maven.corp.example/public/", "mirror-of": ["*", "!corp"],
                      "username": "ada", "password": {"value": "pw"},
                      "proxy": "http://proxy.corp.example:3128", "no-proxy": ["*.corp.example"]},
            "proxy": {"credentials": {"http://proxy.corp.example:3128": {"username": "p", "password": {"value": "q"}}}}
        }))
        .unwrap();
        let profile = profile.normalized();
        let keys = |settings: Vec<Setting>| -> BTreeMap<String, String> {
            settings
                .into_iter()
                .map(|s| (s.key, s.values[0].clone()))
                .collect()
        };
        let init = keys(init_settings(&profile));
        assert_eq!(init["mirrorOf"], "*,!corp");
        assert_eq!(
            init.len(),
            2,
            "no login in a script Gradle compiles into its caches"
        );
        let properties = keys(properties_settings(&profile));
        assert_eq!(properties[LOGIN_PASSWORD], "pw");
        assert!(!properties.contains_key("systemProp.https.nonProxyHosts"));
        assert_eq!(
            properties["systemProp.https.proxyHost"],
            "proxy.corp.example"
        );
        assert_eq!(properties["systemProp.http.proxyPort"], "3128");
        assert_eq!(
            properties["systemProp.http.nonProxyHosts"],
            "*.corp.example"
        );
        assert_eq!(properties["systemProp.https.proxyPassword"], "q");
        assert_eq!(
            sha256("pw"),
            "30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4"
        );
    }

    #[test]
    fn gradle_takes_its_own_values_over_the_maven_section_and_maven_does_not() {
        let profile: Profile = serde_json::from_value(serde_json::json!({
            "maven": {"repository": "https://maven.corp.example/public/",
                      "username": "ada", "password": {"value": "pw"}},
            "clients": {"gradle": {"repository": "https://gradle.corp.example/public/",
                                   "mirror-of": ["central"]}}
        }))
        .unwrap();
        let profile = profile.normalized();
        let init = init_settings(&profile);
        assert_eq!(init[0].values, ["https://gradle.corp.example/public/"]);
        assert_eq!(init[1].values, ["central"]);
        assert!(
            properties_settings(&profile).is_empty(),
            "the login of maven's repository is not sent to Gradle's"
        );
        let maven = super::super::maven::settings(&profile);
        assert!(maven
            .iter()
            .any(|s| s.values == ["https://maven.corp.example/public/"]));
        assert!(maven.iter().any(|s| s.values == ["pw"]));
    }
}
