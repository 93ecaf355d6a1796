//! Rollouts as sent over the wire: a version that reaches a cohort of machines first, wave by
//! wave, each wave promoted when its gate passes (enough machines applied it, few enough
//! failed, few enough probes of the endpoints it changed failed), halted and perhaps reverted
//! when it fails. Also the machine labels cohorts are chosen by.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::environment::check_name;
use crate::InvalidValue;

/// The name of a machine label (`site`, `team`, `os`): the rules of environment names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(value_type = String, pattern = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", example = "site")
)]
#[serde(try_from = "String", into = "String")]
pub struct LabelName(String);

impl LabelName {
    /// Checks `name` against the rules.
    pub fn parse(name: impl Into<String>) -> Result<Self, InvalidValue> {
        let name = name.into();
        check_name("label", &name)?;
        Ok(Self(name))
    }
}

/// The value of a machine label (`office-b`, `Windows`, `3.12`): 1 to 63 ASCII letters, digits,
/// `.`, `_` and `-`. Compared exactly.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(value_type = String, pattern = "^[A-Za-z0-9._-]{1,63}$", example = "office-b")
)]
#[serde(try_from = "String", into = "String")]
pub struct LabelValue(String);

impl LabelValue {
    /// Checks `value` against the rules.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        if value.is_empty() || value.len() > 63 {
            return Err(InvalidValue(format!(
                "label value {value:?} must be 1 to 63 characters"
            )));
        }
        if let Some(bad) = value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(InvalidValue(format!(
                "label value {value:?} contains {bad:?}; only ASCII letters, digits, '.', '_' and '-' are allowed"
            )));
        }
        Ok(Self(value))
    }
}

checked_text!(LabelName, display);
checked_text!(LabelValue, display);

/// A machine's labels: at most [`Labels::MAX`] names, each with one value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(value_type = BTreeMap<String, String>, example = json!({"site": "office-b", "team": "payments"}))
)]
#[serde(
    try_from = "BTreeMap<LabelName, LabelValue>",
    into = "BTreeMap<LabelName, LabelValue>"
)]
pub struct Labels(BTreeMap<LabelName, LabelValue>);

impl Labels {
    /// Most labels one machine (or one selector) may have.
    pub const MAX: usize = 16;

    /// Checks the number of labels.
    pub fn new(labels: BTreeMap<LabelName, LabelValue>) -> Result<Self, InvalidValue> {
        match labels.len() > Self::MAX {
            true => Err(InvalidValue(format!(
                "at most {} labels are allowed, not {}",
                Self::MAX,
                labels.len()
            ))),
            false => Ok(Self(labels)),
        }
    }

    /// Whether every label of `selector` is among these, with the same value (an empty
    /// selector matches every machine).
    pub fn matches(&self, selector: &Labels) -> bool {
        selector
            .0
            .iter()
            .all(|(name, value)| self.0.get(name) == Some(value))
    }

    /// Each name and value.
    pub fn iter(&self) -> impl Iterator<Item = (&LabelName, &LabelValue)> {
        self.0.iter()
    }

    /// No labels at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Labels as people write them: `site=office-b, team=web` (spaces around names and values
/// ignored; an empty text is no labels).
impl std::str::FromStr for Labels {
    type Err = InvalidValue;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut labels = BTreeMap::new();
        for pair in text
            .split(',')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
        {
            let (name, value) = pair.split_once('=').ok_or_else(|| {
                InvalidValue(format!("label {pair:?} must be written name=value"))
            })?;
            let name = LabelName::parse(name.trim())?;
            if labels.contains_key(&name) {
                return Err(InvalidValue(format!("label {name} is given twice")));
            }
            labels.insert(name, LabelValue::parse(value.trim())?);
        }
        Self::new(labels)
    }
}

/// `site=office-b, team=web`, the form [`Labels::from_str`](std::str::FromStr) reads.
impl std::fmt::Display for Labels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (index, (name, value)) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name}={value}")?;
        }
        Ok(())
    }
}

impl TryFrom<BTreeMap<LabelName, LabelValue>> for Labels {
    type Error = InvalidValue;

    fn try_from(labels: BTreeMap<LabelName, LabelValue>) -> Result<Self, Self::Error> {
        Self::new(labels)
    }
}

impl From<Labels> for BTreeMap<LabelName, LabelValue> {
    fn from(labels: Labels) -> Self {
        labels.0
    }
}

/// `PUT .../devices/{id}/labels`: a machine's labels, replacing the ones it had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LabelsChange {
    /// The labels.
    pub labels: Labels,
}

