//! How the publish form sends a version out: to every machine at once, in waves (a rollout
//! plan whose waves share one soak time and gate), or until a time (an override). The plan is
//! read by the API's own rules (`RolloutPlan`'s checks), so the form refuses what the API
//! refuses.

use serde_json::json;
use switchyard_proto::rollouts::{RolloutPlan, RolloutWave};
use time::{Duration, OffsetDateTime};

use super::form::Form;
use super::page::Problems;
use crate::publishing::Release;

/// The release part of the publish form, as sent (or its defaults).
#[derive(Debug, Clone)]
pub struct ReleaseForm {
    /// `everyone`, `waves` or `until`.
    pub how: String,
    /// The waves' shares of the machines in percent, in order: `10, 50`.
    pub waves: String,
    /// Minutes each wave's machines run the version before its gate may pass.
    pub soak_minutes: String,
    /// Machines of a wave that must report on the version.
    pub min_reported: String,
    /// Most failed applies, in percent of a wave's reports.
    pub max_failed_applies: String,
    /// Most failed probes, in percent.
    pub max_failed_probes: String,
    /// Whether a failing gate brings the previous version back.
    pub revert: bool,
    /// Hours until an override ends.
    pub hours: String,
}

impl Default for ReleaseForm {
    fn default() -> Self {
        Self {
            how: "everyone".into(),
            waves: "10, 50".into(),
            soak_minutes: "60".into(),
            min_reported: "1".into(),
            max_failed_applies: "0".into(),
            max_failed_probes: "0".into(),
            revert: false,
            hours: "24".into(),
        }
    }
}

/// Longest an override may stand from the form: the API's limit (30 days), in hours.
const MAX_OVERRIDE_HOURS: i64 = 30 * 24;

impl ReleaseForm {
    /// The form's fields as `posted`.
    pub fn posted(posted: &Form) -> Self {
        let text = |name: &str| posted.text(name).trim().to_owned();
        Self {
            how: text("how"),
            waves: text("waves"),
            soak_minutes: text("soak_minutes"),
            min_reported: text("min_reported"),
            max_failed_applies: text("max_failed_applies"),
            max_failed_probes: text("max_failed_probes"),
            revert: posted.ticked("revert"),
            hours: text("hours"),
        }
    }

    /// The release the form asks for at `now`, or `None` with its problems at their fields.
    pub fn release(&self, now: OffsetDateTime, problems: &mut Problems) -> Option<Release> {
        match self.how.as_str() {
            "" | "everyone" => Some(Release::Everyone),
            "waves" => self.plan(problems).map(Release::Rollout),
            "until" => {
                let hours = problems.check(
                    "hours",
                    self.hours
                        .parse::<i64>()
                        .ok()
                        .filter(|hours| (1..=MAX_OVERRIDE_HOURS).contains(hours))
                        .ok_or(format!(
                            "must be a whole number of hours, 1 to {MAX_OVERRIDE_HOURS}"
                        )),
                )?;
                Some(Release::Until(now + Duration::hours(hours)))
            }
            other => {
                problems.add("how", format!("{other:?} is no way to publish"));
                None
            }
        }
    }

