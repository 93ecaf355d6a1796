//! Probing the endpoints a profile names, the way the machine's clients will reach them: each
//! registry, index, Go proxy and git base through the HTTP proxy the profile routes it through
//! (with that proxy's login), or directly; and each proxy by a request through it.
//!
//! A probe is one small request per endpoint: npm's own ping (`GET {registry}-/ping`, what
//! `npm ping` asks), and a `HEAD` of a PEP 503 index (whose root lists every project), of a Go
//! proxy and of a git base; or a `GET` of the URL ops set for the endpoint in the profile's
//! `probe-urls` (on the endpoint's own host, such as a mirror's health page). Any answer
//! below 500 means the machine reaches the endpoint (a
//! registry that wants a token answers 401, which is reachable). Probes carry no registry
//! token at all, send a proxy's login to that proxy alone, and follow no redirect, so nothing
//! leaves for another host.
//!
//! Certificates are checked against the Mozilla roots (those npm and pip's certifi start
//! from); an endpoint whose certificate only the machine's own store or a client's `cafile`
//! trusts reads `tls` here although its clients reach it. Endpoints behind an `https://` proxy
//! are not probed: the agent's HTTP library speaks to proxies over plain HTTP only.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use switchyard_proto::devices::{EndpointKind, EndpointProbe, MachineFact, ProbeOutcome};
use switchyard_proto::profile::ProxyLogin;
use switchyard_proto::Profile;
use time::OffsetDateTime;

use crate::plan::login_for;

/// The most endpoints probed (and reported) for one profile.
pub const MOST_ENDPOINTS: usize = 64;

/// Probes run at once.
const AT_ONCE: usize = 8;

/// One endpoint and how the machine reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// As the profile names it, without a login (cut to what a report carries).
    pub name: MachineFact,
    /// What kind.
    pub kind: EndpointKind,
    /// What the probe asks for.
    request: String,
    /// `HEAD` (all but npm's ping, whose answer is small): a `GET` of an index root would
    /// fetch every project's name.
    head: bool,
    /// The proxy it is reached through, if any.
    via: Option<Route>,
}

/// An HTTP proxy with the login the profile gives it.
#[derive(Clone, PartialEq, Eq)]
struct Route {
    /// `http://host:port/`, without the login.
    name: String,
    /// The login, as set (not percent-encoded): sent to this proxy alone.
    login: Option<(String, String)>,
}

/// The login never shows in logs or test failures.
impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("name", &self.name)
            .field("login", &self.login.as_ref().map(|(user, _)| user))
            .finish()
    }
}

