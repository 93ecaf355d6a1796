//! The environment variables a profile's `env` may not set, or may set only once an admin
//! allows them for an environment: one maintained list, by kind. Names compare without regard
//! to case (Windows reads variables so, and npm reads `npm_config_*` in any case).
//!
//! - [`VariableKind::System`] and [`VariableKind::Redirects`] and [`VariableKind::Loader`] are
//!   never set: they break the machine or its logins, make a client read files other than the
//!   agent's, or load code into every program;
//! - [`VariableKind::RunsCode`] and [`VariableKind::Trust`] are set only where an admin allowed
//!   the name for the environment (with a reason, audited): they make a program run code of
//!   the variable's choosing, or switch off or change TLS certificate checks. Both have
//!   honest uses behind a TLS-inspecting proxy (`NODE_EXTRA_CA_CERTS`, `NODE_OPTIONS=
//!   --use-openssl-ca`), and both are what an attacker who took an ops account would set.
//!
//! Sources: bash(1) (`BASH_ENV`, `ENV`, `PROMPT_COMMAND`, `PS0`); ld.so(8) (`LD_*`); dyld(1)
//! (`DYLD_*`); .NET's startup hooks and CLR profilers; node(1) (`NODE_OPTIONS`, `NODE_TLS_REJECT_UNAUTHORIZED`, `NODE_EXTRA_CA_CERTS`);
//! git(1) "Environment Variables" (`GIT_SSH_COMMAND`, `GIT_SSL_NO_VERIFY`, ...); python(1)
//! (`PYTHONSTARTUP`, `PYTHONPATH`, `PYTHONHTTPSVERIFY`); perlrun(1) (`PERL5OPT`); the JVM's
//! `JAVA_TOOL_OPTIONS`; glibc's iconv (`GCONV_PATH`); `go help environment` (`GOFLAGS`
//! takes `-toolexec`); Cargo's "Environment variables" (`RUSTC_WRAPPER`, `CARGO_HTTP_CAINFO`).

/// Why a variable is on the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum VariableKind {
    /// The machine's or the shell's own: changing it can break the machine or its logins.
    System,
    /// Changes which configuration files a client reads: the agent's would not be read.
    Redirects,
    /// The dynamic loader's: loads code into every program started.
    Loader,
    /// Makes a program run code of the variable's choosing: allowed per environment.
    RunsCode,
    /// Switches off or changes TLS certificate checks: allowed per environment.
    Trust,
}

impl VariableKind {
    /// Whether an admin may allow a variable of this kind for an environment.
    pub fn allowable(self) -> bool {
        matches!(self, VariableKind::RunsCode | VariableKind::Trust)
    }

    /// Its name in the API and the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            VariableKind::System => "system",
            VariableKind::Redirects => "redirects",
            VariableKind::Loader => "loader",
            VariableKind::RunsCode => "runs-code",
            VariableKind::Trust => "trust",
        }
    }

    /// What a refusal says after the variable's name.
    pub fn refusal(self) -> &'static str {
        match self {
            VariableKind::System => "is not managed: changing it could break the machine",
            VariableKind::Redirects => "changes which files a package client reads: the files the agent writes would not be read",
            VariableKind::Loader => "loads code into every program started: no profile may set it",
            VariableKind::RunsCode => "makes programs run code of its choosing: an admin must allow it for this environment first",
            VariableKind::Trust => "switches off or changes TLS certificate checks: an admin must allow it for this environment first",
        }
    }
}

/// Variables a profile must not set: changing them can break a machine or its login.
const SYSTEM: &[&str] = &[
    "PATH",
    "PATHEXT",
    "SYSTEMROOT",
    "SYSTEMDRIVE",
    "WINDIR",
    "COMSPEC",
    "USERPROFILE",
    "APPDATA",
    "LOCALAPPDATA",
    "PROGRAMDATA",
    "PROGRAMFILES",
    "PROGRAMFILES(X86)",
    "ALLUSERSPROFILE",
    "HOMEDRIVE",
    "HOMEPATH",
    "HOME",
    "USER",
    "USERNAME",
    "LOGNAME",
    "SHELL",
    "TEMP",
    "TMP",
    "TMPDIR",
    "PWD",
    "LANG",
    "TERM",
    "DISPLAY",
    "XDG_CONFIG_HOME",
    "XDG_RUNTIME_DIR",
    "PSMODULEPATH",
    "NUMBER_OF_PROCESSORS",
    "PROCESSOR_ARCHITECTURE",
    "OS",
    // The shell's own: read-only in bash (assigning them breaks every login's snippet) or
    // with meaning to the shell itself.
    "UID",
    "EUID",
    "PPID",
    "BASH",
    "BASHPID",
    "BASHOPTS",
    "SHELLOPTS",
    "BASH_VERSINFO",
    "IFS",
    "LINENO",
    "OPTIND",
    "OPTARG",
    "RANDOM",
    "SECONDS",
    "PS1",
    "PS2",
    "PS4",
    "OLDPWD",
    "HISTFILE",
    // Variables that stop a client from starting at all.
    "PYTHONHOME",
    "GOROOT",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_EXEC_PATH",
];

