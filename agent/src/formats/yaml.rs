//! YAML files (Yarn's `.yarnrc.yml`), edited with `yaml-edit`, which keeps the bytes it is
//! not asked to change: comments, blank lines, key order, each line's ending, the user's own
//! keys. What it does not keep: the quotes of a value the agent replaces (the new value is
//! written plain where YAML allows, quoted where it must be).
//!
//! A setting's key is a path as `yarn config get` takes one: keys joined by `.`, a key that
//! holds a `.` or `/` written `["..."]` (`npmScopes["corp"].npmRegistryServer`,
//! `npmRegistries["//npm.corp.example"].npmAuthToken`).

use std::str::FromStr;

use yaml_edit::{Document, Mapping, Sequence};

use super::{split_bom, Editor, FormatError};
use crate::plan::Setting;

/// What one client's YAML file looks like beyond YAML itself.
pub trait YamlSyntax: Sync {
    /// The client's name, for messages.
    fn client(&self) -> &'static str;
    /// Whether the key `leaf` holds a boolean (written `true`, not `"true"`).
    fn boolean(&self, leaf: &str) -> bool;
    /// Whether the agent's item goes first in the list `leaf` (the client takes the first
    /// that answers), rather than after the user's.
    fn first(&self, _leaf: &str) -> bool {
        false
    }
    /// Whether the top-level key `leaf` must be written plain (`:sources:`, which Ruby reads
    /// as a symbol), never quoted as `yaml-edit` quotes a key that starts with `:`.
    fn plain_key(&self, _leaf: &str) -> bool {
        false
    }
}

/// The keys of a path (`a.b["c.d"].e` -> `a`, `b`, `c.d`, `e`), or `None` when it is not one.
fn keys(path: &str) -> Option<Vec<&str>> {
    let mut found = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        let (key, tail) = match rest.strip_prefix("[\"") {
            Some(quoted) => {
                let end = quoted.find("\"]")?;
                (&quoted[..end], &quoted[end + 2..])
            }
            None => {
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            }
        };
        if key.is_empty() {
            return None;
        }
        found.push(key);
        rest = tail.strip_prefix('.').unwrap_or(tail);
        if tail.starts_with('.') && rest.is_empty() {
            return None;
        }
    }
    (!found.is_empty()).then_some(found)
}

/// Whether `text` holds no YAML node, only blank lines and comments, maybe after a document
/// start (`---` on the first line, which a file left with none of its keys keeps): Yarn and
/// RubyGems read that as an empty mapping, `yaml-edit` refuses to parse it. (It refuses a
/// comment before `---` in any file.)
fn only_comments(text: &str) -> bool {
    // YAML ends a line at a lone CR too, as `yaml-edit` and Yarn's and Ruby's parsers do.
    let mut lines = text.split(['\n', '\r']).peekable();
    if lines.peek().is_some_and(|first| first.trim_end() == "---") {
        lines.next();
    }
    lines.all(|line| {
        let line = line.trim_start();
        line.is_empty() || line.starts_with('#')
    })
}

/// The document `content` holds, if it is one YAML mapping (or nothing yet: an empty file or
/// one of comments alone, whose comments [`Yaml::render`] keeps).
fn parse(content: &str) -> Result<Document, String> {
    let (_, text) = split_bom(content);
    if only_comments(text) {
        return Ok(Document::new_mapping());
    }
    // The parser's messages quote the file, which may hold a token: none is repeated.
    let document = Document::from_str(text).map_err(|_| "the YAML parser refuses it".to_owned())?;
    if document.as_mapping().is_none() {
        return Err("its top level is not a mapping of keys".into());
    }
    Ok(document)
}

/// The value of `key` in `mapping` as its readers take it: a key given twice is read at its
/// last place (Yarn's and Ruby's parsers let the later value win).
fn last_value(mapping: &Mapping, key: &str) -> Option<yaml_edit::YamlNode> {
    mapping
        .find_all_entries_by_key(key)
        .last()
        .and_then(|entry| entry.value_node())
}

/// Leaves only the last of `key`'s places in `mapping`, the one its readers read: the
/// earlier ones are never read, and an edit of the key must land where it is.
fn keep_last(mapping: &Mapping, key: &str) {
    let places = mapping.find_all_entries_by_key(key).count();
    for _ in 1..places {
        mapping.remove_nth_occurrence(key, 0);
    }
}

