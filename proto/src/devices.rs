//! Enrollment and enrolled machines, as sent over the wire.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::rollouts::Labels;
use crate::signing::Signed;
use crate::{BoundedText, InvalidValue, MachineRoleName};

/// `POST .../enrollment-tokens`: a token machines enroll with into one environment and role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewEnrollmentToken {
    /// The machine role machines enrolled with it get.
    pub machine_role: MachineRoleName,
    /// Hours until it expires: 1 to 720 (30 days); 24 by default.
    #[serde(default = "default_expiry_hours")]
    pub expires_in_hours: u32,
    /// How many machines may enroll with it: 1 to 10000; 1 by default.
    #[serde(default = "default_max_uses")]
    pub max_uses: u32,
    /// Labels every machine enrolled with it gets (`site`, `team` ...): what rollouts choose
    /// cohorts by. Ops may change a machine's labels later.
    #[serde(default)]
    pub labels: Labels,
}

fn default_expiry_hours() -> u32 {
    24
}

fn default_max_uses() -> u32 {
    1
}

/// An enrollment token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollmentToken {
    /// Its id.
    pub id: Uuid,
    /// The environment machines enroll into.
    pub environment: String,
    /// The machine role they get.
    pub machine_role: String,
    /// Who created it.
    pub created_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// Until when it works.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: OffsetDateTime,
    /// How many machines may enroll with it.
    pub max_uses: u64,
    /// How many have.
    pub uses: u64,
    /// When it was revoked, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub revoked_at: Option<OffsetDateTime>,
    /// Labels every machine enrolled with it gets.
    #[serde(default)]
    pub labels: Labels,
}

/// A new enrollment token and its secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedEnrollmentToken {
    /// The token.
    #[serde(flatten)]
    pub token: EnrollmentToken,
    /// The secret machines enroll with (`sye_...`). It is not stored and cannot be shown
    /// again.
    pub secret: String,
}

/// Text a machine says about itself: 1 to 256 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String))]
#[serde(try_from = "String", into = "String")]
pub struct MachineFact(String);

impl MachineFact {
    /// Checks `text`.
    pub fn parse(text: impl Into<String>) -> Result<Self, InvalidValue> {
        let text = text.into();
        if text.trim().is_empty() || text.chars().count() > 256 {
            return Err(InvalidValue("must be 1 to 256 characters".into()));
        }
        if text.chars().any(char::is_control) {
            return Err(InvalidValue("must not contain control characters".into()));
        }
        // Shown to people beside other machines' names: none may pass for another.
        if let Some(hidden) = text.chars().find(|c| crate::text::is_hidden(*c)) {
            return Err(InvalidValue(format!(
                "must not contain invisible or text-reordering characters (found {})",
                crate::text::describe(hidden)
            )));
        }
        Ok(Self(text))
    }
}

checked_text!(MachineFact);

/// `POST /api/v1/agent/enroll`: a machine joins with a token and its own public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The enrollment token's secret.
    pub token: BoundedText,
    /// The machine's Ed25519 public key, base64url; its private key never leaves it.
    pub public_key: String,
    /// Host name.
    pub hostname: MachineFact,
    /// Operating system, such as `windows 10.0.22631` or `linux`.
    pub os: MachineFact,
    /// The user the agent runs as.
    pub user: MachineFact,
}

/// What a machine gets when it enrolls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Enrollment {
    /// Its id, which every later request names.
    pub device_id: Uuid,
    /// Its environment.
    pub environment: String,
    /// Its machine role.
    pub machine_role: String,
    /// Every signed key set, oldest first: pin the first (signed by itself), then follow the
    /// rest ([`crate::delivery::TrustedKeys`]).
    pub key_sets: Vec<Signed>,
}

/// An enrolled machine, as ops see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Device {
    /// Its id.
    pub id: Uuid,
    /// Host name.
    pub hostname: String,
    /// Operating system.
    pub os: String,
    /// The user its agent runs as.
    pub username: String,
    /// Its environment.
    pub environment: String,
    /// Its machine role.
    pub machine_role: String,
    /// When it enrolled.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub enrolled_at: OffsetDateTime,
    /// When it last made a request, to the minute: a machine is marked again once its mark
    /// is a minute old.
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_seen_at: Option<OffsetDateTime>,
    /// When its enrollment was revoked, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub revoked_at: Option<OffsetDateTime>,
    /// Its labels, which rollouts choose cohorts by.
    #[serde(default)]
    pub labels: Labels,
}

/// How applying one target went on a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TargetState {
    /// Written as the profile says.
    Ok,
    /// Already as the profile says: nothing written.
    Unchanged,
    /// Written, but something with higher precedence overrides it (a project's own `.npmrc`,
    /// a user variable over a machine one).
    Shadowed,
    /// Could not be written.
    Failed,
    /// Taken back by `restore`: the client reads the user's own settings again, none of the
    /// profile's.
    Restored,
}