/// Every endpoint `profile` names, each once, at most [`MOST_ENDPOINTS`]: npm's registries,
/// pip's indexes, Go's proxies (not `direct` or `off`), git's rewrite bases (http and https
/// ones; git reaches others over ssh), and the HTTP proxies.
pub fn endpoints(profile: &Profile) -> Vec<Endpoint> {
    let profile = profile.clone().normalized();
    let routes = Routes::of(&profile);
    let mut found: Vec<Endpoint> = Vec::new();
    let add = |found: &mut Vec<Endpoint>,
               name: &str,
               kind: EndpointKind,
               (request, head): (String, bool),
               via: Option<Route>| {
        let Ok(name) = MachineFact::parse(shorten(name)) else {
            return;
        };
        // Through an https proxy nothing is probed (see above).
        if via
            .as_ref()
            .is_some_and(|route| !route.name.starts_with("http://"))
        {
            return;
        }
        if found.len() < MOST_ENDPOINTS && !found.iter().any(|e| e.name == name && e.kind == kind) {
            found.push(Endpoint {
                name,
                kind,
                head,
                request,
                via,
            });
        }
    };
    // npm takes `https-proxy`, else `proxy`, for every registry whatever its scheme
    // (npm-registry-fetch: `opts.httpsProxy || opts.proxy`), and reads HTTPS_PROXY before
    // HTTP_PROXY the same way; git takes its own `http.proxy` before the variables.
    let npm_proxy = profile.npm.as_ref().and_then(|npm| {
        npm.https_proxy
            .as_deref()
            .or(npm.proxy.as_deref())
            .or(routes.https.as_deref())
            .or(routes.http.as_deref())
    });
    let git_proxy = profile
        .git
        .as_ref()
        .and_then(|git| git.http_proxy.as_deref());
    let named = profile.endpoints();
    for endpoint in named.iter().filter(|e| e.kind != EndpointKind::HttpProxy) {
        let url = endpoint.url;
        let (request, own) = match endpoint.kind {
            EndpointKind::NpmRegistry => ((join(url, "-/ping"), false), npm_proxy),
            EndpointKind::GitBase => ((url.to_owned(), true), git_proxy),
            _ => ((url.to_owned(), true), None),
        };
        // A probe URL ops set is fetched instead, as a page (it is on the endpoint's own
        // host: validated).
        let request = match profile.probe_url(url) {
            Some(probe_url) => (probe_url.to_owned(), false),
            None => request,
        };
        let via = routes.for_url(url, own);
        add(&mut found, url, endpoint.kind, request, via);
    }
    // A proxy is probed by a request through it for the first endpoint it carries, or else for
    // itself: either way the answer comes from the proxy or through it.
    let carried: Vec<(Route, String)> = found
        .iter()
        .filter_map(|e| e.via.clone().map(|via| (via, e.request.clone())))
        .collect();
    for proxy in named.iter().filter(|e| e.kind == EndpointKind::HttpProxy) {
        let route = routes.route(proxy.url);
        let request = carried
            .iter()
            .find(|(via, _)| *via == route)
            .map_or_else(|| route.name.clone(), |(_, request)| request.clone());
        let name = route.name.clone();
        add(
            &mut found,
            &name,
            EndpointKind::HttpProxy,
            (request, true),
            Some(route),
        );
    }
    found
}

/// `base` (which ends in `/` once normalized) with `path` after it.
fn join(base: &str, path: &str) -> String {
    match base.ends_with('/') {
        true => format!("{base}{path}"),
        false => format!("{base}/{path}"),
    }
}

/// Which proxy carries which URL, as the profile sets them: `proxy.https` for https URLs,
/// `proxy.http` for http ones (the variables every client reads), a client's own proxy before
/// them, and nothing for hosts in `proxy.no-proxy`.
struct Routes {
    http: Option<String>,
    https: Option<String>,
    no_proxy: Vec<String>,
    logins: BTreeMap<String, ProxyLogin>,
}

impl Routes {
    fn of(profile: &Profile) -> Self {
        let proxy = profile.proxy.as_ref();
        Self {
            http: proxy.and_then(|p| p.http.clone()),
            https: proxy.and_then(|p| p.https.clone()),
            no_proxy: proxy.and_then(|p| p.no_proxy.clone()).unwrap_or_default(),
            logins: proxy
                .and_then(|p| p.credentials.clone())
                .unwrap_or_default(),
        }
    }

    /// The proxy that carries `url`: `own` (a client's own setting) if given, else the one for
    /// its scheme; none for a host `no-proxy` names.
    fn for_url(&self, url: &str, own: Option<&str>) -> Option<Route> {
        let parsed = url::Url::parse(url).ok()?;
        let host = parsed.host_str()?;
        if self.no_proxy.iter().any(|entry| bypasses(entry, host)) {
            return None;
        }
        let proxy = own.or(match parsed.scheme() {
            "https" => self.https.as_deref(),
            _ => self.http.as_deref(),
        })?;
        Some(self.route(proxy))
    }

    fn route(&self, proxy: &str) -> Route {
        Route {
            name: proxy.to_owned(),
            login: login_for(proxy, Some(&self.logins))
                .map(|(user, password)| (user.to_owned(), password.to_owned())),
        }
    }
}

