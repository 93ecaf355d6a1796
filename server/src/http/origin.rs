//! Where a request comes from, as the audit trail records it: the client's address (believing
//! `X-Forwarded-For` only from trusted proxies), its user agent and the request id.

use std::future::{ready, Ready};
use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use serde::{Deserialize, Serialize};
use switchyard_proto::{ActorKind, AuditAction};
use time::OffsetDateTime;

use super::{request_id, AppState};
use crate::auth::{Access, Credential};
use crate::domain::audit::{AuditRecord, Origin};
use crate::domain::identity::UserRecord;

/// Longest user agent kept.
const MAX_USER_AGENT: usize = 512;

/// The request's origin, for audit events; who acted is added by [`RequestOrigin::by`].
#[derive(Debug, Clone)]
pub struct RequestOrigin {
    source: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
}

impl RequestOrigin {
    fn of(request: &HttpRequest) -> Self {
        let trusted = request
            .app_data::<web::Data<AppState>>()
            .map(|state| state.trusted_proxies.clone())
            .unwrap_or_default();
        let peer = request.peer_addr().map(|address| address.ip());
        let forwarded = request
            .headers()
            .get_all(header::X_FORWARDED_FOR)
            .filter_map(|value| value.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let user_agent = request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|text| {
                text.chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_USER_AGENT)
                    .collect()
            });
        Self {
            source: peer
                .map(|peer| client_address(peer, &forwarded, &trusted))
                .map(|address| address.to_string()),
            user_agent,
            request_id: request_id::current(),
        }
    }

    fn as_actor(&self, actor_kind: ActorKind, actor: String) -> Origin {
        Origin {
            actor_kind,
            actor,
            source: self.source.clone(),
            user_agent: self.user_agent.clone(),
            request_id: self.request_id.clone(),
            detail: Default::default(),
        }
    }

    /// An authenticated caller; an API token's id goes into every event's detail.
    pub fn by(&self, access: &Access) -> Origin {
        let username = access.user.username.to_string();
        match access.credential {
            Credential::Session { .. } => self.as_actor(ActorKind::User, username),
            Credential::ApiToken { id } => {
                let mut origin = self.as_actor(ActorKind::ApiToken, username);
                origin.detail.insert("token".into(), id.to_string());
                origin
            }
        }
    }

    /// A user who has just proved who they are (a login).
    pub fn by_user(&self, user: &UserRecord) -> Origin {
        self.as_actor(ActorKind::User, user.username.to_string())
    }

    /// An enrolled machine, by its device id: one that has just enrolled, or whose signed
    /// request held.
    pub fn by_device(&self, device: uuid::Uuid) -> Origin {
        self.as_actor(ActorKind::Device, device.to_string())
    }

    /// Someone not authenticated.
    pub fn anonymous(&self) -> Origin {
        self.as_actor(ActorKind::Anonymous, String::new())
    }

    /// An event by an authenticated caller.
    pub fn record(
        &self,
        access: &Access,
        action: AuditAction,
        target: impl Into<String>,
        at: OffsetDateTime,
    ) -> AuditRecord {
        self.by(access).record(action, target, at)
    }
}

/// The client: the peer itself, unless the peer is a trusted proxy; then the nearest address in
/// `X-Forwarded-For` that is not a trusted proxy (proxies append, so a client can only forge
/// entries to the left of the ones they add).
fn client_address(peer: IpAddr, forwarded: &str, trusted: &TrustedProxies) -> IpAddr {
    if !trusted.contains(peer) {
        return peer;
    }
    let mut client = peer;
    for entry in forwarded.rsplit(',').map(str::trim) {
        let Ok(address) = entry.parse::<IpAddr>() else {
            // A malformed hop: nothing further left can be believed.
            break;
        };
        client = address;
        if !trusted.contains(address) {
            break;
        }
    }
    client
}

impl FromRequest for RequestOrigin {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(request)))
    }
}