/// How a rollout goes: its waves in order; after the last wave's gate passes, every machine
/// gets the version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "RawRolloutPlan")]
pub struct RolloutPlan {
    /// 1 to 10 waves; each one's machines stay in the later ones.
    pub waves: Vec<RolloutWave>,
    /// When a gate fails: bring the previous version back to the cohort (`true`), or leave the
    /// cohort on the new version and halt (`false`, the default).
    pub revert_on_failure: bool,
}

/// The plan as written, before its rules are checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRolloutPlan {
    waves: Vec<RolloutWave>,
    #[serde(default)]
    revert_on_failure: bool,
}

impl RolloutPlan {
    /// Most waves a plan may have.
    pub const MAX_WAVES: usize = 10;
}

impl TryFrom<RawRolloutPlan> for RolloutPlan {
    type Error = InvalidValue;

    fn try_from(raw: RawRolloutPlan) -> Result<Self, Self::Error> {
        if raw.waves.is_empty() || raw.waves.len() > Self::MAX_WAVES {
            return Err(InvalidValue(format!(
                "a rollout has 1 to {} waves, not {}",
                Self::MAX_WAVES,
                raw.waves.len()
            )));
        }
        for pair in raw.waves.windows(2) {
            if pair[1].percent < pair[0].percent {
                return Err(InvalidValue(format!(
                    "a wave's percent ({}) must not be below the one before ({}): machines stay in as the share grows",
                    pair[1].percent, pair[0].percent
                )));
            }
        }
        Ok(Self {
            waves: raw.waves,
            revert_on_failure: raw.revert_on_failure,
        })
    }
}

/// One wave: which machines it adds, how long they soak, and the gate they must pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "RawRolloutWave")]
pub struct RolloutWave {
    /// The share of the machines matching `labels`, 0 to 100 percent, chosen by a hash of each
    /// machine's id and the rollout's id: the same machines stay in as the share grows.
    pub percent: u8,
    /// Only machines carrying all these labels count toward `percent` (none: every machine of
    /// the profile's environment, and role for an overlay).
    pub labels: Labels,
    /// Machines in this wave whatever their labels and hash: at most 100 ids.
    pub machines: Vec<Uuid>,
    /// Seconds the wave's machines run the version before its gate may pass: 0 to 604,800
    /// (seven days).
    pub soak_secs: u64,
    /// What must hold for the rollout to go on.
    pub gate: RolloutGate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRolloutWave {
    #[serde(default)]
    percent: u8,
    #[serde(default)]
    labels: Labels,
    #[serde(default)]
    machines: Vec<Uuid>,
    soak_secs: u64,
    #[serde(default)]
    gate: RolloutGate,
}

impl RolloutWave {
    /// Longest soak, in seconds.
    pub const MAX_SOAK_SECS: u64 = 7 * 24 * 3600;
    /// Most machines a wave may name.
    pub const MAX_MACHINES: usize = 100;
}

impl TryFrom<RawRolloutWave> for RolloutWave {
    type Error = InvalidValue;

    fn try_from(raw: RawRolloutWave) -> Result<Self, Self::Error> {
        if raw.percent > 100 {
            return Err(InvalidValue(format!(
                "percent must be 0 to 100, not {}",
                raw.percent
            )));
        }
        if raw.percent == 0 && raw.machines.is_empty() {
            return Err(InvalidValue(
                "a wave must take a percent of the machines or name machines".into(),
            ));
        }
        if raw.machines.len() > Self::MAX_MACHINES {
            return Err(InvalidValue(format!(
                "a wave names at most {} machines",
                Self::MAX_MACHINES
            )));
        }
        if raw.soak_secs > Self::MAX_SOAK_SECS {
            return Err(InvalidValue(format!(
                "soak_secs must be at most {} (seven days)",
                Self::MAX_SOAK_SECS
            )));
        }
        Ok(Self {
            percent: raw.percent,
            labels: raw.labels,
            machines: raw.machines,
            soak_secs: raw.soak_secs,
            gate: raw.gate,
        })
    }
}

/// What a wave's machines must show before the rollout goes on, from the reports made on the
/// new version since the wave began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "RawRolloutGate")]
pub struct RolloutGate {
    /// At least this many of the machines the wave added reported on the new version (all of
    /// them when it added fewer): 1 to 100,000, 1 by default.
    pub min_reported: u32,
    /// At most this percentage of them failed to apply it (0 to 100; 0 by default).
    pub max_failed_applies_percent: u8,
    /// At most this percentage of their probes of endpoints the version adds or changes
    /// failed (0 to 100; 0 by default).
    pub max_failed_probes_percent: u8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRolloutGate {
    min_reported: u32,
    max_failed_applies_percent: u8,
    max_failed_probes_percent: u8,
}

impl Default for RawRolloutGate {
    fn default() -> Self {
        let gate = RolloutGate::default();
        Self {
            min_reported: gate.min_reported,
            max_failed_applies_percent: gate.max_failed_applies_percent,
            max_failed_probes_percent: gate.max_failed_probes_percent,
        }
    }
}

impl TryFrom<RawRolloutGate> for RolloutGate {
    type Error = InvalidValue;

