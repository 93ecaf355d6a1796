//! Reading what was published: versions, diffs between them, and the effective profile a
//! machine of a role gets.

use std::collections::BTreeMap;

use switchyard_proto::profile::Origin as SettingOrigin;
use switchyard_proto::{EnvironmentName, MachineRoleName, Profile, VersionSummary};

use super::{Publishing, PublishingError};
use crate::domain::profiles::{effective_of, ProfileTarget, VersionRecord};

impl Publishing {
    /// The published versions of a profile, oldest first.
    pub async fn versions(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
    ) -> Result<Vec<VersionSummary>, PublishingError> {
        let versions = self.store.versions(environment, target).await?;
        Ok(versions.iter().map(VersionRecord::summary).collect())
    }

    /// The newest version number of a profile (0: none yet).
    pub async fn latest_version(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
    ) -> Result<u64, PublishingError> {
        let latest = self.store.latest_version(environment, target).await?;
        Ok(VersionRecord::number(latest.as_ref()))
    }

    /// Every endpoint the latest published profiles of `environment` name (its baseline and
    /// each machine role's overlay), by kind and URL: what the machines are meant to reach.
    pub async fn named_endpoints(
        &self,
        environment: &EnvironmentName,
    ) -> Result<
        std::collections::BTreeSet<(switchyard_proto::devices::EndpointKind, String)>,
        PublishingError,
    > {
        let mut targets = vec![ProfileTarget::Baseline];
        for role in self.store.machine_roles().await? {
            targets.push(ProfileTarget::Role(role.name));
        }
        let mut named = std::collections::BTreeSet::new();
        for target in targets {
            let latest = self.store.latest_version(environment, &target).await?;
            let profile = self.open_version(latest.as_ref())?;
            for endpoint in profile.endpoints() {
                named.insert((endpoint.kind, endpoint.url.to_owned()));
            }
        }
        Ok(named)
    }

    /// One published version: who, when and why, and its profile.
    pub async fn version(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
        number: u64,
    ) -> Result<(VersionSummary, Profile), PublishingError> {
        let record = self.store.version(environment, target, number).await?;
        Ok((record.summary(), self.open(&record.document)?))
    }

    /// The profile a version holds; version 0 is the empty profile before the first publish.
    pub(super) async fn version_profile(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
        version: u64,
    ) -> Result<Profile, PublishingError> {
        match version {
            0 => Ok(Profile::default()),
            n => self.open(&self.store.version(environment, target, n).await?.document),
        }
    }

    /// What changes from version `from` (0: before the first) to `to` (the latest when left
    /// out); `from` is the one before `to` when left out. Answers the two version numbers too.
    pub async fn diff(
        &self,
        environment: &EnvironmentName,
        target: &ProfileTarget,
        from: Option<u64>,
        to: Option<u64>,
    ) -> Result<(u64, u64, Vec<switchyard_proto::profile::SettingChange>), PublishingError> {
        let to = match to {
            Some(to) => to,
            None => VersionRecord::number(
                self.store
                    .latest_version(environment, target)
                    .await?
                    .as_ref(),
            ),
        };
        let from = from.unwrap_or(to.saturating_sub(1));
        let old = self.version_profile(environment, target, from).await?;
        let new = self.version_profile(environment, target, to).await?;
        Ok((from, to, old.diff(&new)))
    }

    /// What a machine of `role` (or of no role) in `environment` gets: the latest baseline
    /// with the role's latest overlay applied.
    pub async fn effective(
        &self,
        environment: &EnvironmentName,
        role: Option<&MachineRoleName>,
    ) -> Result<Effective, PublishingError> {
        self.store.environment(environment).await?;
        let overlay = match role {
            Some(role) => {
                self.store.machine_role(role).await?;
                self.store
                    .latest_version(environment, &ProfileTarget::Role(role.clone()))
                    .await?
            }
            None => None,
        };
        let baseline = self
            .store
            .latest_version(environment, &ProfileTarget::Baseline)
            .await?;
        let (profile, origins) = effective_of(baseline.as_ref(), overlay.as_ref(), &self.sealer)?;
        Ok(Effective {
            baseline_version: VersionRecord::number(baseline.as_ref()),
            overlay_version: VersionRecord::number(overlay.as_ref()),
            profile,
            origins,
        })
    }
}

/// The latest baseline with an overlay applied, and where each setting comes from.
#[derive(Debug)]
pub struct Effective {
    /// The baseline's version (0: none published).
    pub baseline_version: u64,
    /// The overlay's version (0: none).
    pub overlay_version: u64,
    /// The merged profile.
    pub profile: Profile,
    /// Each setting's source.
    pub origins: BTreeMap<String, SettingOrigin>,
}
