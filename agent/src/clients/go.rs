//! Go: where it reads `GOPROXY` and friends, and how the agent asks it.
//!
//! Order (cmd/go `internal/cfg/cfg.go`, `EnvOrAndChanged`; `go help environment`): a
//! non-empty variable of the process environment; then the user's env file
//! (`GOENV`, else `os.UserConfigDir()/go/env`; `GOENV=off` reads none); then
//! `$GOROOT/go.env` (Go 1.21 and later). The file is `KEY=value` lines (see `formats::goenv`).
//!
//! Asked with `go env -json KEY...`.

use std::path::PathBuf;

use super::run::{Ran, Runner};
use std::collections::BTreeMap;

use switchyard_proto::profile::goproxy;
use switchyard_proto::Profile;

use super::{set_before, Asking, Check, Client, Surroundings};
use crate::formats::goenv::GoEnv;
use crate::formats::{Editor, Flat};
use crate::plan::{flat, Setting, Target};
use crate::platform::{self, Dirs, Os};

/// What Go reads before its env file, by the order above.
pub fn modelled(settings: &[Setting], around: &Surroundings) -> Vec<String> {
    let mut found = Vec::new();
    if around.env.get("GOENV").is_some_and(|value| value == "off") {
        found.push("GOENV=off: Go reads no env file".to_owned());
    }
    for (name, value, setting) in variables(settings, around.env) {
        found.push(set_before(name, value, setting, "Go"));
    }
    found
}

/// The variables of `env` Go reads instead of its file for `settings`: (name, value, setting).
/// Go's names are case-sensitive, and an empty one is not read.
pub fn variables<'a>(
    settings: &'a [Setting],
    env: &'a BTreeMap<String, String>,
) -> Vec<(&'a str, &'a str, &'a Setting)> {
    settings
        .iter()
        .filter_map(|setting| {
            let (name, value) = env.get_key_value(&setting.key)?;
            (!value.is_empty()).then_some((name.as_str(), value.as_str(), setting))
        })
        .collect()
}

/// What Go reads for `settings`.
pub fn check(runner: &Runner, settings: &[Setting]) -> Check {
    if settings.is_empty() {
        return Check::Read(Vec::new());
    }
    let mut args = vec!["env", "-json", "GONOPROXY"];
    args.extend(settings.iter().map(|s| s.key.as_str()));
    let said = match runner.run("go", &args) {
        Ran::Missing => return Check::NotInstalled,
        Ran::Failed(problem) => return Check::Failed(problem),
        Ran::Said(said) => said,
    };
    let Ok(read) = serde_json::from_str::<std::collections::BTreeMap<String, String>>(&said) else {
        return Check::Failed("go env -json printed something else than JSON".into());
    };
    let mut differences: Vec<String> = settings
        .iter()
        .filter_map(|setting| {
            let value = read.get(&setting.key).map_or("", String::as_str);
            let expected = setting.values.join(" ");
            (value != expected).then(|| {
                let from = match runner.env.get(&setting.key).filter(|v| !v.is_empty()) {
                    Some(_) => "the environment",
                    None if runner.env.get("GOENV").is_some_and(|v| v == "off") => {
                        "its defaults: GOENV=off, so Go reads no env file"
                    }
                    None => "somewhere other than its env file ($GOROOT/go.env)",
                };
                format!("go reads {}={value} from {from}", setting.key)
            })
        })
        .collect();
    // GOPROXY is read but not used where GONOPROXY (GOPRIVATE by default) matches every
    // module path (`go help module-private`).
    let manages = |key: &str| settings.iter().any(|s| s.key == key);
    if manages("GOPROXY") && !manages("GONOPROXY") && !manages("GOPRIVATE") {
        let bypassed = read
            .get("GONOPROXY")
            .is_some_and(|patterns| patterns.split(',').any(|p| matches!(p.trim(), "*" | "*/*")));
        if bypassed {
            differences.push(format!(
                "go fetches every module directly: GONOPROXY={} matches every module path",
                read["GONOPROXY"]
            ));
        }
    }
    Check::Read(differences)
}

/// Go's keys for `profile` (normalized): `GOPROXY` and the pattern lists, `GOSUMDB`.
pub fn settings(profile: &Profile) -> Vec<Setting> {
    let mut go_env = Vec::new();
    if let Some(go) = &profile.go {
        if let Some(entries) = &go.proxy {
            go_env.push(flat("GOPROXY", goproxy(entries), false));
        }
        for (key, patterns) in [
            ("GOPRIVATE", &go.private),
            ("GONOPROXY", &go.noproxy),
            ("GONOSUMDB", &go.nosumdb),
            ("GOINSECURE", &go.insecure),
        ] {
            if let Some(patterns) = patterns.as_ref().filter(|p| !p.is_empty()) {
                go_env.push(flat(key, patterns.join(","), false));
            }
        }
        if let Some(sumdb) = &go.sumdb {
            go_env.push(flat("GOSUMDB", sumdb.clone(), false));
        }
    }
    go_env
}

/// Go as a [`Client`].
#[derive(Debug)]
pub struct Go;

impl Client for Go {
    fn target(&self) -> Target {
        Target::Go
    }

    fn name(&self) -> &'static str {
        "Go"
    }

    fn editor(&self) -> &'static dyn Editor {
        static EDITOR: Flat<GoEnv> = Flat(GoEnv);
        &EDITOR
    }

    /// `GOENV` (unless `off`), else `go/env` under the config folder; Go has no machine-wide
    /// file, so none there.
    fn file(&self, _os: Os, dirs: &Dirs, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        match dirs {
            Dirs::User { config, .. } => Some(
                platform::set(env, "GOENV")
                    .filter(|path| path != "off")
                    .map_or_else(|| config.join("go").join("env"), PathBuf::from),
            ),
            Dirs::Machine { .. } => None,
        }
    }

    fn variables<'a>(
        &self,
        settings: &'a [Setting],
        env: &'a BTreeMap<String, String>,
    ) -> Option<Vec<(&'a str, &'a str, &'a Setting)>> {
        Some(variables(settings, env))
    }

    fn modelled(&self, settings: &[Setting], around: &Surroundings) -> Vec<String> {
        modelled(settings, around)
    }

    fn settings(&self, profile: &Profile, _os: Os) -> Vec<Setting> {
        settings(profile)
    }

    fn check(&self, asking: &Asking) -> Check {
        check(asking.runner, asking.settings)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::clients::setting;

    #[test]
    fn a_variable_or_goenv_off_comes_first() {
        let paths = crate::clients::user_paths(std::path::Path::new("/home/ada"), &BTreeMap::new());
        let env = BTreeMap::from([("GOPROXY".to_owned(), "direct".to_owned())]);
        let around = Surroundings {
            paths: &paths,
            env: &env,
            cwd: None,
        };
        let found = modelled(
            &[setting("GOPROXY", "x"), setting("GONOSUMDB", "y")],
            &around,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("GOPROXY is set"), "{found:?}");
        let off = BTreeMap::from([("GOENV".to_owned(), "off".to_owned())]);
        let around = Surroundings {
            paths: &paths,
            env: &off,
            cwd: None,
        };
        assert_eq!(modelled(&[setting("GOPROXY", "x")], &around).len(), 1);
    }
}