    fn plan(&self, problems: &mut Problems) -> Option<RolloutPlan> {
        let percents = problems.check(
            "waves",
            self.waves
                .split(',')
                .map(str::trim)
                .filter(|part| !part.is_empty())
                .map(|part| part.parse::<u64>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| "must be percentages separated by commas, such as 10, 50"),
        );
        let most = RolloutWave::MAX_SOAK_SECS / 60;
        let soak = problems.number::<u64>("soak_minutes", &self.soak_minutes);
        let soak = problems.check(
            "soak_minutes",
            soak.filter(|minutes| *minutes <= most)
                .ok_or(format!("must be 0 to {most} minutes (seven days)")),
        );
        let read = (
            percents,
            soak,
            problems.number::<u64>("min_reported", &self.min_reported),
            problems.number::<u8>("max_failed_applies", &self.max_failed_applies),
            problems.number::<u8>("max_failed_probes", &self.max_failed_probes),
        );
        let (Some(percents), Some(soak), Some(reported), Some(applies), Some(probes)) = read else {
            return None;
        };
        let waves: Vec<_> = percents
            .iter()
            .map(|percent| {
                json!({
                    "percent": percent,
                    "soak_secs": soak.saturating_mul(60),
                    "gate": {
                        "min_reported": reported,
                        "max_failed_applies_percent": applies,
                        "max_failed_probes_percent": probes,
                    },
                })
            })
            .collect();
        let plan = json!({ "waves": waves, "revert_on_failure": self.revert });
        serde_path_to_error::deserialize::<_, RolloutPlan>(plan)
            .map_err(|error| {
                // Each problem at the field it names: the rule's words name the plan's field.
                let said = format!("{} {}", error.path(), error.inner());
                let field = [
                    ("min_reported", "min_reported"),
                    ("max_failed_applies", "max_failed_applies"),
                    ("max_failed_probes", "max_failed_probes"),
                ]
                .into_iter()
                .find(|(word, _)| said.contains(word))
                .map_or("waves", |(_, field)| field);
                problems.add(field, error.inner());
            })
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(how: &str, changes: impl FnOnce(&mut ReleaseForm)) -> ReleaseForm {
        let mut form = ReleaseForm {
            how: how.into(),
            ..ReleaseForm::default()
        };
        changes(&mut form);
        form
    }

    #[test]
    fn waves_become_a_plan_checked_by_the_api_rules() {
        let mut problems = Problems::default();
        let release = form("waves", |form| form.revert = true)
            .release(OffsetDateTime::UNIX_EPOCH, &mut problems);
        let Some(Release::Rollout(plan)) = release else {
            panic!("a plan: {problems:?}");
        };
        assert_eq!(plan.waves.len(), 2);
        assert_eq!(plan.waves[1].percent, 50);
        assert_eq!(plan.waves[0].soak_secs, 3600);
        assert!(plan.revert_on_failure);
        // Shares that fall, a gate over 100 percent or under one report, a soak over seven
        // days: the API's own rules, each at its field.
        for (field, changes) in [
            ("waves", form("waves", |form| form.waves = "50, 10".into())),
            ("waves", form("waves", |form| form.waves = "ten".into())),
            ("waves", form("waves", |form| form.waves = String::new())),
            (
                "max_failed_applies",
                form("waves", |form| form.max_failed_applies = "150".into()),
            ),
            (
                "max_failed_probes",
                form("waves", |form| form.max_failed_probes = "300".into()),
            ),
            (
                "min_reported",
                form("waves", |form| form.min_reported = "0".into()),
            ),
            (
                "soak_minutes",
                form("waves", |form| form.soak_minutes = "-1".into()),
            ),
            (
                "soak_minutes",
                form("waves", |form| form.soak_minutes = "10081".into()),
            ),
        ] {
            let mut problems = Problems::default();
            assert!(changes
                .release(OffsetDateTime::UNIX_EPOCH, &mut problems)
                .is_none());
            assert!(problems.at(field).is_some(), "{field}: {problems:?}");
        }
    }

    #[test]
    fn an_override_ends_within_thirty_days() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let mut problems = Problems::default();
        let release = form("until", |form| form.hours = "48".into()).release(now, &mut problems);
        assert!(matches!(release, Some(Release::Until(at)) if at == now + Duration::hours(48)));
        for hours in ["0", "721", "soon"] {
            let mut problems = Problems::default();
            let changes = form("until", |form| form.hours = hours.into());
            assert!(changes.release(now, &mut problems).is_none());
            assert!(problems.at("hours").is_some());
        }
        let mut problems = Problems::default();
        assert!(form("sometime", |_| ())
            .release(now, &mut problems)
            .is_none());
        assert!(problems.at("how").is_some());
    }
}
