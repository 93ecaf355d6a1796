//! Go's env file (`go env -w`): `KEY=value` lines. Go keeps quotes, trailing text and a `\r`
//! as part of the value and ignores lines not starting with `A`-`Z`, so managed lines are
//! written bare and always end in LF.

use super::flat::{single_line, FlatSyntax};
use super::FormatError;

/// The Go env file syntax.
#[derive(Debug, Clone, Copy)]
pub struct GoEnv;

impl FlatSyntax for GoEnv {
    fn key_of(&self, line: &str) -> Option<String> {
        let (key, _) = line.split_once('=')?;
        let valid = key.starts_with(|c: char| c.is_ascii_uppercase())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        valid.then(|| key.to_owned())
    }

    fn value_of(&self, line: &str) -> Option<String> {
        line.split_once('=').map(|(_, value)| value.to_owned())
    }

    fn line(&self, key: &str, value: &str) -> Result<String, FormatError> {
        single_line(key, value)?;
        if value.is_empty() {
            return Err(FormatError::unsafe_value(key, "is empty"));
        }
        Ok(format!("{key}={value}"))
    }

    fn forced_ending(&self) -> Option<&'static str> {
        Some("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::super::flat::{apply, get};
    use super::*;

    #[test]
    fn managed_lines_end_in_lf_even_in_a_crlf_file() {
        let user = "GOFLAGS=-mod=mod\r\n";
        let changed = apply(
            &GoEnv,
            user,
            &[(
                "GOPROXY".into(),
                Some("https://goproxy.corp.example/,direct".into()),
            )],
        )
        .unwrap();
        assert_eq!(
            changed,
            "GOFLAGS=-mod=mod\r\nGOPROXY=https://goproxy.corp.example/,direct\n"
        );
        assert_eq!(
            get(&GoEnv, &changed, "GOPROXY").as_deref(),
            Some("https://goproxy.corp.example/,direct")
        );
        assert_eq!(get(&GoEnv, "gOPROXY=x\n", "gOPROXY"), None);
    }

    #[test]
    fn a_users_last_line_without_an_ending_gets_lf_not_the_files_crlf() {
        // Found by the differential test: a CR would become part of the user's GOFLAGS.
        let user = "GONOSUMDB=*.user.example.org\r\nGOFLAGS=-mod=mod";
        let changed = apply(&GoEnv, user, &[("GOPRIVATE".into(), Some("*.corp".into()))]).unwrap();
        assert_eq!(
            changed,
            "GONOSUMDB=*.user.example.org\r\nGOFLAGS=-mod=mod\nGOPRIVATE=*.corp\n"
        );
    }
}
