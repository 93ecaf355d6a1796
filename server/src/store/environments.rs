//! Environments and machine roles: the places profiles belong to.

use async_trait::async_trait;
use switchyard_proto::{
    Environment, EnvironmentName, EnvironmentUpdate, MachineRole, MachineRoleName, NewEnvironment,
    VariableAllowance,
};
use time::OffsetDateTime;

use super::StoreError;
use crate::domain::audit::AuditRecord;

/// Environments and machine roles, as kept.
#[async_trait]
pub trait EnvironmentStore: Send + Sync {
    /// Creates an environment; its name must be new.
    async fn create_environment(
        &self,
        new: &NewEnvironment,
        created_at: OffsetDateTime,
        audit: &AuditRecord,
    ) -> Result<Environment, StoreError>;

    /// The environment called `name`.
    async fn environment(&self, name: &EnvironmentName) -> Result<Environment, StoreError>;

    /// All environments, by name.
    async fn environments(&self) -> Result<Vec<Environment>, StoreError>;

    /// Applies `update` to the environment called `name` and returns the result.
    async fn update_environment(
        &self,
        name: &EnvironmentName,
        update: &EnvironmentUpdate,
        audit: &AuditRecord,
    ) -> Result<Environment, StoreError>;

    /// Creates a machine role; its name must be new.
    async fn create_machine_role(
        &self,
        role: &MachineRole,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// All machine roles, by name.
    async fn machine_roles(&self) -> Result<Vec<MachineRole>, StoreError>;

    /// The machine role called `name`.
    async fn machine_role(&self, name: &MachineRoleName) -> Result<MachineRole, StoreError>;

    /// The variables allowed in the profiles of `environment`, by name.
    async fn variable_allowances(
        &self,
        environment: &EnvironmentName,
    ) -> Result<Vec<VariableAllowance>, StoreError>;

    /// Allows `allowance.name` (upper case) in the profiles of `environment`; allowed already,
    /// its reason, who and when are replaced.
    async fn allow_variable(
        &self,
        environment: &EnvironmentName,
        allowance: &VariableAllowance,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;

    /// Withdraws the allowance of `name` (upper case) in `environment`;
    /// [`StoreError::AllowanceNotFound`] when there is none.
    async fn withdraw_variable(
        &self,
        environment: &EnvironmentName,
        name: &str,
        audit: &AuditRecord,
    ) -> Result<(), StoreError>;
}

/// Implements [`EnvironmentStore`] for `$store` (a struct with a `pool` field) on database `$db`,
/// with
/// the helpers `implement_store!` defines beside it (`sql.rs`).
macro_rules! implement_environment_store {
    ($store:ident, $db:ty) => {
        fn environment_from_row(
            row: <$db as sqlx::Database>::Row,
        ) -> Result<switchyard_proto::Environment, $crate::store::StoreError> {
            use sqlx::Row as _;
            Ok(switchyard_proto::Environment {
                name: $crate::store::parse_name(row.try_get("name")?)?,
                description: $crate::store::parse_description(row.try_get("description")?)?,
                protected: row.try_get("protected")?,
                created_at: row
                    .try_get::<$crate::store::Timestamp, _>("created_at")?
                    .get(),
            })
        }

        fn machine_role_from_row(
            row: <$db as sqlx::Database>::Row,
        ) -> Result<switchyard_proto::MachineRole, $crate::store::StoreError> {
            use sqlx::Row as _;
            Ok(switchyard_proto::MachineRole {
                name: $crate::store::parse_role_name(row.try_get("name")?)?,
                description: $crate::store::parse_description(row.try_get("description")?)?,
                created_at: row
                    .try_get::<$crate::store::Timestamp, _>("created_at")?
                    .get(),
            })
        }

        #[async_trait::async_trait]
        impl $crate::store::EnvironmentStore for $store {
            async fn create_environment(
                &self,
                new: &switchyard_proto::NewEnvironment,
                created_at: time::OffsetDateTime,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<switchyard_proto::Environment, $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                let row = sqlx::query(
                    "INSERT INTO environments (name, description, protected, created_at) \
                     VALUES ($1, $2, $3, $4) \
                     RETURNING name, description, protected, created_at",
                )
                .bind(new.name.as_str())
                .bind(new.description.as_str())
                .bind(new.protected)
                .bind($crate::store::Timestamp::from(created_at))
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| match $crate::store::is_unique_violation(&e) {
                    true => $crate::store::StoreError::EnvironmentExists(new.name.clone()),
                    false => e.into(),
                })?;
                let environment = environment_from_row(row)?;
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(environment)
            }

            async fn environment(
                &self,
                name: &switchyard_proto::EnvironmentName,
            ) -> Result<switchyard_proto::Environment, $crate::store::StoreError> {
                sqlx::query(
                    "SELECT name, description, protected, created_at FROM environments \
                     WHERE name = $1",
                )
                .bind(name.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(environment_from_row)
                .unwrap_or_else(|| {
                    Err($crate::store::StoreError::EnvironmentNotFound(name.clone()))
                })
            }

            async fn environments(
                &self,
            ) -> Result<Vec<switchyard_proto::Environment>, $crate::store::StoreError> {
                sqlx::query(
                    "SELECT name, description, protected, created_at FROM environments \
                     ORDER BY name",
                )
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(environment_from_row)
                .collect()
            }

            async fn update_environment(
                &self,
                name: &switchyard_proto::EnvironmentName,
                update: &switchyard_proto::EnvironmentUpdate,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<switchyard_proto::Environment, $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                let environment = sqlx::query(
                    "UPDATE environments \
                     SET description = COALESCE($2, description), \
                         protected = COALESCE($3, protected) \
                     WHERE name = $1 RETURNING name, description, protected, created_at",
                )
                .bind(name.as_str())
                .bind(update.description.as_ref().map(|d| d.as_str()))
                .bind(update.protected)
                .fetch_optional(&mut *tx)
                .await?
                .map(environment_from_row)
                .unwrap_or_else(|| {
                    Err($crate::store::StoreError::EnvironmentNotFound(name.clone()))
                })?;
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(environment)
            }

            async fn create_machine_role(
                &self,
                role: &switchyard_proto::MachineRole,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                sqlx::query(
                    "INSERT INTO machine_roles (name, description, created_at) \
                     VALUES ($1, $2, $3)",
                )
                .bind(role.name.as_str())
                .bind(role.description.as_str())
                .bind($crate::store::Timestamp::from(role.created_at))
                .execute(&mut *tx)
                .await
                .map_err(|e| match $crate::store::is_unique_violation(&e) {
                    true => $crate::store::StoreError::MachineRoleExists(role.name.clone()),
                    false => e.into(),
                })?;
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn machine_roles(
                &self,
            ) -> Result<Vec<switchyard_proto::MachineRole>, $crate::store::StoreError> {
                sqlx::query("SELECT name, description, created_at FROM machine_roles ORDER BY name")
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(machine_role_from_row)
                    .collect()
            }

            async fn variable_allowances(
                &self,
                environment: &switchyard_proto::EnvironmentName,
            ) -> Result<Vec<switchyard_proto::VariableAllowance>, $crate::store::StoreError> {
                use sqlx::Row as _;
                let rows = sqlx::query(
                    "SELECT name, reason, allowed_by, allowed_at FROM variable_allowances \
                     WHERE environment = $1 ORDER BY name",
                )
                .bind(environment.as_str())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|row| {
                        let name: String = row.try_get("name")?;
                        let kind = switchyard_proto::profile::variables::kind_of(&name)
                            .map_or("unlisted", |kind| kind.as_str());
                        Ok(switchyard_proto::VariableAllowance {
                            kind: kind.to_owned(),
                            reason: switchyard_proto::ChangeMessage::parse(
                                row.try_get::<String, _>("reason")?,
                            )
                            .map_err(|e| $crate::store::StoreError::Corrupt(e.to_string()))?,
                            allowed_by: row.try_get("allowed_by")?,
                            allowed_at: row
                                .try_get::<$crate::store::Timestamp, _>("allowed_at")?
                                .get(),
                            name,
                        })
                    })
                    .collect()
            }

            async fn allow_variable(
                &self,
                environment: &switchyard_proto::EnvironmentName,
                allowance: &switchyard_proto::VariableAllowance,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                sqlx::query(
                    "INSERT INTO variable_allowances (environment, name, reason, allowed_by, \
                     allowed_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (environment, name) DO UPDATE SET reason = excluded.reason, \
                     allowed_by = excluded.allowed_by, allowed_at = excluded.allowed_at",
                )
                .bind(environment.as_str())
                .bind(&allowance.name)
                .bind(allowance.reason.as_str())
                .bind(&allowance.allowed_by)
                .bind($crate::store::Timestamp::from(allowance.allowed_at))
                .execute(&mut *tx)
                .await?;
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn withdraw_variable(
                &self,
                environment: &switchyard_proto::EnvironmentName,
                name: &str,
                audit: &$crate::domain::audit::AuditRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = begin_audited(&self.pool).await?;
                let gone = sqlx::query(
                    "DELETE FROM variable_allowances WHERE environment = $1 AND name = $2",
                )
                .bind(environment.as_str())
                .bind(name)
                .execute(&mut *tx)
                .await?;
                if gone.rows_affected() == 0 {
                    return Err($crate::store::StoreError::AllowanceNotFound(name.to_owned()));
                }
                append_audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn machine_role(
                &self,
                name: &switchyard_proto::MachineRoleName,
            ) -> Result<switchyard_proto::MachineRole, $crate::store::StoreError> {
                sqlx::query(
                    "SELECT name, description, created_at FROM machine_roles WHERE name = $1",
                )
                .bind(name.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(machine_role_from_row)
                .unwrap_or_else(|| {
                    Err($crate::store::StoreError::MachineRoleNotFound(name.clone()))
                })
            }
        }
    };
}

pub(super) use implement_environment_store;
