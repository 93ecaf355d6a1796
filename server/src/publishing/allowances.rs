//! Environment variables a profile may set only where an admin allowed them: those that make
//! programs run code or change TLS checks ([`variables`]). Every way a person gets a profile's
//! content to machines checks: saving a draft, publishing, rolling back, approving. An
//! allowance is withdrawn only once no profile of the environment sets it in what machines may
//! be sent without such a step (its drafts, latest versions, the version a rollout keeps the
//! other machines on, the version an override brings back), so that no delivered profile sets
//! a variable no admin allowed.
//!
//! A withdrawal and a publish at the same moment are not serialized against each other: the
//! check and the deletion are separate reads and writes, as a draft save's check and write are.

use std::collections::BTreeSet;

use switchyard_proto::profile::variables::{self, VariableKind};
use switchyard_proto::{
    AuditAction, ChangeMessage, EnvironmentName, FieldProblem, Profile, VariableAllowance,
};

use super::{Publishing, PublishingError};
use crate::domain::audit::{change, Origin};
use crate::domain::profiles::ProfileTarget;

/// The problems of a profile that sets `needed` where only `allowed` (upper case) are allowed:
/// one at `env.NAME` for each variable not allowed, saying how it gets allowed.
pub fn unallowed(
    needed: &[(&str, VariableKind)],
    allowed: &BTreeSet<String>,
    environment: &EnvironmentName,
) -> Vec<FieldProblem> {
    needed
        .iter()
        .filter(|(name, _)| !allowed.contains(&name.to_ascii_uppercase()))
        .map(|(name, kind)| FieldProblem {
            path: format!("env.{name}"),
            message: format!(
                "{name} {} (PUT /api/v1/environments/{environment}/variable-allowances/{})",
                kind.refusal(),
                name.to_ascii_uppercase()
            ),
        })
        .collect()
}

impl Publishing {
    /// Refuses `profile` in `environment` when it sets a variable that needs an allowance the
    /// environment does not have.
    pub(super) async fn check_variables(
        &self,
        environment: &EnvironmentName,
        profile: &Profile,
    ) -> Result<(), PublishingError> {
        let needed = profile.variables_to_allow();
        if needed.is_empty() {
            return Ok(());
        }
        let allowed: BTreeSet<String> = self
            .store
            .variable_allowances(environment)
            .await?
            .into_iter()
            .map(|allowance| allowance.name)
            .collect();
        let problems = unallowed(&needed, &allowed, environment);
        match problems.is_empty() {
            true => Ok(()),
            false => Err(PublishingError::Invalid(problems)),
        }
    }

    /// The variables allowed in `environment`, by name.
    pub async fn variable_allowances(
        &self,
        environment: &EnvironmentName,
    ) -> Result<Vec<VariableAllowance>, PublishingError> {
        self.store.environment(environment).await?;
        Ok(self.store.variable_allowances(environment).await?)
    }

    /// Allows variable `name` in the profiles of `environment`, for `reason`, as `origin`.
    /// Only a name on the list that an admin may allow is taken ([`VariableKind::allowable`]).
    pub async fn allow_variable(
        &self,
        origin: &Origin,
        environment: &EnvironmentName,
        name: &str,
        reason: ChangeMessage,
    ) -> Result<VariableAllowance, PublishingError> {
        self.store.environment(environment).await?;
        let kind = match variables::kind_of(name) {
            Some(kind) if kind.allowable() => kind,
            Some(kind) => {
                return Err(invalid_name(format!(
                    "{name} {}; no allowance changes that",
                    kind.refusal()
                )))
            }
            None => {
                return Err(invalid_name(format!(
                    "{name} needs no allowance: profiles may set it as it is"
                )))
            }
        };
        let name = name.to_ascii_uppercase();
        let before = self
            .store
            .variable_allowances(environment)
            .await?
            .into_iter()
            .find(|allowance| allowance.name == name);
        let allowance = VariableAllowance {
            name: name.clone(),
            kind: kind.as_str().to_owned(),
            reason,
            allowed_by: origin.actor.clone(),
            allowed_at: self.clock.now(),
        };
        let audit = origin
            .record(
                AuditAction::VariableAllow,
                format!("environment:{environment}/variables/{name}"),
                allowance.allowed_at,
            )
            .in_environment(environment.as_str())
            .with_changes(
                change(
                    &format!("variable-allowances.{name}"),
                    before.map(|b| b.reason.as_str().to_owned()),
                    Some(allowance.reason.as_str().to_owned()),
                )
                .into_iter()
                .collect(),
            )
            .with_detail("kind", kind.as_str());
        self.store
            .allow_variable(environment, &allowance, &audit)
            .await?;
        tracing::info!(by = %origin.actor, %environment, variable = %name, "variable allowed");
        Ok(allowance)
    }

