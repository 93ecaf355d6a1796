//! Overlays: a machine role's profile applied to its environment's baseline, and a client's
//! own values applied to its ecosystem's section. Scalars and lists in the overlay replace the
//! baseline's; maps (npm scopes and tokens, proxy credentials, `env`, `probe-urls`) merge by
//! key, the overlay winning (npm's tokens by registry, whatever the scheme of its URL). An overlay cannot remove a baseline setting, with one exception:
//! what travels with a mirror. An overlay that sets npm's `registry` or PyPI's `index-url`
//! brings its own fallbacks (or none), never the baseline's; one that sets a Cargo registry,
//! or names another Maven repository or gem source, brings its own token or login (or none),
//! and a client never gets a password that no layer paired with the repository it ends up
//! reading (`paired`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::normalize;
use super::{
    CargoSettings, ClientOverrides, GitSettings, GoSettings, MavenClient, MavenSettings, NpmClient,
    NpmSettings, Profile, ProxySettings, PypiClient, PypiSettings, RubygemsClient,
    RubygemsSettings, Secret,
};

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

/// npm's tokens, merged by the registry they are for: npm and pnpm keep a token under the
/// URL without its scheme (`//host/path/:_authToken`), so an overlay's token for
/// `https://r/` replaces the baseline's for `http://r/` rather than standing beside it
/// under the same key (the one validation refuses within one section).
fn merge_tokens(
    base: &Option<BTreeMap<String, Secret>>,
    over: &Option<BTreeMap<String, Secret>>,
) -> Option<BTreeMap<String, Secret>> {
    let mut merged = merge_maps(base, over)?;
    for key in over.iter().flat_map(BTreeMap::keys) {
        let replaced = normalize::npm_token_registry(key);
        merged.retain(|other, _| other == key || normalize::npm_token_registry(other) != replaced);
    }
    Some(merged)
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

/// Cargo's tokens of `b` with `o`'s laid over them, each travelling with its registry as
/// fallbacks travel with their mirror: a registry whose index the overlay sets gets the
/// overlay's token or none, never the baseline's, which is for the baseline's index.
fn cargo_tokens(b: &CargoSettings, o: &CargoSettings) -> Option<BTreeMap<String, super::Secret>> {
    let moved = |name: &String| o.registries.as_ref().is_some_and(|r| r.contains_key(name));
    let kept = b.tokens.as_ref().map(|tokens| {
        tokens
            .iter()
            .filter(|(name, _)| !moved(name))
            .map(|(name, token)| (name.clone(), token.clone()))
            .collect::<BTreeMap<_, _>>()
    });
    merge_maps(&kept.filter(|tokens| !tokens.is_empty()), &o.tokens)
}

impl NpmSettings {
    /// These settings with `o`'s laid over them.
    fn overlaid(&self, o: &NpmSettings) -> NpmSettings {
        NpmSettings {
            registry: pick(&self.registry, &o.registry),
            registry_fallbacks: with_primary(
                &o.registry,
                &self.registry_fallbacks,
                &o.registry_fallbacks,
            ),
            scopes: merge_maps(&self.scopes, &o.scopes),
            auth_tokens: merge_tokens(&self.auth_tokens, &o.auth_tokens),
            strict_ssl: pick(&self.strict_ssl, &o.strict_ssl),
            proxy: pick(&self.proxy, &o.proxy),
            https_proxy: pick(&self.https_proxy, &o.https_proxy),
        }
    }
}

impl PypiSettings {
    /// These settings with `o`'s laid over them.
    fn overlaid(&self, o: &PypiSettings) -> PypiSettings {
        PypiSettings {
            index_url: pick(&self.index_url, &o.index_url),
            index_url_fallbacks: with_primary(
                &o.index_url,
                &self.index_url_fallbacks,
                &o.index_url_fallbacks,
            ),
            extra_index_url: pick(&self.extra_index_url, &o.extra_index_url),
            trusted_host: pick(&self.trusted_host, &o.trusted_host),
            timeout: pick(&self.timeout, &o.timeout),
        }
    }
}

impl ClientOverrides {
    /// `client`'s own values over `maven`.
    pub fn maven_of(&self, client: MavenClient) -> &Option<MavenSettings> {
        match client {
            MavenClient::Maven => &self.maven,
            MavenClient::Gradle => &self.gradle,
        }
    }

    fn maven_of_mut(&mut self, client: MavenClient) -> &mut Option<MavenSettings> {
        match client {
            MavenClient::Maven => &mut self.maven,
            MavenClient::Gradle => &mut self.gradle,
        }
    }

    /// `client`'s own values over `rubygems`.
    pub fn rubygems_of(&self, client: RubygemsClient) -> &Option<RubygemsSettings> {
        match client {
            RubygemsClient::Gem => &self.gem,
            RubygemsClient::Bundler => &self.bundler,
        }
    }

    fn rubygems_of_mut(&mut self, client: RubygemsClient) -> &mut Option<RubygemsSettings> {
        match client {
            RubygemsClient::Gem => &mut self.gem,
            RubygemsClient::Bundler => &mut self.bundler,
        }
    }
}

/// A section whose login is one server's: Maven's repository, the gem source.
trait ServerLogin {
    /// The server's URL.
    fn server(&self) -> Option<&String>;
    /// The password sent to it.
    fn password(&self) -> Option<&Secret>;
    /// Forgets the login.
    fn clear_login(&mut self);
}

impl ServerLogin for MavenSettings {
    fn server(&self) -> Option<&String> {
        self.repository.as_ref()
    }
    fn password(&self) -> Option<&Secret> {
        self.password.as_ref()
    }
    fn clear_login(&mut self) {
        (self.username, self.password) = (None, None);
    }
}

impl ServerLogin for RubygemsSettings {
    fn server(&self) -> Option<&String> {
        self.source.as_ref()
    }
    fn password(&self) -> Option<&Secret> {
        self.password.as_ref()
    }
    fn clear_login(&mut self) {
        (self.username, self.password) = (None, None);
    }
}

/// Whether `over` names another server than `base` (as the clients compare URLs): what
/// travels with the server is then `over`'s alone.
pub(super) fn moves(over: &Option<String>, base: &Option<String>) -> bool {
    let compared = |url: &Option<String>| url.as_deref().map(normalize::url);
    over.is_some() && compared(over) != compared(base)
}

/// A login: `over`'s alone when `over` moves the server (`moved`), else `over`'s where it
/// has one (another login for the same server), else `base`'s.
fn login<T: Clone>(moved: bool, base: &Option<T>, over: &Option<T>) -> Option<T> {
    match moved {
        true => over.clone(),
        false => pick(base, over),
    }
}

/// Whether one of `views` (what some layer gives some client) pairs the password `read`
/// sends with the server `read` sends it to. Merged field by field, a password written
/// beside one layer's repository could otherwise reach another layer's: the baseline's
/// `clients.gradle` password would follow the role's `maven.repository`, and whoever may
/// edit the role, without reading secrets, could send it anywhere.
fn paired<T: ServerLogin>(read: &T, views: &[T]) -> bool {
    let server = |view: &T| view.server().map(|url| normalize::url(url));
    let Some(password) = read.password() else {
        return true;
    };
    views
        .iter()
        .any(|view| server(view) == server(read) && view.password() == Some(password))
}

impl MavenSettings {
    /// These settings with `o`'s laid over them. The login travels with its repository.
    fn overlaid(&self, o: &MavenSettings) -> MavenSettings {
        let moved = moves(&o.repository, &self.repository);
        MavenSettings {
            repository: pick(&self.repository, &o.repository),
            mirror_of: pick(&self.mirror_of, &o.mirror_of),
            username: login(moved, &self.username, &o.username),
            password: login(moved, &self.password, &o.password),
            proxy: pick(&self.proxy, &o.proxy),
            no_proxy: pick(&self.no_proxy, &o.no_proxy),
        }
    }
}

impl RubygemsSettings {
    /// These settings with `o`'s laid over them. The login travels with its source.
    fn overlaid(&self, o: &RubygemsSettings) -> RubygemsSettings {
        let moved = moves(&o.source, &self.source);
        RubygemsSettings {
            source: pick(&self.source, &o.source),
            username: login(moved, &self.username, &o.username),
            password: login(moved, &self.password, &o.password),
        }
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
        let npm = merge_sections(&self.npm, &overlay.npm, NpmSettings::overlaid);
        let pypi = merge_sections(&self.pypi, &overlay.pypi, PypiSettings::overlaid);
        let cargo = merge_sections(&self.cargo, &overlay.cargo, |b, o| CargoSettings {
            registry: pick(&b.registry, &o.registry),
            // A token travels with its mirror, as fallbacks do: a mirror the overlay moves
            // to gets the overlay's token or none.
            registry_token: with_primary(&o.registry, &b.registry_token, &o.registry_token),
            registries: merge_maps(&b.registries, &o.registries),
            tokens: cargo_tokens(b, o),
            http_proxy: pick(&b.http_proxy, &o.http_proxy),
        });
        let maven = merge_sections(&self.maven, &overlay.maven, MavenSettings::overlaid);
        let rubygems = merge_sections(
            &self.rubygems,
            &overlay.rubygems,
            RubygemsSettings::overlaid,
        );
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
        let (base, over) = (&self.clients, &overlay.clients);
        let clients = ClientOverrides {
            npm: merge_sections(&base.npm, &over.npm, NpmSettings::overlaid),
            pnpm: merge_sections(&base.pnpm, &over.pnpm, NpmSettings::overlaid),
            yarn: merge_sections(&base.yarn, &over.yarn, NpmSettings::overlaid),
            pip: merge_sections(&base.pip, &over.pip, PypiSettings::overlaid),
            uv: merge_sections(&base.uv, &over.uv, PypiSettings::overlaid),
            maven: merge_sections(&base.maven, &over.maven, MavenSettings::overlaid),
            gradle: merge_sections(&base.gradle, &over.gradle, MavenSettings::overlaid),
            gem: merge_sections(&base.gem, &over.gem, RubygemsSettings::overlaid),
            bundler: merge_sections(&base.bundler, &over.bundler, RubygemsSettings::overlaid),
        };
        let mut merged = Profile {
            go,
            npm,
            pypi,
            cargo,
            maven,
            rubygems,
            git,
            proxy,
            env,
            probe_urls,
            clients,
        };
        // A client's own login that no layer paired with the server the client now reads is
        // dropped (it then reads the ecosystem's, which is always paired, or none).
        let layers = [self, overlay];
        let views: Vec<MavenSettings> = layers
            .iter()
            .flat_map(|layer| {
                let clients = [MavenClient::Maven, MavenClient::Gradle];
                let read = clients.map(|client| layer.maven_for(client));
                read.into_iter().chain([layer.maven.clone()]).flatten()
            })
            .collect();
        for client in [MavenClient::Maven, MavenClient::Gradle] {
            let read = merged.maven_for(client);
            if read.is_some_and(|read| !paired(&read, &views)) {
                if let Some(own) = merged.clients.maven_of_mut(client) {
                    own.clear_login();
                }
            }
        }
        let views: Vec<RubygemsSettings> = layers
            .iter()
            .flat_map(|layer| {
                let clients = [RubygemsClient::Gem, RubygemsClient::Bundler];
                let read = clients.map(|client| layer.rubygems_for(client));
                read.into_iter().chain([layer.rubygems.clone()]).flatten()
            })
            .collect();
        for client in [RubygemsClient::Gem, RubygemsClient::Bundler] {
            let read = merged.rubygems_for(client);
            if read.is_some_and(|read| !paired(&read, &views)) {
                if let Some(own) = merged.clients.rubygems_of_mut(client) {
                    own.clear_login();
                }
            }
        }
        merged
    }

    /// What `client` reads from the npm registry's section: `npm` with the client's own values
    /// in `clients` laid over it.
    pub fn npm_for(&self, client: NpmClient) -> Option<NpmSettings> {
        let own = match client {
            NpmClient::Npm => &self.clients.npm,
            NpmClient::Pnpm => &self.clients.pnpm,
            NpmClient::Yarn => &self.clients.yarn,
        };
        merge_sections(&self.npm, own, NpmSettings::overlaid)
    }

    /// What `client` reads from the Python package index's section: `pypi` with the client's
    /// own values in `clients` laid over it.
    pub fn pypi_for(&self, client: PypiClient) -> Option<PypiSettings> {
        let own = match client {
            PypiClient::Pip => &self.clients.pip,
            PypiClient::Uv => &self.clients.uv,
        };
        merge_sections(&self.pypi, own, PypiSettings::overlaid)
    }

    /// What `client` reads from the Maven repository's section: `maven` with the client's own
    /// values in `clients` laid over it.
    pub fn maven_for(&self, client: MavenClient) -> Option<MavenSettings> {
        merge_sections(
            &self.maven,
            self.clients.maven_of(client),
            MavenSettings::overlaid,
        )
    }

    /// What `client` reads from the gem source's section: `rubygems` with the client's own
    /// values in `clients` laid over it.
    pub fn rubygems_for(&self, client: RubygemsClient) -> Option<RubygemsSettings> {
        merge_sections(
            &self.rubygems,
            self.clients.rubygems_of(client),
            RubygemsSettings::overlaid,
        )
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
