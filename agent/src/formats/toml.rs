//! TOML files (uv's `uv.toml`), edited with `toml_edit`, which keeps every byte it is not asked
//! to change: comments, blank lines, key order, quoting, the user's own tables.
//!
//! A setting's key is a path of TOML keys joined by `.`. A part `name[field=value]` is the
//! table of the array of tables `name` (`[[name]]`) whose `field` is `value`, such as
//! `index[name=switchyard].url`: the agent's tables are found by a name it gives them, never
//! by their place among the user's. A multi-valued setting is one item of an array (uv's
//! `allow-insecure-host`), beside the user's own items.
//!
//! What is kept around an edit: a byte-order mark (uv reads a file with one), each line's
//! ending (`toml_edit` prints LF: the user's lines get theirs back, and the agent's end in
//! CRLF in a file whose every line does), and a last line without one, unless the agent's
//! lines come after it.

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, TableLike, Value};

use super::{split_bom, Editor, FormatError};
use crate::plan::Setting;

/// What one client's TOML file looks like beyond TOML itself.
pub trait TomlSyntax: Sync {
    /// The client's name, for messages.
    fn client(&self) -> &'static str;
    /// The TOML value of `text` for the key `leaf`: a string unless the client reads that key
    /// as something else (uv's `default` is a boolean).
    fn value(&self, leaf: &str, text: &str) -> Value {
        let _ = leaf;
        Value::from(text)
    }
    /// For an array of tables whose order the client reads (uv takes the first `default`
    /// index, and searches the others in order), the prefix of the names the agent gives its
    /// tables there: they go before every table of the user's, in the order the agent adds
    /// them. `None`: new tables go last.
    fn agent_first(&self, array: &str) -> Option<&'static str> {
        let _ = array;
        None
    }
}

/// One part of a setting's key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part<'a> {
    /// A key of a table.
    Key(&'a str),
    /// The table of an array of tables whose `field` is `value`.
    Element {
        array: &'a str,
        field: &'a str,
        value: &'a str,
    },
}

/// The parts of `key`, or `None` when it is not a path this module writes: non-empty keys
/// joined by `.`, each optionally followed by one `[field=value]` (both non-empty; the value
/// may hold a `.`).
fn parts(key: &str) -> Option<Vec<Part<'_>>> {
    let mut found = Vec::new();
    let mut rest = key;
    loop {
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let name = &rest[..end];
        if name.is_empty() {
            return None;
        }
        rest = &rest[end..];
        match rest.strip_prefix('[') {
            Some(selector) => {
                let close = selector.find(']')?;
                let (field, value) = selector[..close].split_once('=')?;
                if field.is_empty() || value.is_empty() {
                    return None;
                }
                found.push(Part::Element {
                    array: name,
                    field,
                    value,
                });
                rest = &selector[close + 1..];
            }
            None => found.push(Part::Key(name)),
        }
        match rest.strip_prefix('.') {
            Some(next) => rest = next,
            None if rest.is_empty() => return Some(found),
            None => return None,
        }
    }
}

/// The document `content` holds, as the client parses it; or where and why it is not TOML.
fn parse(content: &str) -> Result<DocumentMut, String> {
    let (_, text) = split_bom(content);
    text.parse::<DocumentMut>().map_err(|error| {
        // toml_edit's message is the place, the offending line (which may hold a token or a
        // login: never repeated), a caret, and the reason.
        let message = error.to_string();
        let lines: Vec<&str> = message
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.contains('|'))
            .collect();
        match lines.as_slice() {
            [place, .., reason] => format!("{place}: {reason}"),
            [place] => (*place).to_owned(),
            [] => "not TOML".to_owned(),
        }
    })
}

