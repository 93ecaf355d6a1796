//! `env` and `role`: environments and machine roles.

use clap::Subcommand;
use serde_json::json;
use switchyard_proto::{Environment, MachineRole};

use super::{env_path, time, Failure};
use crate::api::Api;
use crate::output::Out;

/// `env ...`.
#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// The environments you may read.
    List,
    /// One environment.
    Show {
        /// Its name.
        environment: String,
    },
    /// Create one (admins).
    Create {
        /// Its name.
        environment: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
        /// Changes need a second person's approval.
        #[arg(long)]
        protected: bool,
    },
}

/// `env ...`.
pub fn env(api: &mut Api, out: Out, command: EnvCommand) -> Result<u8, Failure> {
    match command {
        EnvCommand::List => {
            let environments: Vec<Environment> = api.get("/environments")?;
            if out.is_json() {
                out.json(&environments)?;
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = environments
                .iter()
                .map(|e| {
                    vec![
                        e.name.to_string(),
                        e.protected.to_string(),
                        e.description.as_str().to_owned(),
                    ]
                })
                .collect();
            out.table(&["NAME", "PROTECTED", "DESCRIPTION"], &rows)?;
        }
        EnvCommand::Show { environment } => {
            let found: Environment = api.get(&env_path(&environment))?;
            match out.is_json() {
                true => out.json(&found)?,
                false => out.table(
                    &["NAME", "PROTECTED", "CREATED", "DESCRIPTION"],
                    &[vec![
                        found.name.to_string(),
                        found.protected.to_string(),
                        time(found.created_at),
                        found.description.as_str().to_owned(),
                    ]],
                )?,
            }
        }
        EnvCommand::Create {
            environment,
            description,
            protected,
        } => {
            let body =
                json!({ "name": environment, "description": description, "protected": protected });
            let (_, created) = api.send("POST", "/environments", Some(&body), None)?;
            match out.is_json() {
                true => out.json(&created)?,
                false => out.line(&format!("created the environment {environment}"))?,
            }
        }
    }
    Ok(0)
}

/// `role ...`.
#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Every machine role.
    List,
    /// Create one (admins).
    Create {
        /// Its name.
        role: String,
        /// What its machines are.
        #[arg(long, default_value = "")]
        description: String,
    },
}

/// `role ...`.
pub fn role(api: &mut Api, out: Out, command: RoleCommand) -> Result<u8, Failure> {
    match command {
        RoleCommand::List => {
            let roles: Vec<MachineRole> = api.get("/machine-roles")?;
            if out.is_json() {
                out.json(&roles)?;
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = roles
                .iter()
                .map(|r| vec![r.name.to_string(), r.description.as_str().to_owned()])
                .collect();
            out.table(&["NAME", "DESCRIPTION"], &rows)?;
        }
        RoleCommand::Create { role, description } => {
            let body = json!({ "name": role, "description": description });
            let (_, created) = api.send("POST", "/machine-roles", Some(&body), None)?;
            match out.is_json() {
                true => out.json(&created)?,
                false => out.line(&format!("created the machine role {role}"))?,
            }
        }
    }
    Ok(0)
}
