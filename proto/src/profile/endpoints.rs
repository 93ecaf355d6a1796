//! The endpoints a profile names: what machines probe after applying it, and what a rollout's
//! gate watches when a version adds or changes one. Listed once here so the agent's probes and
//! the server's gate agree on what an endpoint is.

use super::Profile;
use crate::devices::EndpointKind;

/// One endpoint a profile names, as written in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NamedEndpoint<'a> {
    /// What kind.
    pub kind: EndpointKind,
    /// Its URL.
    pub url: &'a str,
}

fn is_http(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// An endpoint URL as `probe-urls` keys are compared with it: normalized, and without a
/// trailing `/` (npm and pip add one to a registry or index that lacks it).
pub(super) fn probe_key(url: &str) -> String {
    super::normalize::url(url).trim_end_matches('/').to_owned()
}

impl Profile {
    /// The probe URL ops set for `endpoint` in `probe-urls`, if any: the entry whose key names
    /// the same URL, compared as [`normalize::url`](super::normalize::url) writes both and
    /// without a trailing `/`.
    pub fn probe_url(&self, endpoint: &str) -> Option<&str> {
        let wanted = probe_key(endpoint);
        self.probe_urls
            .iter()
            .find(|(key, _)| probe_key(key) == wanted)
            .map(|(_, probe)| probe.as_str())
    }

    /// Every endpoint the profile names, each once, in this order: npm registries (the
    /// default, its fallbacks, then each scope's; from `npm`, then from each client's own
    /// values), Python package indexes (`index-url`, its fallbacks, then each
    /// `extra-index-url`; from `pypi`, then from each client's own values),
    /// Go's proxies that are URLs (not `direct` or `off`), git's rewrite bases reached over
    /// http or https (git reaches others over ssh), then the HTTP proxies (`proxy.http`,
    /// `proxy.https`). Compare a [`Profile::normalized`] profile's with what machines report.
    pub fn endpoints(&self) -> Vec<NamedEndpoint<'_>> {
        let npm = self.npm_sections().into_iter().flat_map(|(_, npm)| {
            npm.registry
                .iter()
                .chain(npm.registry_fallbacks.iter().flatten())
                .chain(npm.scopes.iter().flat_map(|scopes| scopes.values()))
                .map(|url| (EndpointKind::NpmRegistry, url))
        });
        let pypi = self.pypi_sections().into_iter().flat_map(|(_, pypi)| {
            pypi.index_url
                .iter()
                .chain(pypi.index_url_fallbacks.iter().flatten())
                .chain(pypi.extra_index_url.iter().flatten())
                .map(|url| (EndpointKind::PipIndex, url))
        });
        let go = self
            .go
            .iter()
            .flat_map(|go| go.proxy.iter().flatten())
            .map(|entry| (EndpointKind::GoProxy, &entry.source))
            .filter(|(_, url)| is_http(url));
        let git = self
            .git
            .iter()
            .flat_map(|git| git.rewrites.iter().flatten())
            .map(|rewrite| (EndpointKind::GitBase, &rewrite.base))
            .filter(|(_, url)| is_http(url));
        let proxies = self
            .proxy
            .iter()
            .flat_map(|proxy| proxy.http.iter().chain(proxy.https.iter()))
            .map(|url| (EndpointKind::HttpProxy, url));
        let mut found: Vec<NamedEndpoint<'_>> = Vec::new();
        for (kind, url) in npm.chain(pypi).chain(go).chain(git).chain(proxies) {
            let endpoint = NamedEndpoint { kind, url };
            if !found.contains(&endpoint) {
                found.push(endpoint);
            }
        }
        found
    }
}