    fn try_from(raw: RawRolloutGate) -> Result<Self, Self::Error> {
        if !(1..=100_000).contains(&raw.min_reported) {
            return Err(InvalidValue(format!(
                "min_reported must be 1 to 100000, not {}",
                raw.min_reported
            )));
        }
        for (name, percent) in [
            ("max_failed_applies_percent", raw.max_failed_applies_percent),
            ("max_failed_probes_percent", raw.max_failed_probes_percent),
        ] {
            if percent > 100 {
                return Err(InvalidValue(format!(
                    "{name} must be 0 to 100, not {percent}"
                )));
            }
        }
        Ok(Self {
            min_reported: raw.min_reported,
            max_failed_applies_percent: raw.max_failed_applies_percent,
            max_failed_probes_percent: raw.max_failed_probes_percent,
        })
    }
}

impl Default for RolloutGate {
    fn default() -> Self {
        Self {
            min_reported: 1,
            max_failed_applies_percent: 0,
            max_failed_probes_percent: 0,
        }
    }
}

/// Where a rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    /// Its current wave soaks; the gate is checked as reports come.
    Running,
    /// Stopped by hand: the cohort keeps the new version, nothing is promoted.
    Paused,
    /// Stopped by a failing gate: the cohort keeps the new version until ops promote, resume
    /// or abort.
    Halted,
    /// Every machine has the version.
    Completed,
    /// Stopped by hand: the previous version came back for the cohort.
    Aborted,
    /// Stopped by a failing gate: the previous version came back for the cohort.
    Reverted,
}

impl RolloutState {
    /// Every state.
    pub const ALL: [Self; 6] = [
        Self::Running,
        Self::Paused,
        Self::Halted,
        Self::Completed,
        Self::Aborted,
        Self::Reverted,
    ];

    /// The word used on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Halted => "halted",
            Self::Completed => "completed",
            Self::Aborted => "aborted",
            Self::Reverted => "reverted",
        }
    }

    /// The state a stored word names.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }

    /// Whether the rollout still splits its machines (running, paused or halted).
    pub fn is_active(self) -> bool {
        matches!(self, Self::Running | Self::Paused | Self::Halted)
    }
}

/// What a gate found: the figures it decided on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GateFigures {
    /// Machines in the waves so far (enrolled, not revoked).
    pub cohort: u64,
    /// How many of them the current wave added.
    pub added: u64,
    /// How many of the cohort reported on the new version since the wave began.
    pub reported: u64,
    /// How many of those failed to apply it.
    pub failed_applies: u64,
    /// Their probes of the endpoints the version adds or changes.
    pub probes: u64,
    /// How many of those probes failed.
    pub failed_probes: u64,
    /// Whether the wave has soaked long enough.
    pub soaked: bool,
    /// `waiting`, `passing` or `failing`.
    pub verdict: GateVerdict,
    /// The verdict in words.
    pub reason: String,
}

/// What a gate says now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GateVerdict {
    /// Not enough reports yet, or still soaking.
    Waiting,
    /// The rollout may go on.
    Passing,
    /// Too many failures.
    Failing,
}

impl GateVerdict {
    /// The word used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Passing => "passing",
            Self::Failing => "failing",
        }
    }
}

/// A rollout as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rollout {
    /// Its id.
    pub id: Uuid,
    /// The environment.
    pub environment: String,
    /// `baseline` or the machine role whose overlay it rolls out.
    pub target: String,
    /// The version machines outside the cohort keep.
    pub from_version: u64,
    /// The version the cohort gets.
    pub to_version: u64,
    /// The plan.
    pub plan: RolloutPlan,
    /// Where it stands.
    pub state: RolloutState,
    /// The current wave, from 0.
    pub wave: u32,
    /// When the current wave began.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub wave_started_at: OffsetDateTime,
    /// Who started it.
    pub started_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub started_at: OffsetDateTime,
    /// When it last moved.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: OffsetDateTime,
    /// Why it last moved.
    pub reason: String,
    /// In a protected environment, who asked to promote by hand (a second person confirms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_requested_by: Option<String>,
    /// After an abort or revert: the version that brought the previous content back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert_version: Option<u64>,
    /// The current wave's gate, read now (active rollouts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateFigures>,
}