/// One configuration target a machine manages, and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TargetStatus {
    /// Which: `npmrc`, `pip`, `go`, `git`, `environment`...
    pub target: MachineFact,
    /// How it went.
    pub state: TargetState,
    /// What happened, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MachineFact>,
}

/// What kind of endpoint a profile names, which decides how a machine probes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum EndpointKind {
    /// An npm registry (`npm.registry`, a scope's registry): `GET {registry}-/ping`, npm's own
    /// `npm ping`.
    NpmRegistry,
    /// A Python package index (`pypi.index-url`, `pypi.extra-index-url`): `GET` of the index root,
    /// the PEP 503 page of every project.
    PipIndex,
    /// A Go module proxy (`go.proxy`): `GET` of the proxy root.
    GoProxy,
    /// The base a git rewrite points at (`git.rewrites[].base`): `GET` of the base.
    GitBase,
    /// An HTTP proxy (`proxy.http`, `proxy.https`): a request through it, with its login.
    HttpProxy,
}

impl EndpointKind {
    /// Its name on the wire: `npm-registry`, `pip-index`, `go-proxy`, `git-base`, `http-proxy`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointKind::NpmRegistry => "npm-registry",
            EndpointKind::PipIndex => "pip-index",
            EndpointKind::GoProxy => "go-proxy",
            EndpointKind::GitBase => "git-base",
            EndpointKind::HttpProxy => "http-proxy",
        }
    }
}

/// How a machine's probe of an endpoint ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ProbeOutcome {
    /// It answered (any status below 500 but a proxy's 407): the machine reaches it.
    Reachable,
    /// It answered with a server error (5xx).
    ServerError,
    /// The proxy refused the login (407).
    ProxyLogin,
    /// Its name does not resolve.
    Dns,
    /// Nothing listens, or the connection was refused or reset.
    Refused,
    /// No answer within the probe's time.
    Timeout,
    /// The TLS handshake failed: a certificate the machine does not trust, or no TLS.
    Tls,
    /// Anything else (an answer that is not HTTP).
    Other,
}

impl ProbeOutcome {
    /// Its name on the wire: `reachable`, `server-error`, `proxy-login`...
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeOutcome::Reachable => "reachable",
            ProbeOutcome::ServerError => "server-error",
            ProbeOutcome::ProxyLogin => "proxy-login",
            ProbeOutcome::Dns => "dns",
            ProbeOutcome::Refused => "refused",
            ProbeOutcome::Timeout => "timeout",
            ProbeOutcome::Tls => "tls",
            ProbeOutcome::Other => "other",
        }
    }

    /// Whether the machine reaches the endpoint.
    pub fn reachable(self) -> bool {
        self == ProbeOutcome::Reachable
    }
}

/// What a machine's probe of one endpoint found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EndpointProbe {
    /// The endpoint as the profile names it, without any login.
    pub endpoint: MachineFact,
    /// What kind of endpoint.
    pub kind: EndpointKind,
    /// How the probe ended.
    pub outcome: ProbeOutcome,
    /// The HTTP status of the answer, if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Milliseconds from the request to the answer's head, if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u32>,
    /// When the probe ran.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub checked_at: OffsetDateTime,
    /// What went wrong, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MachineFact>,
}

/// Which of a mirror's stand-ins a machine's clients use: the mirror itself (npm's `registry`,
/// pip's `index-url`) or one of its fallbacks (`registry-fallbacks`, `index-url-fallbacks`),
/// chosen by the agent from its probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MirrorInUse {
    /// What kind of endpoint (`npm-registry` or `pip-index`).
    pub kind: EndpointKind,
    /// The mirror as the profile names it.
    pub primary: MachineFact,
    /// Its fallbacks, in the profile's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<MachineFact>,
    /// What the clients are set to now: `primary` or one of its fallbacks.
    pub in_use: MachineFact,
    /// Since when.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub since: OffsetDateTime,
    /// Why the agent moved there, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<MachineFact>,
}

impl MirrorInUse {
    /// Most fallbacks a profile may give one mirror.
    pub const MOST_FALLBACKS: usize = 4;

    /// Whether a fallback stands in for the mirror.
    pub fn failed_over(&self) -> bool {
        self.in_use != self.primary
    }

    /// What is wrong with it as a report, if anything: only npm's registry and pip's index
    /// have fallbacks, 1 to [`Self::MOST_FALLBACKS`] of them, each named once, and `in_use`
    /// is one of them or the mirror.
    pub fn problem(&self) -> Option<String> {
        if !matches!(
            self.kind,
            EndpointKind::NpmRegistry | EndpointKind::PipIndex
        ) {
            return Some(format!("{} has no fallbacks", self.kind.as_str()));
        }
        if self.fallbacks.is_empty() || self.fallbacks.len() > Self::MOST_FALLBACKS {
            return Some(format!("names 1 to {} fallbacks", Self::MOST_FALLBACKS));
        }
        let members: Vec<&MachineFact> = std::iter::once(&self.primary)
            .chain(&self.fallbacks)
            .collect();
        if members
            .iter()
            .enumerate()
            .any(|(i, member)| members[..i].contains(member))
        {
            return Some("names the mirror or a fallback twice".into());
        }
        if !members.contains(&&self.in_use) {
            return Some("in_use is neither the mirror nor one of its fallbacks".into());
        }
        None
    }
}