/// Variables that change which files a client reads: set by a profile, the files the agent
/// writes would not be read at all.
const REDIRECTS: &[&str] = &[
    "NPM_CONFIG_USERCONFIG",
    "NPM_CONFIG_GLOBALCONFIG",
    "PIP_CONFIG_FILE",
    "UV_CONFIG_FILE",
    "UV_NO_CONFIG",
    "CARGO_HOME",
    "GOENV",
    "GIT_CONFIG",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
    "GIT_CONFIG_NOSYSTEM",
    "GIT_CONFIG_COUNT",
    "GIT_CONFIG_PARAMETERS",
    "ZDOTDIR",
    // npm's global file is `$PREFIX/etc/npmrc`, Go's `$GOROOT/go.env`, pip's global files
    // are under `$XDG_CONFIG_DIRS`, curl's `.curlrc` under `CURL_HOME`.
    "NPM_CONFIG_PREFIX",
    "PREFIX",
    "XDG_CONFIG_DIRS",
    "CURL_HOME",
];

/// Variables that make a program run code of their choosing: a shell's start-up file, an
/// interpreter's options or start-up script, a helper program git or a build tool runs.
const RUNS_CODE: &[&str] = &[
    "BASH_ENV",
    "ENV",
    "PROMPT_COMMAND",
    "PS0",
    "NODE_OPTIONS",
    "NODE_PATH",
    "NPM_CONFIG_NODE_OPTIONS",
    "NPM_CONFIG_SCRIPT_SHELL",
    "NPM_CONFIG_SHELL",
    "NPM_CONFIG_ONLOAD_SCRIPT",
    "NPM_CONFIG_GIT",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_PROXY_COMMAND",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "GIT_EXTERNAL_DIFF",
    "GIT_EDITOR",
    "GIT_SEQUENCE_EDITOR",
    "GIT_PAGER",
    "GIT_TEMPLATE_DIR",
    "PYTHONSTARTUP",
    "PYTHONPATH",
    "PYTHONUSERBASE",
    "PYTHONBREAKPOINT",
    "PERL5OPT",
    "PERL5LIB",
    "PERLLIB",
    "PERL5DB",
    "RUBYOPT",
    "RUBYLIB",
    "GEM_HOME",
    "GEM_PATH",
    "BUNDLE_GEMFILE",
    "RUBYGEMS_GEMDEPS",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "JAVA_OPTS",
    "CLASSPATH",
    "MAVEN_OPTS",
    "MAVEN_ARGS",
    "GRADLE_OPTS",
    "GCONV_PATH",
    "GOFLAGS",
    "GOTOOLCHAIN",
    "CC",
    "CXX",
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "BROWSER",
    "EDITOR",
    "VISUAL",
    "PAGER",
    "DOTNET_STARTUP_HOOKS",
    "COR_PROFILER",
    "CORECLR_PROFILER",
    "CARGO_REGISTRY_CREDENTIAL_PROVIDER",
    "LESSOPEN",
    "LESSCLOSE",
    "SSH_AUTH_SOCK",
];

/// Variables that switch off TLS certificate checks or change which certificates are trusted.
const TRUST: &[&str] = &[
    "GIT_SSL_NO_VERIFY",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "NODE_TLS_REJECT_UNAUTHORIZED",
    "NODE_EXTRA_CA_CERTS",
    "NPM_CONFIG_CAFILE",
    "NPM_CONFIG_CA",
    "YARN_ENABLE_STRICT_SSL",
    "YARN_CA_FILE_PATH",
    "PYTHONHTTPSVERIFY",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "PIP_CERT",
    "PIP_CLIENT_CERT",
    "UV_NATIVE_TLS",
    "CARGO_HTTP_CAINFO",
    "CARGO_HTTP_CHECK_REVOKE",
    "SSLKEYLOGFILE",
    "BUNDLE_SSL_VERIFY_MODE",
    "BUNDLE_SSL_CA_CERT",
];