/// Where an override stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OverrideState {
    /// Its version is what machines get until it ends.
    Active,
    /// It ended at its time: the version before came back (`end_version`).
    Ended,
    /// Someone published the profile again before it ended: that version stays.
    Superseded,
}

impl OverrideState {
    /// The word used on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Ended => "ended",
            Self::Superseded => "superseded",
        }
    }

    /// The state a stored word names.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Active, Self::Ended, Self::Superseded]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// A time-boxed override: a version published with `until`, which ends by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Override {
    /// Its id.
    pub id: Uuid,
    /// The environment.
    pub environment: String,
    /// `baseline` or the machine role of the overlay.
    pub target: String,
    /// The override's version.
    pub version: u64,
    /// The version whose content comes back when it ends.
    pub restore_version: u64,
    /// When it ends.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub ends_at: OffsetDateTime,
    /// Where it stands.
    pub state: OverrideState,
    /// Who published it (the approver, in a protected environment).
    pub started_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub started_at: OffsetDateTime,
    /// When it ended or was superseded.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub ended_at: Option<OffsetDateTime>,
    /// The version that brought the old content back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_version: Option<u64>,
}

/// `POST .../rollouts/{id}/promote|pause|resume|abort`: why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RolloutAction {
    /// Why, for the audit trail.
    pub reason: crate::ChangeMessage,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn labels_are_read_as_written_and_written_as_read() {
        let labels: Labels = " site = office-b ,team=web, ".parse().unwrap();
        assert_eq!(labels.to_string(), "site=office-b, team=web");
        assert_eq!(labels.to_string().parse::<Labels>().unwrap(), labels);
        assert!("".parse::<Labels>().unwrap().is_empty());
        let refused = |text: &str| text.parse::<Labels>().unwrap_err().to_string();
        assert!(refused("site").contains("name=value"));
        assert!(refused("site=a, site=b").contains("twice"));
        assert!(refused("Site=a").contains("label"));
        assert!(refused("site=a b").contains("' '"));
        assert!(refused("site=").contains("1 to 63"));
        let many = (0..=Labels::MAX)
            .map(|n| format!("l{n}=v"))
            .collect::<Vec<_>>();
        assert!(refused(&many.join(",")).contains("at most 16"));
    }

    #[test]
    fn plans_are_checked_as_they_are_read() {
        let plan: RolloutPlan = serde_json::from_value(json!({
            "waves": [
                {"percent": 5, "soak_secs": 600},
                {"percent": 25, "labels": {"site": "office-b"}, "soak_secs": 600,
                 "gate": {"min_reported": 10, "max_failed_probes_percent": 5}}
            ]
        }))
        .unwrap();
        assert!(!plan.revert_on_failure);
        assert_eq!(plan.waves[0].gate, RolloutGate::default());
        assert_eq!(plan.waves[1].gate.min_reported, 10);
        let refused = |value| serde_json::from_value::<RolloutPlan>(value).unwrap_err();
        assert!(refused(json!({"waves": []}))
            .to_string()
            .contains("1 to 10"));
        assert!(refused(json!({"waves": [{"soak_secs": 1}]}))
            .to_string()
            .contains("percent"));
        assert!(
            refused(json!({"waves": [{"percent": 101, "soak_secs": 1}]}))
                .to_string()
                .contains("0 to 100")
        );
        assert!(refused(json!({"waves": [
            {"percent": 50, "soak_secs": 1}, {"percent": 10, "soak_secs": 1}
        ]}))
        .to_string()
        .contains("below"));
        assert!(
            refused(json!({"waves": [{"percent": 5, "soak_secs": 1, "extra": 1}]}))
                .to_string()
                .contains("unknown field")
        );
        assert!(
            refused(json!({"waves": [{"percent": 5, "soak_secs": 9999999}]}))
                .to_string()
                .contains("seven days")
        );
    }

    #[test]
    fn labels_follow_their_rules_and_selectors_match_subsets() {
        let labels: Labels =
            serde_json::from_value(json!({"site": "office-b", "os": "Windows"})).unwrap();
        let selector: Labels = serde_json::from_value(json!({"site": "office-b"})).unwrap();
        assert!(labels.matches(&selector));
        assert!(labels.matches(&Labels::default()));
        assert!(!selector.matches(&labels));
        assert!(serde_json::from_value::<Labels>(json!({"Site": "x"})).is_err());
        assert!(serde_json::from_value::<Labels>(json!({"site": "office b"})).is_err());
        assert!(serde_json::from_value::<Labels>(json!({"site": ""})).is_err());
        let many: serde_json::Map<String, serde_json::Value> =
            (0..17).map(|i| (format!("l{i}"), json!("v"))).collect();
        assert!(serde_json::from_value::<Labels>(many.into()).is_err());
    }
}
