//! Every URL and host of a profile in the one form the package clients compare against, so that
//! the stored profile, its diff and what a machine writes agree.
//!
//! Clients compare some values as keys rather than fetch them:
//! - npm looks a token up under `//` + the registry URL's host (lower-cased, its default port
//!   dropped) + path, as WHATWG's URL parser gives them (npm-registry-fetch `lib/auth.js`,
//!   `regFromURI`). [`url::Url`] is a WHATWG parser, so its serialization is that form.
//! - pip compares `trusted-host` with the index URL's host without regard to case
//!   (pip `network/session.py`, `is_secure_origin`), and its port exactly as written.
//! - curl, Go and Python compare `NO_PROXY` entries without regard to case.
//! - git keys `url.<base>` by the base string (case-sensitive): one spelling per base.
//!
//! Normalizing is idempotent, and a value that is not a valid URL or host is left as it was
//! for [`Profile::validate`] to report.

use std::collections::BTreeMap;

use super::{NpmSettings, Profile, ProxyLogin, PypiSettings};

/// `value` as a WHATWG URL serializes it (scheme and host lower-cased, a default port
/// dropped, an empty path made `/`, international host names in their IDNA form), when it is
/// an http or https URL; otherwise as it was.
pub fn url(value: &str) -> String {
    match url::Url::parse(value) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {
            parsed.to_string()
        }
        _ => value.to_owned(),
    }
}

/// The registry a token is for as npm and pnpm name it in `.npmrc` (`//host/path/:_authToken`,
/// npm-registry-fetch `lib/auth.js`): the URL in [`url`]'s form without its scheme, so that
/// `http://` and `https://` on one host and path are one registry (`host/path/`).
pub fn npm_token_registry(value: &str) -> String {
    let url = url(value);
    match url.split_once("://") {
        Some((_, rest)) => rest.to_owned(),
        None => url,
    }
}

/// A Cargo index URL with its URL part normalized, a `sparse+` in front kept: Cargo keys
/// what it fetched by the index URL (Cargo `sources/registry/mod.rs`, `SourceId`).
pub fn cargo_index(value: &str) -> String {
    match value.strip_prefix("sparse+") {
        Some(rest) => format!("sparse+{}", url(rest)),
        None => url(value),
    }
}

/// A host, `host:port` or domain suffix (`.corp.example`) with its host lower-cased and in
/// its IDNA form; CIDR ranges, addresses and `*` as they were.
pub fn host(value: &str) -> String {
    let (name, port) = match value.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            (name, Some(port))
        }
        _ => (value, None),
    };
    let (dot, bare) = match name.strip_prefix('.') {
        Some(bare) => (".", bare),
        None => ("", name),
    };
    if bare.is_empty() || bare.contains(['/', '*', '[', ']']) {
        return value.to_ascii_lowercase();
    }
    let Ok(ascii) = url::Host::parse(bare) else {
        return value.to_owned();
    };
    let mut out = format!("{dot}{ascii}");
    if let Some(port) = port {
        out.push(':');
        out.push_str(port);
    }
    out
}

fn urls(values: &mut [String]) {
    for value in values {
        *value = url(value);
    }
}

fn url_keys<V>(map: BTreeMap<String, V>) -> BTreeMap<String, V> {
    map.into_iter()
        .map(|(key, value)| (url(&key), value))
        .collect()
}

impl NpmSettings {
    fn normalize(&mut self) {
        for value in [&mut self.registry, &mut self.proxy, &mut self.https_proxy]
            .into_iter()
            .flatten()
        {
            *value = url(value);
        }
        urls(self.registry_fallbacks.as_deref_mut().unwrap_or_default());
        for registry in self
            .scopes
            .iter_mut()
            .flat_map(|scopes| scopes.values_mut())
        {
            *registry = url(registry);
        }
        self.auth_tokens = self.auth_tokens.take().map(url_keys);
    }
}

impl PypiSettings {
    fn normalize(&mut self) {
        if let Some(index) = &mut self.index_url {
            *index = url(index);
        }
        urls(self.index_url_fallbacks.as_deref_mut().unwrap_or_default());
        urls(self.extra_index_url.as_deref_mut().unwrap_or_default());
        for trusted in self.trusted_host.iter_mut().flatten() {
            *trusted = host(trusted);
        }
    }
}