/// Whether `request` came through one of the trusted proxies, whose `X-Forwarded-*` headers
/// are then believed.
pub fn via_trusted_proxy(request: &HttpRequest) -> bool {
    request
        .app_data::<web::Data<AppState>>()
        .zip(request.peer_addr())
        .is_some_and(|(state, peer)| state.trusted_proxies.contains(peer.ip()))
}

/// A forwarded header's value from a trusted proxy: the first (the client's side) of a list.
pub fn forwarded(request: &HttpRequest, name: &str) -> Option<String> {
    if !via_trusted_proxy(request) {
        return None;
    }
    let value = request.headers().get(name)?.to_str().ok()?;
    let first = value.split(',').next()?.trim();
    (!first.is_empty()).then(|| first.to_owned())
}

/// Reverse proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Whether `address` is one of them.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0
            .iter()
            .any(|(network, prefix)| match (network, address) {
                (IpAddr::V4(network), IpAddr::V4(address)) => {
                    let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
                    u32::from(*network) & mask == u32::from(address) & mask
                }
                (IpAddr::V6(network), IpAddr::V6(address)) => {
                    let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
                    u128::from(*network) & mask == u128::from(address) & mask
                }
                _ => false,
            })
    }
}

/// An IPv4 address mapped into IPv6 (`::ffff:10.0.0.1`), as the IPv4 address it is.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

impl TryFrom<String> for TrustedProxies {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let ranges = text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                let (address, prefix) = item.split_once('/').unwrap_or((item, ""));
                let address: IpAddr = address.parse().map_err(|_| {
                    format!("{item:?} is not an IP address or CIDR range (such as 10.0.0.0/8)")
                })?;
                let address = canonical(address);
                let widest = if address.is_ipv4() { 32 } else { 128 };
                let prefix = match prefix {
                    "" => widest,
                    prefix => prefix
                        .parse::<u8>()
                        .ok()
                        .filter(|prefix| *prefix <= widest)
                        .ok_or_else(|| format!("{item:?} has a prefix length over {widest}"))?,
                };
                Ok((address, prefix))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self(ranges))
    }
}

impl From<TrustedProxies> for String {
    fn from(proxies: TrustedProxies) -> Self {
        proxies
            .0
            .iter()
            .map(|(address, prefix)| format!("{address}/{prefix}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(text: &str) -> TrustedProxies {
        TrustedProxies::try_from(text.to_owned()).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = trusted("10.0.0.0/8, 192.0.2.7");
        // Straight from a client: the header is the client's own claim.
        assert_eq!(
            client_address(ip("203.0.113.9"), "1.2.3.4", &proxies),
            ip("203.0.113.9")
        );
        // Through one proxy.
        assert_eq!(
            client_address(ip("192.0.2.7"), "203.0.113.9", &proxies),
            ip("203.0.113.9")
        );
        // Through two; what the client put on the left is not believed.
        assert_eq!(
            client_address(ip("10.1.1.1"), "6.6.6.6, 203.0.113.9, 10.2.2.2", &proxies),
            ip("203.0.113.9")
        );
        // A trusted proxy that forwards nothing, or garbage.
        assert_eq!(client_address(ip("10.1.1.1"), "", &proxies), ip("10.1.1.1"));
        assert_eq!(
            client_address(ip("10.1.1.1"), "not-an-address", &proxies),
            ip("10.1.1.1")
        );
        assert_eq!(
            client_address(ip("::ffff:10.1.1.1"), "203.0.113.9", &proxies),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn bad_proxy_ranges_are_refused() {
        assert!(TrustedProxies::try_from("10.0.0.0/33".to_owned()).is_err());
        assert!(TrustedProxies::try_from("proxy.example".to_owned()).is_err());
        assert!(!trusted("").contains(ip("10.0.0.1")));
        assert!(trusted("::1/128").contains(ip("::1")));
    }
}