/// The table `parts` lead to (without its leaf), if it exists: a `[header]` table or an inline
/// one (`corp = { index = "..." }`), which the client reads alike.
fn table<'a>(doc: &'a DocumentMut, parts: &[Part<'_>]) -> Option<&'a dyn TableLike> {
    let mut table: &dyn TableLike = doc.as_table();
    for part in parts {
        table = match part {
            Part::Key(key) => table.get(key)?.as_table_like()?,
            Part::Element {
                array,
                field,
                value,
            } => table
                .get(array)?
                .as_array_of_tables()?
                .iter()
                .find(|element| element.get(field).and_then(Item::as_str) == Some(value))?,
        };
    }
    Some(table)
}

/// The table `parts` lead to, made where missing: a missing table is a `[header]` table (an
/// inline one inside an inline table), a missing element a `[[array]]` table named by its
/// field, placed as `syntax` says.
fn table_mut<'a, S: TomlSyntax + ?Sized>(
    syntax: &S,
    doc: &'a mut DocumentMut,
    parts: &[Part<'_>],
) -> Result<&'a mut dyn TableLike, String> {
    let mut table: &mut dyn TableLike = doc.as_table_mut();
    let mut inline = false;
    for part in parts {
        table = match *part {
            Part::Key(key) => {
                let item = table.entry(key).or_insert_with(|| match inline {
                    true => toml_edit::value(toml_edit::InlineTable::new()),
                    false => {
                        let mut new = Table::new();
                        new.set_implicit(true);
                        Item::Table(new)
                    }
                });
                inline = inline || item.is_inline_table();
                item.as_table_like_mut()
                    .ok_or_else(|| format!("{key} is not a table"))?
            }
            Part::Element {
                array,
                field,
                value,
            } => {
                let item = table
                    .entry(array)
                    .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()));
                let elements = item
                    .as_array_of_tables_mut()
                    .ok_or_else(|| {
                        format!("{array} is not written as [[{array}]] tables (an inline array, say): the agent adds its own only beside tables of that form")
                    })?;
                let found = elements
                    .iter()
                    .position(|e| e.get(field).and_then(Item::as_str) == Some(value));
                let at = match found {
                    Some(at) => at,
                    None => add_element(syntax, elements, array, field, value),
                };
                elements
                    .get_mut(at)
                    .ok_or_else(|| format!("{array} lost an element"))?
            }
        };
    }
    Ok(table)
}

/// Adds the table `[[array]]` with `field = value`, after the others, or (where `syntax`
/// puts the agent's tables first) after the agent's and before the user's; its index.
fn add_element<S: TomlSyntax + ?Sized>(
    syntax: &S,
    elements: &mut ArrayOfTables,
    array: &str,
    field: &str,
    value: &str,
) -> usize {
    let mut new = Table::new();
    new.insert(field, toml_edit::value(value));
    let first_users = syntax.agent_first(array).and_then(|prefix| {
        elements.iter().position(|element| {
            !element
                .get(field)
                .and_then(Item::as_str)
                .is_some_and(|name| name.starts_with(prefix))
        })
    });
    let Some(at) = first_users else {
        elements.push(new);
        return elements.len() - 1;
    };
    // An array of tables cannot insert: it is built again, the new table taking the user's
    // table's place in the file (tables print in the order of their positions).
    if let Some(position) = elements.get(at).and_then(Table::position) {
        new.set_position(position);
    }
    let old = std::mem::replace(elements, ArrayOfTables::new());
    for (i, element) in old.into_iter().enumerate() {
        if i == at {
            elements.push(new.clone());
        }
        elements.push(element);
    }
    at
}