/// `POST /api/v1/agent/status`: what a machine applied, and what it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    /// The sequence of the delivery applied.
    pub sequence: u64,
    /// Its baseline version.
    pub baseline_version: u64,
    /// Its overlay version.
    pub overlay_version: u64,
    /// Each target, at most 32.
    pub targets: Vec<TargetStatus>,
    /// Settings found changed behind the agent's back since it last applied them, at most 64.
    #[serde(default)]
    pub drift: Vec<MachineFact>,
    /// The machine's latest probe of each endpoint its profile names, at most 64.
    #[serde(default)]
    pub probes: Vec<EndpointProbe>,
    /// Which mirror or fallback each mirror with fallbacks is served by, at most 16.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<MirrorInUse>,
    /// The audit trail's head as signed into the newest delivery the machine accepted
    /// ([`crate::audit::AuditHead`]): the machine's witness of the trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_head: Option<crate::signing::Signed>,
}

impl StatusReport {
    /// What is wrong with each mirror the report names ([`MirrorInUse::problem`]), or a
    /// mirror named by an earlier entry too: (index in `mirrors`, problem).
    pub fn mirror_problems(&self) -> Vec<(usize, String)> {
        self.mirrors
            .iter()
            .enumerate()
            .filter_map(|(i, mirror)| {
                let repeated = self.mirrors[..i].iter().any(|earlier| {
                    (earlier.kind, &earlier.primary) == (mirror.kind, &mirror.primary)
                });
                let problem = match repeated {
                    true => Some("names a mirror an earlier entry names".to_owned()),
                    false => mirror.problem(),
                }?;
                Some((i, problem))
            })
            .collect()
    }

    /// Healthy: nothing failed, nothing drifted, and the profile is applied (not restored).
    pub fn healthy(&self) -> bool {
        self.drift.is_empty()
            && self
                .targets
                .iter()
                .all(|t| !matches!(t.state, TargetState::Failed | TargetState::Restored))
    }
}

/// An enrolled machine with what it last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceStatus {
    /// The machine.
    #[serde(flatten)]
    pub device: Device,
    /// Its last report, if it sent one.
    pub report: Option<StatusReport>,
    /// When.
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub reported_at: Option<OffsetDateTime>,
    /// Whether the report says all is well (no report: not known).
    pub healthy: Option<bool>,
}

/// How the machines of an environment reach the endpoints their profiles name, from each
/// machine's latest probes: `GET /api/v1/environments/{environment}/mirror-health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MirrorHealth {
    /// The environment.
    pub environment: String,
    /// One row per endpoint, kind and machine role, by endpoint.
    pub endpoints: Vec<EndpointHealth>,
}

/// How the machines of one role reach one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndpointHealth {
    /// The endpoint as profiles name it.
    pub endpoint: String,
    /// What kind of endpoint.
    pub kind: EndpointKind,
    /// The machine role.
    pub machine_role: String,
    /// Machines (enrolled, not revoked) whose latest report probed it.
    pub machines: u64,
    /// How many of them reach it.
    pub reachable: u64,
    /// For a mirror with fallbacks, or a fallback: how many of them have their clients set to
    /// it now (the agent moves to a fallback while the mirror does not answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_use: Option<u64>,
    /// How their probes ended, by outcome (`reachable`, `refused`, `timeout`, ...).
    pub outcomes: std::collections::BTreeMap<String, u64>,
    /// How long the answers took, in milliseconds; none when nothing answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<Percentiles>,
    /// When the newest of these probes ran.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub last_checked_at: OffsetDateTime,
}

/// Percentiles of a set of measurements (nearest rank).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Percentiles {
    /// The median.
    pub p50: u32,
    /// Nine in ten are at most this.
    pub p90: u32,
    /// 99 in 100 are at most this.
    pub p99: u32,
}

/// How many machines of an environment run which versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionSpread {
    /// The environment.
    pub environment: String,
    /// Its latest baseline version.
    pub latest_baseline_version: u64,
    /// One row per machine role and applied versions.
    pub groups: Vec<VersionGroup>,
}

/// Machines of one role that applied the same versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionGroup {
    /// The machine role.
    pub machine_role: String,
    /// The baseline version applied (none: no report yet).
    pub baseline_version: Option<u64>,
    /// The overlay version applied.
    pub overlay_version: Option<u64>,
    /// How many machines.
    pub devices: u64,
    /// How many of them are healthy.
    pub healthy: u64,
}

/// `POST .../devices/{id}/move`: where a machine goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceMove {
    /// The environment.
    pub environment: crate::EnvironmentName,
    /// The machine role.
    pub machine_role: MachineRoleName,
}