/// Whether the `no_proxy` entry names `host`, as curl and Go read one: `*` every host; a name
/// (with or without a leading `.` or `*.`) that host or any host under it; an address itself,
/// or one in a CIDR range (`10.0.0.0/8`, which Go takes). A port after the name is not
/// compared: the endpoint is reached on the port the profile names.
fn bypasses(entry: &str, host: &str) -> bool {
    use std::net::IpAddr;
    let entry = entry.trim().to_ascii_lowercase();
    let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
    if entry == "*" {
        return true;
    }
    if let Some((network, prefix)) = entry.split_once('/') {
        let (Ok(network), Ok(prefix), Ok(address)) = (
            network.parse::<IpAddr>(),
            prefix.parse::<u32>(),
            host.parse::<IpAddr>(),
        ) else {
            return false;
        };
        return match (network, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX.checked_shl(32 - prefix.min(32)).unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX.checked_shl(128 - prefix.min(128)).unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        };
    }
    let name = entry.trim_start_matches("*.").trim_start_matches('.');
    // `host:port`; an IPv6 address has more than one colon.
    let name = match name.matches(':').count() {
        1 => name.split_once(':').map_or(name, |(name, _)| name),
        _ => name.trim_matches(['[', ']']),
    };
    host == name || host.ends_with(&format!(".{name}"))
}

/// Probes every endpoint, a few at a time, each within `timeout`; the results come in the
/// order of `endpoints`.
pub fn probe_all(endpoints: &[Endpoint], timeout: Duration) -> Vec<EndpointProbe> {
    let mut probes = Vec::with_capacity(endpoints.len());
    for batch in endpoints.chunks(AT_ONCE) {
        let found: Vec<EndpointProbe> = std::thread::scope(|scope| {
            let running: Vec<_> = batch
                .iter()
                .map(|endpoint| scope.spawn(move || probe(endpoint, timeout)))
                .collect();
            running
                .into_iter()
                .zip(batch)
                .map(|(thread, endpoint)| {
                    thread.join().unwrap_or_else(|_| {
                        failed(endpoint, ProbeOutcome::Other, "the probe panicked".into())
                    })
                })
                .collect()
        });
        probes.extend(found);
    }
    probes
}

/// One probe of `endpoint`.
pub fn probe(endpoint: &Endpoint, timeout: Duration) -> EndpointProbe {
    let mut builder = ureq::AgentBuilder::new()
        .timeout_connect(timeout)
        .timeout(timeout)
        .redirects(0)
        .user_agent(concat!(
            "switchyard-agent/",
            env!("CARGO_PKG_VERSION"),
            " probe"
        ));
    if let Some(route) = &endpoint.via {
        match proxy(route) {
            Ok(proxy) => builder = builder.proxy(proxy),
            Err(message) => return failed(endpoint, ProbeOutcome::Other, message),
        }
    }
    let agent = builder.build();
    let mut request = match endpoint.head {
        true => agent.head(&endpoint.request),
        false => agent.get(&endpoint.request),
    };
    // ureq gives a proxy its login only in the CONNECT of an https request; a plain http
    // request goes to the proxy itself, so the login goes in its head (and nowhere else: an
    // https request's head travels through the tunnel to the origin).
    if let Some((user, password)) = endpoint.via.as_ref().and_then(|via| via.login.as_ref()) {
        if endpoint.request.starts_with("http://") {
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            request = request.set("Proxy-Authorization", &format!("Basic {basic}"));
        }
    }
    let started = Instant::now();
    let answer = request.call();
    let latency = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
    let status = match answer {
        Ok(response) => response.status(),
        Err(ureq::Error::Status(status, _)) => status,
        Err(ureq::Error::Transport(transport)) => {
            let (outcome, message) = transport_outcome(&transport);
            return failed(endpoint, outcome, message);
        }
    };
    let outcome = match status {
        407 => ProbeOutcome::ProxyLogin,
        500.. => ProbeOutcome::ServerError,
        _ => ProbeOutcome::Reachable,
    };
    EndpointProbe {
        endpoint: endpoint.name.clone(),
        kind: endpoint.kind,
        outcome,
        status: Some(status),
        latency_ms: Some(latency),
        checked_at: now(),
        message: None,
    }
}