    /// Withdraws the allowance of `name` in `environment`, as `origin`: refused while a draft
    /// or latest version of one of the environment's profiles sets the variable.
    pub async fn withdraw_variable(
        &self,
        origin: &Origin,
        environment: &EnvironmentName,
        name: &str,
    ) -> Result<(), PublishingError> {
        self.store.environment(environment).await?;
        let name = name.to_ascii_uppercase();
        let mut targets = vec![ProfileTarget::Baseline];
        targets.extend(
            self.store
                .machine_roles()
                .await?
                .into_iter()
                .map(|role| ProfileTarget::Role(role.name)),
        );
        let sets = |profile: &Profile| {
            profile
                .env
                .keys()
                .any(|key| key.eq_ignore_ascii_case(&name))
        };
        // What machines may still be sent without a check of its own: the version a rollout
        // keeps the other machines on (an abort brings it back), and the one an override
        // brings back at its end.
        let rollout = self.store.active_rollout(environment).await?;
        for target in targets {
            let mut versions = Vec::new();
            if let Some(latest) = self.store.latest_version(environment, &target).await? {
                versions.push(latest.version);
            }
            if let Some(rollout) = rollout.as_ref().filter(|r| r.target == target) {
                versions.push(rollout.from_version);
            }
            if let Some(standing) = self.store.active_override(environment, &target).await? {
                versions.push(standing.restore_version);
            }
            versions.sort_unstable();
            versions.dedup();
            // The newest first: a draft just published holds the same as the latest.
            for number in versions.into_iter().rev() {
                let version = self.store.version(environment, &target, number).await?;
                if sets(&self.open(&version.document)?) {
                    return Err(in_use(&name, format!("version {number} of {target}")));
                }
            }
            if let Some(draft) = self.store.draft(environment, &target).await? {
                if sets(&self.open(&draft.document)?) {
                    return Err(in_use(&name, format!("the draft of {target}")));
                }
            }
        }
        let now = self.clock.now();
        let audit = origin
            .record(
                AuditAction::VariableWithdraw,
                format!("environment:{environment}/variables/{name}"),
                now,
            )
            .in_environment(environment.as_str());
        self.store
            .withdraw_variable(environment, &name, &audit)
            .await?;
        tracing::info!(by = %origin.actor, %environment, variable = %name, "variable allowance withdrawn");
        Ok(())
    }
}

fn invalid_name(message: String) -> PublishingError {
    PublishingError::Invalid(vec![FieldProblem {
        path: "name".into(),
        message,
    }])
}

fn in_use(name: &str, place: String) -> PublishingError {
    PublishingError::VariableInUse {
        name: name.to_owned(),
        place,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_variables_not_allowed_are_problems_and_names_compare_without_case() {
        let environment = EnvironmentName::parse("staging").unwrap();
        let needed = [
            ("NODE_OPTIONS", VariableKind::RunsCode),
            ("node_extra_ca_certs", VariableKind::Trust),
        ];
        let allowed = BTreeSet::from(["NODE_EXTRA_CA_CERTS".to_owned()]);
        let problems = unallowed(&needed, &allowed, &environment);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path, "env.NODE_OPTIONS");
        assert!(problems[0]
            .message
            .contains("/api/v1/environments/staging/variable-allowances/NODE_OPTIONS"));
        assert!(unallowed(&needed[1..], &allowed, &environment).is_empty());
    }
}