impl Profile {
    /// The profile with every URL and host in its compared form (see the module's text).
    /// Keys that become equal keep the value of the last in their old order; validate first
    /// ([`Profile::validate`] refuses such pairs).
    pub fn normalized(mut self) -> Profile {
        if let Some(go) = &mut self.go {
            for entry in go.proxy.iter_mut().flatten() {
                entry.source = url(&entry.source);
            }
        }
        let c = &mut self.clients;
        for npm in [&mut self.npm, &mut c.npm, &mut c.pnpm, &mut c.yarn]
            .into_iter()
            .flatten()
        {
            npm.normalize();
        }
        for pypi in [&mut self.pypi, &mut c.pip, &mut c.uv]
            .into_iter()
            .flatten()
        {
            pypi.normalize();
        }
        if let Some(cargo) = &mut self.cargo {
            for index in cargo
                .registry
                .iter_mut()
                .chain(cargo.registries.iter_mut().flat_map(|r| r.values_mut()))
            {
                *index = cargo_index(index);
            }
            if let Some(proxy) = &mut cargo.http_proxy {
                *proxy = url(proxy);
            }
        }
        let c = &mut self.clients;
        for maven in [&mut self.maven, &mut c.maven, &mut c.gradle]
            .into_iter()
            .flatten()
        {
            for value in [&mut maven.repository, &mut maven.proxy]
                .into_iter()
                .flatten()
            {
                *value = url(value);
            }
            for value in maven.no_proxy.iter_mut().flatten() {
                *value = host(value);
            }
        }
        for rubygems in [&mut self.rubygems, &mut c.gem, &mut c.bundler]
            .into_iter()
            .flatten()
        {
            if let Some(source) = &mut rubygems.source {
                *source = url(source);
            }
        }
        if let Some(git) = &mut self.git {
            // Only the base: `insteadOf` prefixes are compared with what people type.
            for rewrite in git.rewrites.iter_mut().flatten() {
                rewrite.base = url(&rewrite.base);
            }
            if let Some(proxy) = &mut git.http_proxy {
                *proxy = url(proxy);
            }
        }
        if let Some(proxy) = &mut self.proxy {
            for value in [&mut proxy.http, &mut proxy.https].into_iter().flatten() {
                *value = url(value);
            }
            for entry in proxy.no_proxy.iter_mut().flatten() {
                *entry = host(entry);
            }
            proxy.credentials = proxy.credentials.take().map(url_keys::<ProxyLogin>);
        }
        self.probe_urls = url_keys(std::mem::take(&mut self.probe_urls))
            .into_iter()
            .map(|(endpoint, probe)| (endpoint, url(&probe)))
            .collect();
        self
    }
}

/// Keys of `map` that name the same thing once normalized by `form`: (the later key, the
/// earlier one it collides with).
pub(super) fn colliding_keys<V>(
    map: &BTreeMap<String, V>,
    form: impl Fn(&str) -> String,
) -> Vec<(&str, &str)> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    let mut collisions = Vec::new();
    for key in map.keys() {
        if let Some(earlier) = seen.insert(form(key), key) {
            collisions.push((key.as_str(), earlier));
        }
    }
    collisions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_take_the_form_npm_compares_token_keys_in() {
        assert_eq!(url("http://LOCALHOST:4873/"), "http://localhost:4873/");
        assert_eq!(url("http://127.0.0.1:80/"), "http://127.0.0.1/");
        assert_eq!(
            url("HTTPS://Npm.Corp.Example:443"),
            "https://npm.corp.example/"
        );
        assert_eq!(
            url("https://npm.corp.example/Corp/"),
            "https://npm.corp.example/Corp/"
        );
        assert_eq!(
            url("https://bücher.example/"),
            "https://xn--bcher-kva.example/"
        );
        assert_eq!(url("direct"), "direct");
        assert_eq!(url("not a url"), "not a url");
        for value in ["http://LOCALHOST:4873/", "HTTPS://Npm.Corp.Example:443"] {
            assert_eq!(url(&url(value)), url(value), "idempotent");
        }
    }

    #[test]
    fn hosts_are_lower_cased_and_keep_ports_suffixes_and_ranges() {
        assert_eq!(host("PyPI.Corp.Example"), "pypi.corp.example");
        assert_eq!(host("PyPI.Corp.Example:8080"), "pypi.corp.example:8080");
        assert_eq!(host(".Corp.Example"), ".corp.example");
        assert_eq!(host("10.0.0.0/8"), "10.0.0.0/8");
        assert_eq!(host("*"), "*");
        assert_eq!(host("LOCALHOST"), "localhost");
        assert_eq!(host("Bücher.Example"), "xn--bcher-kva.example");
    }

    #[test]
    fn a_profile_is_normalized_throughout_and_only_where_clients_compare() {
        let profile: Profile = serde_json::from_value(serde_json::json!({
            "npm": {"registry": "http://LOCALHOST:4873",
                    "auth-tokens": {"http://LOCALHOST:4873/": {"value": "tok"}}},
            "pypi": {"trusted-host": ["PyPI.Corp.Example"]},
            "git": {"rewrites": [{"base": "HTTPS://Git.Corp.Example", "instead-of": ["https://GitHub.com/"]}]},
            "proxy": {"no-proxy": ["LocalHost", ".Corp.Example"]}
        }))
        .unwrap();
        let normalized = profile.normalized();
        let json = serde_json::to_value(&normalized).unwrap();
        assert_eq!(json["npm"]["registry"], "http://localhost:4873/");
        assert!(json["npm"]["auth-tokens"]["http://localhost:4873/"].is_object());
        assert_eq!(json["pypi"]["trusted-host"][0], "pypi.corp.example");
        assert_eq!(
            json["git"]["rewrites"][0]["base"],
            "https://git.corp.example/"
        );
        assert_eq!(
            json["git"]["rewrites"][0]["instead-of"][0],
            "https://GitHub.com/"
        );
        assert_eq!(json["proxy"]["no-proxy"][1], ".corp.example");
        assert_eq!(normalized.clone().normalized(), normalized);
    }
}