/// `route` as ureq takes it: the login as set, for ureq sends it as it is (Basic, to the
/// proxy alone).
fn proxy(route: &Route) -> Result<ureq::Proxy, String> {
    let parsed = url::Url::parse(&route.name).map_err(|e| format!("not a URL: {e}"))?;
    if parsed.scheme() != "http" {
        return Err(format!(
            "{} proxies are not probed; only http ones",
            parsed.scheme()
        ));
    }
    let host = parsed.host_str().unwrap_or_default();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let login = route
        .login
        .as_ref()
        .map(|(user, password)| format!("{user}:{password}@"))
        .unwrap_or_default();
    ureq::Proxy::new(format!("http://{login}{host}:{port}"))
        .map_err(|_| "the proxy's address or login cannot be used".to_owned())
}

/// What a failed connection means, in the probe's terms, and a line for people. Only the
/// error's causes are read, never its own text, whose URL could say anything.
fn transport_outcome(transport: &ureq::Transport) -> (ProbeOutcome, String) {
    use std::error::Error as _;
    use std::io::ErrorKind as Io;
    let mut causes = Vec::new();
    let mut io_kind = None;
    let mut source = transport.source();
    while let Some(error) = source {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        causes.push(error.to_string().to_ascii_lowercase());
        source = error.source();
    }
    let said = |words: &[&str]| {
        causes
            .iter()
            .any(|cause| words.iter().any(|word| cause.contains(word)))
    };
    let outcome = match (transport.kind(), io_kind) {
        (ureq::ErrorKind::Dns, _) => ProbeOutcome::Dns,
        (ureq::ErrorKind::ProxyUnauthorized, _) => ProbeOutcome::ProxyLogin,
        // The proxy would not open a tunnel to the endpoint (403, 502, 503...).
        (ureq::ErrorKind::ProxyConnect, _) => ProbeOutcome::Refused,
        (_, Some(Io::TimedOut | Io::WouldBlock)) => ProbeOutcome::Timeout,
        _ if said(&["certificate", "handshake", "tls", "alert"]) => ProbeOutcome::Tls,
        (_, Some(Io::ConnectionRefused | Io::ConnectionReset | Io::ConnectionAborted)) => {
            ProbeOutcome::Refused
        }
        (ureq::ErrorKind::ConnectionFailed, _) => ProbeOutcome::Refused,
        _ => ProbeOutcome::Other,
    };
    (outcome, transport.to_string())
}

fn failed(endpoint: &Endpoint, outcome: ProbeOutcome, message: String) -> EndpointProbe {
    EndpointProbe {
        endpoint: endpoint.name.clone(),
        kind: endpoint.kind,
        outcome,
        status: None,
        latency_ms: None,
        checked_at: now(),
        message: MachineFact::parse(shorten(&message)).ok(),
    }
}

/// `text` in at most 256 characters, without control characters: what a report may carry.
fn shorten(text: &str) -> String {
    let plain: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match plain.chars().count() > 256 {
        true => plain.chars().take(255).chain(['…']).collect(),
        false => plain,
    }
}

fn now() -> OffsetDateTime {
    crate::clock::now()
}

#[cfg(test)]
mod tests {
    use super::bypasses;

    #[test]
    fn no_proxy_entries_name_hosts_as_curl_and_go_read_them() {
        let cases = [
            ("*", "npm.corp.example", true),
            ("corp.example", "corp.example", true),
            ("corp.example", "npm.corp.example", true),
            (".corp.example", "npm.corp.example", true),
            ("*.corp.example", "npm.corp.example", true),
            ("corp.example", "notcorp.example", false),
            ("corp.example:8443", "npm.corp.example", true),
            ("10.0.0.0/8", "10.20.30.40", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("10.0.0.0/8", "npm.corp.example", false),
            ("fd00::/8", "[fd12::1]", true),
            ("::1", "[::1]", true),
            ("127.0.0.1", "127.0.0.2", false),
        ];
        for (entry, host, expected) in cases {
            assert_eq!(bypasses(entry, host), expected, "{entry} / {host}");
        }
    }
}
