//! Overlays: a machine role's profile applied to its environment's baseline. Scalars and lists
//! in the overlay replace the baseline's; maps (npm scopes and tokens, proxy credentials,
//! `env`, `probe-urls`) merge by key, the overlay winning. An overlay cannot remove a baseline
//! setting, with one exception: fallback mirrors travel with the mirror they stand in for, so
//! an overlay that sets npm's `registry` or pip's `index-url` brings its own fallbacks (or
//! none), never the baseline's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{GitSettings, GoSettings, NpmSettings, PipSettings, Profile, ProxySettings};

/// Where an effective setting comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The environment's baseline.
    Baseline,
    /// The machine role's overlay.
    Overlay,
}

fn merge_maps<V: Clone>(
    base: &Option<BTreeMap<String, V>>,
    over: &Option<BTreeMap<String, V>>,
) -> Option<BTreeMap<String, V>> {
    match (base, over) {
        (Some(base), Some(over)) => {
            let mut merged = base.clone();
            merged.extend(over.iter().map(|(k, v)| (k.clone(), v.clone())));
            Some(merged)
        }
        (base, None) => base.clone(),
        (None, over) => over.clone(),
    }
}

fn merge_sections<T: Clone>(
    base: &Option<T>,
    over: &Option<T>,
    merge: impl FnOnce(&T, &T) -> T,
) -> Option<T> {
    match (base, over) {
        (Some(base), Some(over)) => Some(merge(base, over)),
        (base, None) => base.clone(),
        (None, over) => over.clone(),
    }
}

/// The overlay's value where it has one, else the baseline's.
fn pick<T: Clone>(base: &Option<T>, over: &Option<T>) -> Option<T> {
    over.clone().or_else(|| base.clone())
}

/// Fallbacks for a mirror: the overlay's when it sets the mirror itself (`over_primary`), else
/// the baseline's.
fn with_primary<T: Clone>(
    over_primary: &Option<String>,
    base: &Option<T>,
    over: &Option<T>,
) -> Option<T> {
    match over_primary {
        Some(_) => over.clone(),
        None => base.clone(),
    }
}

impl Profile {
    /// This profile with `overlay` applied.
    pub fn overlaid(&self, overlay: &Profile) -> Profile {
        let go = merge_sections(&self.go, &overlay.go, |b, o| GoSettings {
            proxy: pick(&b.proxy, &o.proxy),
            private: pick(&b.private, &o.private),
            noproxy: pick(&b.noproxy, &o.noproxy),
            nosumdb: pick(&b.nosumdb, &o.nosumdb),
            sumdb: pick(&b.sumdb, &o.sumdb),
            insecure: pick(&b.insecure, &o.insecure),
        });
        let npm = merge_sections(&self.npm, &overlay.npm, |b, o| NpmSettings {
            registry: pick(&b.registry, &o.registry),
            registry_fallbacks: with_primary(
                &o.registry,
                &b.registry_fallbacks,
                &o.registry_fallbacks,
            ),
            scopes: merge_maps(&b.scopes, &o.scopes),
            auth_tokens: merge_maps(&b.auth_tokens, &o.auth_tokens),
            strict_ssl: pick(&b.strict_ssl, &o.strict_ssl),
            proxy: pick(&b.proxy, &o.proxy),
            https_proxy: pick(&b.https_proxy, &o.https_proxy),
        });
        let pip = merge_sections(&self.pip, &overlay.pip, |b, o| PipSettings {
            index_url: pick(&b.index_url, &o.index_url),
            index_url_fallbacks: with_primary(
                &o.index_url,
                &b.index_url_fallbacks,
                &o.index_url_fallbacks,
            ),
            extra_index_url: pick(&b.extra_index_url, &o.extra_index_url),
            trusted_host: pick(&b.trusted_host, &o.trusted_host),
            timeout: pick(&b.timeout, &o.timeout),
        });
        let git = merge_sections(&self.git, &overlay.git, |b, o| GitSettings {
            rewrites: pick(&b.rewrites, &o.rewrites),
            http_proxy: pick(&b.http_proxy, &o.http_proxy),
        });
        let proxy = merge_sections(&self.proxy, &overlay.proxy, |b, o| ProxySettings {
            http: pick(&b.http, &o.http),
            https: pick(&b.https, &o.https),
            no_proxy: pick(&b.no_proxy, &o.no_proxy),
            credentials: merge_maps(&b.credentials, &o.credentials),
        });
        let mut env = self.env.clone();
        env.extend(overlay.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut probe_urls = self.probe_urls.clone();
        probe_urls.extend(
            overlay
                .probe_urls
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        Profile {
            go,
            npm,
            pip,
            git,
            proxy,
            env,
            probe_urls,
        }
    }

    /// The effective profile (this baseline with `overlay` applied) and, for each of its
    /// settings, where it comes from.
    pub fn effective(&self, overlay: Option<&Profile>) -> (Profile, BTreeMap<String, Origin>) {
        let Some(overlay) = overlay else {
            let origins = self
                .settings()
                .into_keys()
                .map(|path| (path, Origin::Baseline))
                .collect();
            return (self.clone(), origins);
        };
        let effective = self.overlaid(overlay);
        let from_overlay = overlay.settings();
        let origins = effective
            .settings()
            .into_keys()
            .map(|path| {
                let origin = match from_overlay.contains_key(&path) {
                    true => Origin::Overlay,
                    false => Origin::Baseline,
                };
                (path, origin)
            })
            .collect();
        (effective, origins)
    }
}
