//! Go: where it reads `GOPROXY` and friends, and how the agent asks it.
//!
//! Order (cmd/go `internal/cfg/cfg.go`, `EnvOrAndChanged`; `go help environment`): a
//! non-empty variable of the process environment; then the user's env file
//! (`GOENV`, else `os.UserConfigDir()/go/env`; `GOENV=off` reads none); then
//! `$GOROOT/go.env` (Go 1.21 and later). The file is `KEY=value` lines (see `formats::goenv`).
//!
//! Asked with `go env -json KEY...`.

use super::run::{Ran, Runner};
use super::Check;
use crate::plan::Setting;

/// What Go reads for `settings`.
pub fn check(runner: &Runner, settings: &[Setting]) -> Check {
    if settings.is_empty() {
        return Check::Read(Vec::new());
    }
    let mut args = vec!["env", "-json"];
    args.extend(settings.iter().map(|s| s.key.as_str()));
    let said = match runner.run("go", &args) {
        Ran::Missing => return Check::NotInstalled,
        Ran::Failed(problem) => return Check::Failed(problem),
        Ran::Said(said) => said,
    };
    let Ok(read) = serde_json::from_str::<std::collections::BTreeMap<String, String>>(&said) else {
        return Check::Failed("go env -json printed something else than JSON".into());
    };
    let differences = settings
        .iter()
        .filter_map(|setting| {
            let value = read.get(&setting.key).map_or("", String::as_str);
            let expected = setting.values.join(" ");
            (value != expected).then(|| {
                let from = match runner.env.get(&setting.key).filter(|v| !v.is_empty()) {
                    Some(_) => "the environment",
                    None => "somewhere other than its env file",
                };
                format!("go reads {}={value} from {from}", setting.key)
            })
        })
        .collect();
    Check::Read(differences)
}
