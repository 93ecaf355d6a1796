//! Where a profile holds secrets. The server seals each one before storing a profile and
//! resolves "keep the stored secret" by the same path, so every place a secret can sit is
//! listed here once.

use std::fmt;

use super::{EnvValue, MavenClient, Profile, RubygemsClient, Secret};

/// The JSON keys that lead to a secret, such as `["proxy", "credentials", URL, "password"]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretPath(Vec<String>);

impl SecretPath {
    fn new(keys: &[&str]) -> Self {
        Self(keys.iter().map(|key| (*key).to_owned()).collect())
    }

    /// The keys, outermost first.
    pub fn keys(&self) -> &[String] {
        &self.0
    }

    /// The path as an RFC 6901 JSON pointer, for `serde_json::Value::pointer`.
    pub fn json_pointer(&self) -> String {
        self.0
            .iter()
            .map(|key| format!("/{}", key.replace('~', "~0").replace('/', "~1")))
            .collect()
    }
}

/// Dotted, as problems and diffs name settings: `npm.auth-tokens.https://npm.corp.example/`.
impl fmt::Display for SecretPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// Lists every secret slot of a profile, by shared or by mutable reference: one body for both,
/// so that the two can never disagree about where secrets are.
macro_rules! secret_slots {
    ($profile:expr, $as_ref:ident, $iter:ident $(, $mut:tt)?) => {{
        let mut slots = Vec::new();
        let npm_sections = [
            (&["npm"][..], $profile.npm.$as_ref()),
            (&["clients", "npm"][..], $profile.clients.npm.$as_ref()),
            (&["clients", "pnpm"][..], $profile.clients.pnpm.$as_ref()),
            (&["clients", "yarn"][..], $profile.clients.yarn.$as_ref()),
        ];
        for (section, npm) in npm_sections {
            let tokens = npm.and_then(|npm| npm.auth_tokens.$as_ref());
            for (registry, token) in tokens.into_iter().flat_map(|m| m.$iter()) {
                let mut keys = section.to_vec();
                keys.extend(["auth-tokens", registry.as_str()]);
                slots.push((SecretPath::new(&keys), token));
            }
        }
        if let Some(cargo) = $profile.cargo.$as_ref() {
            if let Some(token) = cargo.registry_token.$as_ref() {
                slots.push((SecretPath::new(&["cargo", "registry-token"]), token));
            }
            for (name, token) in cargo.tokens.$as_ref().into_iter().flat_map(|m| m.$iter()) {
                slots.push((SecretPath::new(&["cargo", "tokens", name]), token));
            }
        }
        let maven_sections = [
            (&["maven"][..], $profile.maven.$as_ref()),
            (&["clients", "maven"][..], $profile.clients.maven.$as_ref()),
            (&["clients", "gradle"][..], $profile.clients.gradle.$as_ref()),
        ];
        for (section, maven) in maven_sections {
            if let Some(password) = maven.and_then(|maven| maven.password.$as_ref()) {
                slots.push((SecretPath::new(&[section, &["password"]].concat()), password));
            }
        }
        let rubygems_sections = [
            (&["rubygems"][..], $profile.rubygems.$as_ref()),
            (&["clients", "gem"][..], $profile.clients.gem.$as_ref()),
            (&["clients", "bundler"][..], $profile.clients.bundler.$as_ref()),
        ];
        for (section, rubygems) in rubygems_sections {
            if let Some(password) = rubygems.and_then(|rubygems| rubygems.password.$as_ref()) {
                slots.push((SecretPath::new(&[section, &["password"]].concat()), password));
            }
        }
        if let Some(proxy) = $profile.proxy.$as_ref() {
            for (origin, login) in proxy.credentials.$as_ref().into_iter().flat_map(|m| m.$iter()) {
                let path = SecretPath::new(&["proxy", "credentials", origin, "password"]);
                slots.push((path, &$($mut)? login.password));
            }
        }
        for (name, value) in $profile.env.$iter() {
            if let EnvValue::Secret(secret) = value {
                slots.push((SecretPath::new(&["env", name]), secret));
            }
        }
        slots
    }};
}

impl Profile {
    /// The profile as JSON with each secret that holds a value written as `secret_form(value)`
    /// (a plain read shows `{"set": true}` instead): how the server seals secrets for storage,
    /// fingerprints them for hashing, and hands them to the machines they are for.
    pub fn to_json_with_secrets(
        &self,
        secret_form: impl Fn(&str) -> serde_json::Value,
    ) -> serde_json::Value {
        let mut json = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        for (path, secret) in self.secrets() {
            if let (Secret::Value(plain), Some(slot)) =
                (secret, json.pointer_mut(&path.json_pointer()))
            {
                *slot = secret_form(plain);
            }
        }
        json
    }

    /// Where the secret at `path` is sent, where its key does not say so itself: a Cargo
    /// token goes to its registry's index (`cargo.registry` for `cargo.registry-token`,
    /// `cargo.registries.<name>` for `cargo.tokens.<name>`), Maven's password to
    /// `maven.repository`, the gem source's to `rubygems.source`, a client's own password
    /// (`clients.gradle.password`) to the repository or source that client reads: an edit
    /// may change these while keeping the secret. `None` for every other secret, whose key
    /// names where it goes (a registry's or proxy's URL) or that goes nowhere (an `env` value).
    pub fn secret_destination(&self, path: &SecretPath) -> Option<String> {
        let keys: Vec<&str> = path.keys().iter().map(String::as_str).collect();
        match keys.as_slice() {
            ["maven", "password"] => return self.maven.as_ref()?.repository.clone(),
            ["rubygems", "password"] => return self.rubygems.as_ref()?.source.clone(),
            ["clients", "maven", "password"] => {
                return self.maven_for(MavenClient::Maven)?.repository;
            }
            ["clients", "gradle", "password"] => {
                return self.maven_for(MavenClient::Gradle)?.repository;
            }
            ["clients", "gem", "password"] => {
                return self.rubygems_for(RubygemsClient::Gem)?.source;
            }
            ["clients", "bundler", "password"] => {
                return self.rubygems_for(RubygemsClient::Bundler)?.source;
            }
            _ => {}
        }
        let cargo = self.cargo.as_ref()?;
        match path.keys() {
            [section, token] if section == "cargo" && token == "registry-token" => {
                cargo.registry.clone()
            }
            [section, tokens, name] if section == "cargo" && tokens == "tokens" => {
                cargo.registries.as_ref()?.get(name).cloned()
            }
            _ => None,
        }
    }

    /// Every secret in the profile, by path.
    pub fn secrets(&self) -> Vec<(SecretPath, &Secret)> {
        secret_slots!(self, as_ref, iter)
    }

    /// Every secret in the profile, by path, to change in place.
    pub fn secrets_mut(&mut self) -> Vec<(SecretPath, &mut Secret)> {
        secret_slots!(self, as_mut, iter_mut, mut)
    }
}