/// The mapping `keys` lead to (each key where its readers read it), made where missing.
fn mapping_mut(root: Mapping, keys: &[&str]) -> Result<Mapping, String> {
    let mut mapping = root;
    for key in keys {
        keep_last(&mapping, key);
        let read = last_value(&mapping, key).and_then(|node| node.as_mapping().cloned());
        let next = match read {
            Some(inner) => inner,
            None => {
                if !holds_nothing(&mapping, key) {
                    return Err(format!("{key} holds something other than keys"));
                }
                mapping.set(*key, Mapping::new());
                mapping
                    .get_mapping(*key)
                    .ok_or_else(|| format!("{key} could not be made"))?
            }
        };
        mapping = next;
    }
    Ok(mapping)
}

/// Whether `key` is missing from `mapping` or holds YAML's null as written (`npmScopes:`,
/// `~`, `null`; not the quoted string `"null"`), which Yarn and RubyGems read as an empty
/// mapping or list: the agent may make it one.
fn holds_nothing(mapping: &Mapping, key: &str) -> bool {
    last_value(mapping, key).is_none_or(|node| {
        node.as_scalar().is_some()
            && matches!(node.to_string().trim(), "" | "~" | "null" | "Null" | "NULL")
    })
}

/// Removes `leaf` under `keys` (every place it is given), and each mapping left empty on the
/// way up.
fn remove(root: &Mapping, keys: &[&str], leaf: &str) {
    let Some((first, rest)) = keys.split_first() else {
        while root.remove(leaf).is_some() {}
        return;
    };
    keep_last(root, first);
    if let Some(inner) = root.get_mapping(*first) {
        remove(&inner, rest, leaf);
        if inner.is_empty() {
            root.remove(*first);
        }
    }
}

/// Removes `item` from the list `leaf` under `keys`, the list where it is left empty, and
/// each mapping left empty on the way up.
fn remove_item(root: &Mapping, keys: &[&str], leaf: &str, item: &str) {
    let Some((first, rest)) = keys.split_first() else {
        keep_last(root, leaf);
        if let Some(list) = root.get_sequence(leaf) {
            let at = list.values().position(|node| scalar_text(&node) == item);
            if let Some(at) = at {
                list.remove(at);
            }
            if list.is_empty() {
                root.remove(leaf);
            }
        }
        return;
    };
    keep_last(root, first);
    if let Some(inner) = root.get_mapping(*first) {
        remove_item(&inner, rest, leaf, item);
        if inner.is_empty() {
            root.remove(*first);
        }
    }
}

/// The text of a scalar as the client reads it: unquoted and unescaped; anything else (an
/// alias, a list, a mapping) as it is written.
fn scalar_text(node: &yaml_edit::YamlNode) -> String {
    match node.as_scalar() {
        Some(scalar) => scalar.as_string(),
        None => node.to_string().trim().to_owned(),
    }
}

/// A YAML format ([`YamlSyntax`]) as an [`Editor`].
#[derive(Debug)]
pub struct Yaml<S>(pub S);

