//! What makes a client read something other than what the agent wrote: environment variables
//! that every client reads before its files, files that replace the user's, a project's own
//! `.npmrc`. The agent reports these rather than claim success.

use std::collections::BTreeMap;
use std::path::Path;

use crate::engine::Paths;
use crate::formats::flat;
use crate::formats::npmrc::Npmrc;
use crate::plan::{Setting, Target};

fn set<'a>(env: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    env.iter()
        .find(|(key, value)| key.eq_ignore_ascii_case(name) && !value.is_empty())
        .map(|(_, value)| value.as_str())
}

/// Where a variable a client reads is set, for people: on Windows, the machine's environment
/// (where the machine-scope agent puts npm's and Go's settings for every user) or the user's.
fn where_set(name: &str) -> String {
    #[cfg(windows)]
    if let Some(place) = crate::platform::windows::variable_place(name) {
        return place.to_owned();
    }
    let _ = name;
    "in the environment".to_owned()
}

/// Why `target`'s managed `settings` are not what its client reads; empty when they are.
pub fn shadows(
    target: Target,
    settings: &[Setting],
    paths: &Paths,
    env: &BTreeMap<String, String>,
    cwd: Option<&Path>,
) -> Vec<String> {
    let mut found = Vec::new();
    match target {
        Target::Go => {
            if env.get("GOENV").is_some_and(|value| value == "off") {
                found.push("GOENV=off: Go reads no env file".to_owned());
            }
            for setting in settings {
                if let Some(value) = env.get(&setting.key).filter(|v| !v.is_empty()) {
                    found.push(format!(
                        "{} is set {} ({value}), which Go reads before its env file",
                        setting.key,
                        where_set(&setting.key)
                    ));
                }
            }
        }
        Target::Npmrc => {
            for setting in settings.iter().filter(|s| !s.key.starts_with(['@', '/'])) {
                let variable = format!("npm_config_{}", setting.key.replace('-', "_"));
                if let Some(value) = set(env, &variable) {
                    found.push(format!(
                        "{variable} is set {} ({value}), which npm reads before .npmrc",
                        where_set(&variable)
                    ));
                }
            }
            if let Some(project) = cwd
                .map(|dir| dir.join(".npmrc"))
                .filter(|p| Some(p) != paths.files.get(&Target::Npmrc))
            {
                if let Ok(content) = std::fs::read_to_string(&project) {
                    for setting in settings {
                        if flat::get(&Npmrc, &content, &setting.key).is_some() {
                            found.push(format!(
                                "{} sets {} for projects there",
                                project.display(),
                                setting.key
                            ));
                        }
                    }
                }
            }
        }
        Target::Pip => {
            if let Some(file) = set(env, "PIP_CONFIG_FILE") {
                if paths
                    .files
                    .get(&Target::Pip)
                    .is_none_or(|ours| Path::new(file) != ours)
                {
                    found.push(format!(
                        "PIP_CONFIG_FILE={file}: pip reads that instead of the user's file"
                    ));
                }
            }
            for setting in settings {
                let variable =
                    format!("PIP_{}", setting.key.to_ascii_uppercase().replace('-', "_"));
                if let Some(value) = set(env, &variable) {
                    found.push(format!(
                        "{variable} is set {} ({value}), which pip reads before its files",
                        where_set(&variable)
                    ));
                }
            }
        }
        Target::Git | Target::EnvironmentD | Target::Shell => {}
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(key: &str) -> Setting {
        Setting {
            id: key.into(),
            section: None,
            key: key.into(),
            name: key.into(),
            values: vec!["x".into()],
            secret: false,
            expand: false,
            multi: false,
        }
    }

    #[test]
    fn environment_variables_and_other_files_are_named() {
        let paths = Paths::user(|name| match name {
            "HOME" | "USERPROFILE" => Some("/home/ada".to_owned()),
            "APPDATA" => Some("/home/ada/AppData/Roaming".to_owned()),
            _ => None,
        })
        .unwrap();
        let env = BTreeMap::from([
            ("GOPROXY".to_owned(), "direct".to_owned()),
            (
                "NPM_CONFIG_REGISTRY".to_owned(),
                "https://elsewhere/".to_owned(),
            ),
            ("PIP_CONFIG_FILE".to_owned(), "/etc/other.conf".to_owned()),
        ]);
        let go = shadows(
            Target::Go,
            &[setting("GOPROXY"), setting("GONOSUMDB")],
            &paths,
            &env,
            None,
        );
        assert_eq!(go.len(), 1);
        assert!(go[0].contains("GOPROXY"));
        assert_eq!(
            shadows(Target::Npmrc, &[setting("registry")], &paths, &env, None).len(),
            1
        );
        assert_eq!(
            shadows(Target::Pip, &[setting("index-url")], &paths, &env, None).len(),
            1
        );
        assert!(shadows(
            Target::Go,
            &[setting("GOPROXY")],
            &paths,
            &BTreeMap::new(),
            None
        )
        .is_empty());
    }
}
