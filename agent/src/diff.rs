//! `diff`: what `sync` would change, file by file, line by line, secrets hidden.

use switchyard_agent::engine::Preview;
use switchyard_agent::formats::lines::Lines;

/// The changes as text: for each file, its removed lines (`-`) and added lines (`+`), in file
/// order. A secret value never appears: it reads `(secret)`.
pub fn render(previews: &[Preview], secrets: &[String]) -> String {
    let hide = |line: &str| {
        secrets
            .iter()
            .filter(|secret| !secret.is_empty())
            .fold(line.to_owned(), |line, secret| {
                line.replace(secret.as_str(), "(secret)")
            })
    };
    let mut out = String::new();
    for preview in previews {
        out.push_str(&format!(
            "--- {}\n+++ {}\n",
            preview.path.display(),
            preview.path.display()
        ));
        let before = Lines::parse(&preview.before);
        let after = Lines::parse(&preview.after);
        let old: Vec<&str> = before.0.iter().map(|l| l.text.as_str()).collect();
        let new: Vec<&str> = after.0.iter().map(|l| l.text.as_str()).collect();
        for line in old.iter().filter(|line| !new.contains(line)) {
            out.push_str(&format!("-{}\n", hide(line)));
        }
        for line in new.iter().filter(|line| !old.contains(line)) {
            out.push_str(&format!("+{}\n", hide(line)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use switchyard_agent::plan::Target;

    use super::*;

    #[test]
    fn changed_lines_are_shown_and_secrets_hidden() {
        let preview = Preview {
            target: Target::Npmrc,
            path: PathBuf::from("/home/ada/.npmrc"),
            before: "save-exact=true\nregistry=https://old/\n".into(),
            after: "save-exact=true\nregistry=https://new/\n//new/:_authToken=t0ken\n".into(),
            secret: true,
        };
        let text = render(&[preview], &["t0ken".to_owned()]);
        assert_eq!(
            text,
            "--- /home/ada/.npmrc\n+++ /home/ada/.npmrc\n-registry=https://old/\n+registry=https://new/\n+//new/:_authToken=(secret)\n"
        );
    }
}