/// The kind of variable `name`, if it is on the list.
pub fn kind_of(name: &str) -> Option<VariableKind> {
    let upper = name.to_ascii_uppercase();
    let upper = upper.as_str();
    if SYSTEM.contains(&upper) {
        Some(VariableKind::System)
    } else if REDIRECTS.contains(&upper)
        || upper.starts_with("GIT_CONFIG_KEY_")
        || upper.starts_with("GIT_CONFIG_VALUE_")
    {
        Some(VariableKind::Redirects)
    } else if upper.starts_with("LD_") || upper.starts_with("DYLD_") {
        Some(VariableKind::Loader)
    } else if RUNS_CODE.contains(&upper)
        // Cargo runs a target's runner and linker, and a registry's credential provider
        // (Cargo's "Environment variables": `CARGO_TARGET_<triple>_RUNNER`).
        || (upper.starts_with("CARGO_TARGET_")
            && (upper.ends_with("_RUNNER") || upper.ends_with("_LINKER")))
        || (upper.starts_with("CARGO_REGISTRIES_") && upper.ends_with("_CREDENTIAL_PROVIDER"))
    {
        Some(VariableKind::RunsCode)
    } else if TRUST.contains(&upper) {
        Some(VariableKind::Trust)
    } else {
        None
    }
}

impl super::Profile {
    /// The variables of `env` that may be set only where an admin allowed them
    /// ([`VariableKind::allowable`]): each with the name as written and its kind.
    pub fn variables_to_allow(&self) -> Vec<(&str, VariableKind)> {
        self.env
            .keys()
            .filter_map(|name| {
                kind_of(name)
                    .filter(|kind| kind.allowable())
                    .map(|kind| (name.as_str(), kind))
            })
            .collect()
    }
}

/// Every name on the list of `kind` (prefixes written `LD_*`), for documentation.
pub fn listed(kind: VariableKind) -> Vec<&'static str> {
    match kind {
        VariableKind::System => SYSTEM.to_vec(),
        VariableKind::Redirects => {
            [REDIRECTS, &["GIT_CONFIG_KEY_*", "GIT_CONFIG_VALUE_*"]].concat()
        }
        VariableKind::Loader => vec!["LD_*", "DYLD_*"],
        VariableKind::RunsCode => [
            RUNS_CODE,
            &[
                "CARGO_TARGET_*_RUNNER",
                "CARGO_TARGET_*_LINKER",
                "CARGO_REGISTRIES_*_CREDENTIAL_PROVIDER",
            ],
        ]
        .concat(),
        VariableKind::Trust => TRUST.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_is_of_one_kind_whatever_its_case() {
        assert_eq!(kind_of("PATH"), Some(VariableKind::System));
        assert_eq!(
            kind_of("npm_config_userconfig"),
            Some(VariableKind::Redirects)
        );
        assert_eq!(kind_of("GIT_CONFIG_KEY_0"), Some(VariableKind::Redirects));
        assert_eq!(kind_of("LD_AUDIT"), Some(VariableKind::Loader));
        assert_eq!(kind_of("ld_preload"), Some(VariableKind::Loader));
        assert_eq!(kind_of("NODE_OPTIONS"), Some(VariableKind::RunsCode));
        assert_eq!(kind_of("Git_Ssh_Command"), Some(VariableKind::RunsCode));
        assert_eq!(kind_of("NODE_EXTRA_CA_CERTS"), Some(VariableKind::Trust));
        assert_eq!(
            kind_of("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER"),
            Some(VariableKind::RunsCode)
        );
        assert_eq!(kind_of("CARGO_TARGET_DIR"), None);
        assert_eq!(kind_of("CORP_REGION"), None);
        let kinds = [
            VariableKind::System,
            VariableKind::Redirects,
            VariableKind::Loader,
            VariableKind::RunsCode,
            VariableKind::Trust,
        ];
        for kind in kinds {
            for name in listed(kind).into_iter().filter(|n| !n.ends_with('*')) {
                assert_eq!(kind_of(name), Some(kind), "{name} is listed once");
            }
        }
    }
}