/// Removes what `parts` lead to and every table left empty on the way: an element holding
/// only the field that names it, a table with nothing in it (unless a comment stands above
/// its header).
fn remove(doc: &mut DocumentMut, parts: &[Part<'_>], leaf: &str) {
    fn walk(table: &mut dyn TableLike, parts: &[Part<'_>], leaf: &str) {
        let Some((first, rest)) = parts.split_first() else {
            table.remove(leaf);
            return;
        };
        match *first {
            Part::Key(key) => {
                let Some(inner) = table.get_mut(key).and_then(Item::as_table_like_mut) else {
                    return;
                };
                walk(inner, rest, leaf);
                // An empty table is no table to the client; one with a comment above its
                // header is the user's note, and stays.
                let noted = table
                    .get(key)
                    .and_then(Item::as_table)
                    .and_then(|inner| inner.decor().prefix())
                    .and_then(|prefix| prefix.as_str())
                    .is_some_and(|prefix| prefix.contains('#'));
                let empty = table
                    .get(key)
                    .and_then(Item::as_table_like)
                    .is_some_and(|inner| inner.is_empty());
                if empty && !noted {
                    table.remove(key);
                }
            }
            Part::Element {
                array,
                field,
                value,
            } => {
                let Some(elements) = table.get_mut(array).and_then(Item::as_array_of_tables_mut)
                else {
                    return;
                };
                let named = |e: &Table| e.get(field).and_then(Item::as_str) == Some(value);
                for element in elements.iter_mut().filter(|e| named(e)) {
                    walk(element, rest, leaf);
                }
                elements.retain(|e| !(named(e) && e.len() == 1));
                if elements.is_empty() {
                    table.remove(array);
                }
            }
        }
    }
    walk(doc.as_table_mut(), parts, leaf);
}

/// The path and leaf of `setting`'s key.
fn path(setting: &Setting) -> Result<(Vec<Part<'_>>, &str), FormatError> {
    let mut parts = parts(&setting.key)
        .ok_or_else(|| FormatError::unsafe_value(&setting.key, "not a TOML key path"))?;
    match parts.pop() {
        Some(Part::Key(leaf)) => Ok((parts, leaf)),
        _ => Err(FormatError::unsafe_value(
            &setting.key,
            "does not end in a key",
        )),
    }
}

/// `printed` (which `toml_edit` ends every line of in LF) with the line endings of `original`,
/// the file's text after its byte-order mark (which is no part of its first line): each line
/// that `original` holds too ends as it did there, taken in order; a line of the agent's ends
/// in CRLF where every line of `original` does, else in LF. A last line of the user's without
/// an ending keeps none ([`last_line_open`]).
fn with_endings_of(original: &str, printed: &str) -> String {
    let all_crlf = original.contains("\r\n") && !original.replace("\r\n", "").contains('\n');
    let new_line = if all_crlf { "\r\n" } else { "\n" };
    let mut endings: std::collections::HashMap<&str, std::collections::VecDeque<&str>> =
        std::collections::HashMap::new();
    for line in original.split_inclusive('\n') {
        let (text, ending) = match (line.strip_suffix("\r\n"), line.strip_suffix('\n')) {
            (Some(text), _) => (text, "\r\n"),
            (None, Some(text)) => (text, "\n"),
            // The last line, without an ending: where the agent's lines follow it, it needs
            // one, and takes the file's own.
            (None, None) => (line, new_line),
        };
        endings.entry(text).or_default().push_back(ending);
    }
    let mut out = String::with_capacity(printed.len() + printed.len() / 16);
    for line in printed.split_inclusive('\n') {
        let Some(text) = line.strip_suffix('\n') else {
            out.push_str(line);
            continue;
        };
        let text = text.strip_suffix('\r').unwrap_or(text);
        let ending = endings
            .get_mut(text)
            .and_then(|queue| queue.pop_front())
            .unwrap_or(new_line);
        out.push_str(text);
        out.push_str(ending);
    }
    last_line_open(original, out)
}

/// `out` without the line break `toml_edit` ends every document in, where `original` (the
/// user's text) ended without one and `out` still ends in the user's last line: as the user
/// left it, or with a value the agent set in it (the same text up to its `=`). Only where the
/// agent's lines come after the user's last line does that line get an ending. A final line
/// break means nothing to TOML either way.
fn last_line_open(original: &str, mut out: String) -> String {
    if original.is_empty() || original.ends_with('\n') {
        return out;
    }
    let theirs = original.rsplit('\n').next().unwrap_or(original);
    let Some(body) = out.strip_suffix('\n') else {
        return out;
    };
    let body = body.strip_suffix('\r').unwrap_or(body);
    let last = body.rsplit('\n').next().unwrap_or(body);
    let key_of = |line: &str| -> Option<String> {
        let (key, _) = line.split_once('=')?;
        (!key.trim().is_empty()).then(|| key.to_owned())
    };
    if last == theirs || key_of(last).is_some_and(|key| key_of(theirs) == Some(key)) {
        let kept = body.len();
        out.truncate(kept);
    }
    out
}

/// A TOML format ([`TomlSyntax`]) as an [`Editor`].
#[derive(Debug)]
pub struct Toml<S>(pub S);

impl<S: TomlSyntax> Editor for Toml<S> {
    fn render(
        &self,
        content: &str,
        changes: &[(&Setting, Option<Vec<String>>)],
    ) -> Result<String, FormatError> {
        let (bom, text) = split_bom(content);
        let mut doc = parse(content)
            .map_err(|problem| FormatError::unsafe_value(self.0.client(), problem))?;
        for (setting, values) in changes {
            let (parts, leaf) = path(setting)?;
            let unsafe_value = |reason: String| FormatError::unsafe_value(&setting.key, reason);
            match (values, setting.multi) {
                (Some(values), false) => {
                    let [value] = values.as_slice() else {
                        return Err(unsafe_value("takes one value".into()));
                    };
                    let table = table_mut(&self.0, &mut doc, &parts).map_err(unsafe_value)?;
                    let mut new = self.0.value(leaf, value);
                    // The user's spacing around `=` and their comment after the value stay.
                    match table.get_mut(leaf).and_then(Item::as_value_mut) {
                        Some(old) => {
                            *new.decor_mut() = old.decor().clone();
                            *old = new;
                        }
                        None => {
                            table.insert(leaf, Item::Value(new));
                        }
                    }
                }
                (Some(values), true) => {
                    let table = table_mut(&self.0, &mut doc, &parts).map_err(unsafe_value)?;
                    let array = table
                        .entry(leaf)
                        .or_insert_with(|| toml_edit::value(toml_edit::Array::new()))
                        .as_array_mut()
                        .ok_or_else(|| unsafe_value(format!("{leaf} is not an array")))?;
                    for value in values {
                        if !array.iter().any(|item| item.as_str() == Some(value)) {
                            array.push(self.0.value(leaf, value));
                        }
                    }
                }
                (None, false) => remove(&mut doc, &parts, leaf),
                (None, true) => {
                    let theirs = setting.values.first();
                    if let Some(array) = table_mut(&self.0, &mut doc, &parts)
                        .ok()
                        .and_then(|table| table.get_mut(leaf))
                        .and_then(Item::as_array_mut)
                    {
                        array.retain(|item| item.as_str() != theirs.map(String::as_str));
                        if array.is_empty() {
                            remove(&mut doc, &parts, leaf);
                        }
                    }
                }
            }
        }
        Ok(format!("{bom}{}", with_endings_of(text, &doc.to_string())))
    }

    fn current(&self, content: &str, setting: &Setting) -> Option<Vec<String>> {
        let doc = parse(content).ok()?;
        let (parts, leaf) = path(setting).ok()?;
        let item = table(&doc, &parts)?.get(leaf)?;
        let text = |value: &Value| match value {
            Value::String(text) => text.value().clone(),
            other => other.clone().decorated("", "").to_string(),
        };
        match setting.multi {
            true => item
                .as_array()?
                .iter()
                .map(text)
                .find(|value| setting.values.contains(value))
                .map(|value| vec![value]),
            false => item.as_value().map(|value| vec![text(value)]),
        }
    }

    fn unreadable(&self, content: &str) -> Option<(&'static str, String)> {
        parse(content)
            .err()
            .map(|problem| (self.0.client(), format!("not TOML: {problem}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Uvish;
    impl TomlSyntax for Uvish {
        fn client(&self) -> &'static str {
            "uv"
        }
        fn value(&self, leaf: &str, text: &str) -> Value {
            match (leaf, text) {
                ("default", "true") => Value::from(true),
                _ => Value::from(text),
            }
        }
        fn agent_first(&self, array: &str) -> Option<&'static str> {
            (array == "index").then_some("switchyard")
        }
    }

    fn setting(key: &str, value: &str, multi: bool) -> Setting {
        let mut setting = crate::clients::setting(key, value);
        setting.multi = multi;
        setting
    }

    fn edit(content: &str, changes: &[(&Setting, Option<Vec<String>>)]) -> String {
        Toml(Uvish).render(content, changes).unwrap()
    }

    #[test]
    fn an_inline_table_is_edited_where_it_stands() {
        let user =
            "[registries]\ncorp = { index = \"sparse+https://user.example/corp/\" } # mine\n";
        let editor = Toml(Uvish);
        let index = setting(
            "registries.corp.index",
            "sparse+https://corp.example/corp/",
            false,
        );
        let token = setting("registries.corp.token", "t", false);
        let changes = [
            (&index, Some(index.values.clone())),
            (&token, Some(token.values.clone())),
        ];
        let written = editor.render(user, &changes).unwrap();
        assert!(written.starts_with("[registries]\ncorp = {"), "{written}");
        assert!(written.contains("# mine"), "{written}");
        assert_eq!(editor.current(&written, &index), Some(index.values.clone()));
        assert_eq!(editor.current(&written, &token), Some(token.values.clone()));
        let removed = editor
            .render(&written, &[(&index, None), (&token, None)])
            .unwrap();
        assert_eq!(editor.current(&removed, &index), None, "{removed}");
    }

    #[test]
    fn keys_paths_and_elements_are_read_from_a_settings_key() {
        assert_eq!(
            parts("index[name=switchyard].url").unwrap(),
            [
                Part::Element {
                    array: "index",
                    field: "name",
                    value: "switchyard"
                },
                Part::Key("url")
            ]
        );
        assert_eq!(
            parts("source.crates-io.replace-with").unwrap(),
            [
                Part::Key("source"),
                Part::Key("crates-io"),
                Part::Key("replace-with")
            ]
        );
        assert_eq!(
            parts("index[name=corp.eu].url").unwrap()[0],
            Part::Element {
                array: "index",
                field: "name",
                value: "corp.eu"
            }
        );
        for wrong in [
            "a..b",
            "index[name].url",
            "a[b=c]d",
            "[x=y].url",
            "a.",
            "a[=c]",
            "",
        ] {
            assert_eq!(parts(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn the_agents_tables_go_before_the_users_and_come_out_leaving_every_byte() {
        let user = "\u{feff}# my uv\r\nnative-tls = true # yes\r\n\r\n[[index]]\r\nname = \"mine\"\r\nurl = \"https://mine.example/simple\"\r\ndefault = true\r\n";
        let url = setting(
            "index[name=switchyard].url",
            "https://pypi.corp.example/simple/",
            false,
        );
        let default = setting("index[name=switchyard].default", "true", false);
        let host = setting("allow-insecure-host", "pypi.corp.example", true);
        let written = edit(
            user,
            &[
                (&url, Some(url.values.clone())),
                (&default, Some(default.values.clone())),
                (&host, Some(host.values.clone())),
            ],
        );
        assert!(written.starts_with("\u{feff}# my uv\r\n"), "{written:?}");
        assert!(
            !written.replace("\r\n", "").contains('\n'),
            "CRLF kept: {written:?}"
        );
        let ours = written.find("\"switchyard\"").unwrap();
        let mine = written.find("\"mine\"").unwrap();
        assert!(ours < mine, "uv takes the first default: {written}");
        let editor = Toml(Uvish);
        assert_eq!(
            editor.current(&written, &url),
            Some(vec!["https://pypi.corp.example/simple/".to_owned()])
        );
        assert_eq!(
            editor.current(&written, &default),
            Some(vec!["true".to_owned()])
        );
        assert_eq!(
            editor.current(&written, &host),
            Some(vec!["pypi.corp.example".to_owned()])
        );
        let restored = edit(&written, &[(&url, None), (&default, None), (&host, None)]);
        assert_eq!(restored, user);
    }

    #[test]
    fn a_users_array_items_and_values_stay_beside_the_agents() {
        let user = "allow-insecure-host = [\"mine.example\"]  # mine\n\n[http]\n";
        let host = setting("allow-insecure-host", "corp.example", true);
        let written = edit(user, &[(&host, Some(host.values.clone()))]);
        assert!(written.contains("\"mine.example\""), "{written}");
        assert!(written.contains("# mine"), "{written}");
        assert_eq!(edit(&written, &[(&host, None)]), user);

        let index = setting("index-url", "https://new.example/", false);
        let user = "index-url   =   'https://old.example/'   # company\n";
        let written = edit(user, &[(&index, Some(index.values.clone()))]);
        assert_eq!(
            written,
            "index-url   =   \"https://new.example/\"   # company\n"
        );
    }

    #[test]
    fn the_agents_tables_keep_the_order_it_adds_them_in_before_the_users() {
        let user = "[[index]]\nname = \"mine\"\nurl = \"https://mine.example/\"\n";
        let names = ["switchyard", "switchyard-extra-1", "switchyard-extra-2"];
        let urls: Vec<Setting> = names
            .iter()
            .map(|name| {
                let url = format!("https://{name}.example/");
                setting(&format!("index[name={name}].url"), &url, false)
            })
            .collect();
        let changes: Vec<_> = urls.iter().map(|s| (s, Some(s.values.clone()))).collect();
        let written = edit(user, &changes);
        let at: Vec<usize> = names
            .iter()
            .chain(["mine"].iter())
            .map(|name| written.find(&format!("\"{name}\"")).unwrap())
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{written}");
        let removed: Vec<_> = urls.iter().map(|s| (s, None)).collect();
        assert_eq!(edit(&written, &removed), user);
    }

    #[test]
    fn lines_of_mixed_endings_keep_their_own() {
        let user = "a = 1\r\nb = 2\n";
        let key = setting("http.proxy", "http://proxy.example:3128/", false);
        let written = edit(user, &[(&key, Some(key.values.clone()))]);
        assert!(written.starts_with("a = 1\r\nb = 2\n"), "{written:?}");
        assert_eq!(edit(&written, &[(&key, None)]), user);
    }

    #[test]
    fn a_last_line_without_an_ending_gets_one_only_before_the_agents_lines() {
        let editor = Toml(Uvish);
        assert_eq!(
            editor.render("index-url = true", &[]).unwrap(),
            "index-url = true"
        );
        let index = setting("index-url", "https://new.example/", false);
        let written = edit(
            "index-url = 'x' # mine",
            &[(&index, Some(index.values.clone()))],
        );
        assert_eq!(written, "index-url = \"https://new.example/\" # mine");

        // The user's last line takes the file's ending before the agent's.
        let user = "a = 1\r\nb = 2";
        let proxy = setting("http.proxy", "http://proxy.example:3128/", false);
        let written = edit(user, &[(&proxy, Some(proxy.values.clone()))]);
        assert!(written.starts_with("a = 1\r\nb = 2\r\n"), "{written:?}");
        assert!(written.ends_with("\r\n"), "{written:?}");
        // Taken out, they leave that ending, as in every format of lines.
        assert_eq!(edit(&written, &[(&proxy, None)]), format!("{user}\r\n"));
    }

    #[test]
    fn a_byte_order_mark_is_no_part_of_the_first_line() {
        let user = "\u{feff}a = 1\r\nb = 2\n";
        assert_eq!(Toml(Uvish).render(user, &[]).unwrap(), user);
        let proxy = setting("http.proxy", "http://proxy.example:3128/", false);
        let written = edit(user, &[(&proxy, Some(proxy.values.clone()))]);
        assert!(written.starts_with(user), "{written:?}");
        assert_eq!(edit(&written, &[(&proxy, None)]), user);
    }

    #[test]
    fn what_is_not_toml_is_said_without_repeating_the_line() {
        let editor = Toml(Uvish);
        let (_, said) = editor
            .unreadable("[[index]]\nurl = \"https://u:s3cr3t@x.example/\n")
            .unwrap();
        assert!(
            said.starts_with("not TOML: TOML parse error at line 2"),
            "{said}"
        );
        assert!(!said.contains("s3cr3t"), "{said}");
    }

    #[test]
    fn what_is_not_toml_is_unreadable_and_never_written() {
        let editor = Toml(Uvish);
        let broken = "[[index]\nname = 1\n";
        assert!(editor.unreadable(broken).unwrap().1.starts_with("not TOML"));
        let url = setting("index[name=switchyard].url", "https://x.example/", false);
        assert!(editor
            .render(broken, &[(&url, Some(url.values.clone()))])
            .is_err());
        let not_a_table = "index = 3\n";
        assert!(editor
            .render(not_a_table, &[(&url, Some(url.values.clone()))])
            .is_err());
    }
}