impl<S: YamlSyntax> Editor for Yaml<S> {
    fn render(
        &self,
        content: &str,
        changes: &[(&Setting, Option<Vec<String>>)],
    ) -> Result<String, FormatError> {
        let (bom, original) = split_bom(content);
        let mut document = parse(content)
            .map_err(|problem| FormatError::unsafe_value(self.0.client(), problem))?;
        // The comments of a file that holds nothing else go before what the agent writes.
        let mut comments = match only_comments(original) {
            true => original,
            false => "",
        };
        // A list under a key that must stay plain is started as text (`:sources: []`), which
        // the library then keeps as written.
        let plain: Vec<&str> = changes
            .iter()
            .filter(|(setting, values)| setting.multi && values.is_some())
            .map(|(setting, _)| setting.key.as_str())
            .filter(|key| keys(key).is_some_and(|path| path.len() == 1))
            .filter(|key| self.0.plain_key(key))
            .filter(|key| {
                document
                    .as_mapping()
                    .is_some_and(|root| !root.contains_key(*key))
            })
            .collect();
        if !plain.is_empty() {
            let (_, text) = split_bom(content);
            let nl = match text.contains("\r\n") {
                true => "\r\n",
                false => "\n",
            };
            let mut text = text.to_owned();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push_str(nl);
            }
            for key in plain {
                text.push_str(&format!("{key}: []{nl}"));
            }
            document = parse(&text)
                .map_err(|problem| FormatError::unsafe_value(self.0.client(), problem))?;
            // They are in the document now.
            comments = "";
        }
        let root = document
            .as_mapping()
            .ok_or_else(|| FormatError::unsafe_value(self.0.client(), "not a mapping"))?;
        for (setting, values) in changes {
            let unsafe_value = |reason: String| FormatError::unsafe_value(&setting.key, reason);
            let path = keys(&setting.key).ok_or_else(|| unsafe_value("not a key path".into()))?;
            let (leaf, parents) = path
                .split_last()
                .ok_or_else(|| unsafe_value("empty".into()))?;
            if setting.multi {
                // One item of a list, beside the user's own items.
                let item = setting
                    .values
                    .first()
                    .map(String::as_str)
                    .unwrap_or_default();
                match values {
                    Some(_) => {
                        let mapping = mapping_mut(root.clone(), parents).map_err(unsafe_value)?;
                        keep_last(&mapping, leaf);
                        if mapping.get_sequence(*leaf).is_none() {
                            if !holds_nothing(&mapping, leaf) {
                                return Err(unsafe_value(format!("{leaf} is not a list")));
                            }
                            mapping.set(*leaf, Sequence::new());
                        }
                        let list = mapping
                            .get_sequence(*leaf)
                            .ok_or_else(|| unsafe_value(format!("{leaf} could not be made")))?;
                        if !list.values().any(|node| scalar_text(&node) == item) {
                            match self.0.first(leaf) {
                                true => list.insert(0, item),
                                false => list.push(item),
                            }
                        }
                    }
                    None => remove_item(&root, parents, leaf, item),
                }
                continue;
            }
            match values {
                Some(values) => {
                    let [value] = values.as_slice() else {
                        return Err(unsafe_value("takes one value".into()));
                    };
                    let mapping = mapping_mut(root.clone(), parents).map_err(unsafe_value)?;
                    keep_last(&mapping, leaf);
                    match (self.0.boolean(leaf), value.as_str()) {
                        (true, "true") => mapping.set(*leaf, true),
                        (true, "false") => mapping.set(*leaf, false),
                        _ => mapping.set(*leaf, value.as_str()),
                    }
                }
                None => remove(&root, parents, leaf),
            }
        }
        // A file left with no key at all keeps only the user's comments: an empty mapping
        // prints `{}`, which is left out.
        let printed = document.to_string();
        let printed = match root.is_empty() {
            true => {
                let bare = printed.trim_end();
                let bare = bare.strip_suffix("{}").unwrap_or(bare);
                match bare.trim().is_empty() {
                    true => "",
                    false => bare,
                }
            }
            false => printed.as_str(),
        };
        let text = match comments.is_empty() || comments.ends_with('\n') || printed.is_empty() {
            true => format!("{comments}{printed}"),
            false => {
                let nl = match comments.contains("\r\n") {
                    true => "\r\n",
                    false => "\n",
                };
                format!("{comments}{nl}{printed}")
            }
        };
        // What the agent wrote must read back as it was meant.
        let check =
            parse(&text).map_err(|problem| FormatError::unsafe_value(self.0.client(), problem))?;
        for (setting, values) in changes.iter().filter(|(setting, _)| !setting.multi) {
            let read = self.current(&check.to_string(), setting);
            if &read != values {
                return Err(FormatError::unsafe_value(
                    &setting.key,
                    "would not read back as written",
                ));
            }
        }
        Ok(format!("{bom}{text}"))
    }

    fn current(&self, content: &str, setting: &Setting) -> Option<Vec<String>> {
        let document = parse(content).ok()?;
        let path = keys(&setting.key)?;
        let (leaf, parents) = path.split_last()?;
        // As its readers read it: a key given twice at its last place.
        let mut mapping = document.as_mapping()?;
        for key in parents {
            mapping = last_value(&mapping, key)?.as_mapping()?.clone();
        }
        if setting.multi {
            let list = last_value(&mapping, leaf)?.as_sequence()?.clone();
            return list
                .values()
                .map(|node| scalar_text(&node))
                .find(|value| setting.values.contains(value))
                .map(|value| vec![value]);
        }
        let node = last_value(&mapping, leaf)?;
        Some(vec![scalar_text(&node)])
    }

    fn unreadable(&self, content: &str) -> Option<(&'static str, String)> {
        parse(content).err().map(|problem| {
            (
                self.0.client(),
                format!("not YAML {} can read: {problem}", self.0.client()),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Yarnish;
    impl YamlSyntax for Yarnish {
        fn client(&self) -> &'static str {
            "Yarn"
        }
        fn boolean(&self, leaf: &str) -> bool {
            leaf == "enableStrictSsl" || leaf == "npmAlwaysAuth"
        }
    }

    fn setting(key: &str, value: &str) -> Setting {
        crate::clients::setting(key, value)
    }

    #[test]
    fn paths_are_read_as_yarn_config_get_takes_them() {
        assert_eq!(
            keys("npmRegistries[\"//npm.corp.example\"].npmAuthToken").unwrap(),
            ["npmRegistries", "//npm.corp.example", "npmAuthToken"]
        );
        assert_eq!(keys("npmRegistryServer").unwrap(), ["npmRegistryServer"]);
        for wrong in ["", "a..b", "a.", "a[\"b"] {
            assert_eq!(keys(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn nested_keys_are_set_beside_the_users_and_removed_leaving_every_byte() {
        let user = "\u{feff}# mine\r\nnpmScopes:\r\n  mine:\r\n    npmRegistryServer: https://mine.example/\r\n";
        let editor = Yaml(Yarnish);
        let scope = setting(
            "npmScopes[\"corp\"].npmRegistryServer",
            "https://corp.example/",
        );
        let token = setting("npmRegistries[\"//corp.example\"].npmAuthToken", "t0k#en;x");
        let strict = setting("enableStrictSsl", "false");
        let changes = [
            (&scope, Some(scope.values.clone())),
            (&token, Some(token.values.clone())),
            (&strict, Some(strict.values.clone())),
        ];
        let written = editor.render(user, &changes).unwrap();
        assert!(
            written.starts_with("\u{feff}# mine\r\nnpmScopes:\r\n  mine:\r\n"),
            "{written:?}"
        );
        assert!(written.contains("enableStrictSsl: false"), "{written:?}");
        for s in [&scope, &token, &strict] {
            assert_eq!(
                editor.current(&written, s),
                Some(s.values.clone()),
                "{written:?}"
            );
        }
        let removed = [(&scope, None), (&token, None), (&strict, None)];
        assert_eq!(editor.render(&written, &removed).unwrap(), user);
    }

    #[test]
    fn a_list_gets_the_agents_item_beside_the_users() {
        let user = "unsafeHttpWhitelist:\n  - mine.example\n";
        let editor = Yaml(Yarnish);
        let mut host = setting("unsafeHttpWhitelist", "npm.corp.example");
        host.multi = true;
        let written = editor
            .render(user, &[(&host, Some(host.values.clone()))])
            .unwrap();
        assert!(
            written.contains("mine.example") && written.contains("npm.corp.example"),
            "{written}"
        );
        assert_eq!(editor.current(&written, &host), Some(host.values.clone()));
        assert_eq!(editor.render(&written, &[(&host, None)]).unwrap(), user);
        let alone = editor
            .render("", &[(&host, Some(host.values.clone()))])
            .unwrap();
        assert_eq!(editor.render(&alone, &[(&host, None)]).unwrap(), "");
    }

    #[test]
    fn a_key_with_no_value_is_made_the_mapping_or_list_it_is_read_as() {
        let editor = Yaml(Yarnish);
        let scope = setting(
            "npmScopes[\"corp\"].npmRegistryServer",
            "https://corp.example/",
        );
        let mut host = setting("unsafeHttpWhitelist", "npm.corp.example");
        host.multi = true;
        for user in [
            "npmScopes:\nunsafeHttpWhitelist: ~\n",
            "npmScopes: null\r\nunsafeHttpWhitelist:\r\n",
        ] {
            let changes = [
                (&scope, Some(scope.values.clone())),
                (&host, Some(host.values.clone())),
            ];
            let written = editor.render(user, &changes).unwrap();
            assert_eq!(
                editor.current(&written, &scope),
                Some(scope.values.clone()),
                "{written:?}"
            );
            assert_eq!(
                editor.current(&written, &host),
                Some(host.values.clone()),
                "{written:?}"
            );
        }
        // A string is not nothing.
        assert!(editor
            .render(
                "npmScopes: \"null\"\n",
                &[(&scope, Some(scope.values.clone()))]
            )
            .is_err());
    }

    #[test]
    fn a_file_of_comments_alone_keeps_them_before_the_agents_keys() {
        let editor = Yaml(Yarnish);
        let registry = setting("npmRegistryServer", "https://npm.corp.example/");
        for user in ["# my yarn\n", "# my yarn", "\u{feff}# a\r\n\r\n  # b\r\n"] {
            assert!(editor.unreadable(user).is_none(), "{user:?}");
            let written = editor
                .render(user, &[(&registry, Some(registry.values.clone()))])
                .unwrap();
            assert!(written.starts_with(user), "{written:?}");
            assert_eq!(
                editor.current(&written, &registry),
                Some(registry.values.clone()),
                "{written:?}"
            );
            let removed = editor.render(&written, &[(&registry, None)]).unwrap();
            assert_eq!(removed.trim_end(), user.trim_end(), "{user:?}");
        }
    }

    #[test]
    fn a_lone_carriage_return_ends_a_comment_as_yaml_reads_it() {
        let editor = Yaml(Yarnish);
        let registry = setting("npmRegistryServer", "https://npm.corp.example/");
        let user = "# my yarn\rnpmRegistryServer: a\r";
        let theirs = Some(vec!["a".to_owned()]);
        assert_eq!(editor.current(user, &registry), theirs);
        let proxy = setting("httpProxy", "http://proxy.example:3128/");
        let written = editor
            .render(user, &[(&proxy, Some(proxy.values.clone()))])
            .unwrap();
        assert_eq!(editor.current(&written, &registry), theirs, "{written:?}");
        // Comments alone, each ended by a lone CR, are still no YAML node.
        assert!(editor.unreadable("# a\r# b\r").is_none());
    }

    #[test]
    fn a_document_start_left_with_no_key_is_an_empty_mapping_and_stays() {
        let editor = Yaml(Yarnish);
        let registry = setting("npmRegistryServer", "https://npm.corp.example/");
        let mut host = setting("unsafeHttpWhitelist", "npm.corp.example");
        host.multi = true;
        let set = [
            (&registry, Some(registry.values.clone())),
            (&host, Some(host.values.clone())),
        ];
        // The agent's item leaves the user's list empty, and the list goes with it: nothing
        // is left but the document start, and the agent's settings still come out.
        let written = editor
            .render("---\nunsafeHttpWhitelist: []\n", &set)
            .unwrap();
        let removed = editor
            .render(&written, &[(&registry, None), (&host, None)])
            .unwrap();
        assert_eq!(removed.trim_end(), "---");
        for user in ["---\n", "---\r\n# mine\r\n", "---"] {
            assert!(editor.unreadable(user).is_none(), "{user:?}");
            assert_eq!(editor.render(user, &[]).unwrap(), user);
            let written = editor.render(user, &set).unwrap();
            assert!(written.starts_with(user.trim_end()), "{written:?}");
            assert_eq!(
                editor.current(&written, &registry),
                Some(registry.values.clone()),
                "{written:?}"
            );
            let removed = editor
                .render(&written, &[(&registry, None), (&host, None)])
                .unwrap();
            assert_eq!(removed.trim_end(), user.trim_end(), "{user:?}");
        }
        // Two documents are not a mapping Yarn reads.
        assert!(editor.unreadable("---\n---\n").is_some());
    }

    #[test]
    fn what_is_not_a_mapping_of_keys_is_unreadable() {
        let editor = Yaml(Yarnish);
        assert!(editor.unreadable("- a\n- b\n").is_some());
        assert!(editor
            .unreadable("npmRegistryServer: https://x/\n")
            .is_none());
        assert!(editor.unreadable("").is_none());
    }
}
