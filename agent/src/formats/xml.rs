//! XML files (Maven's `settings.xml`), read with `quick-xml` and edited by splicing text at
//! the byte offsets it reports, so that every byte the agent is not asked to change stays:
//! the declaration, comments, the user's elements, their order, indentation and line endings,
//! a byte-order mark.
//!
//! A setting's key is a path of elements under the root, joined by `.`; an element picked
//! from its siblings by the text of its identity child is written `name[identity]`
//! (`mirrors.mirror[switchyard].url`: the `<url>` of the `<mirror>` whose `<id>` is
//! `switchyard`, in `<mirrors>`). A value is an element's text, trimmed as Maven trims it.
//!
//! Where the agent puts what is missing: an element picked by identity first among its
//! siblings (Maven takes the first mirror or proxy that matches), any other last; each on a
//! line of its own, indented one step more than its parent (the file's own step, else two
//! spaces). Removing takes away what was inserted, the line it stood on with it, then an
//! identified element left with nothing but its identity, then an element left empty; a file
//! left with nothing but the empty root the agent made is empty.
//!
//! What is not kept: a value's own markup (a comment or CDATA inside a value the agent
//! replaces); an empty element written `<mirrors/>`, which becomes `<mirrors>` ... `</mirrors>`
//! when the agent writes into it, and is gone once the agent's content is removed, as is one of
//! the user's that held nothing but white space (to Maven, neither holds anything).

use quick_xml::events::Event;
use quick_xml::Reader;

use super::{split_bom, Editor, FormatError};
use crate::plan::Setting;

/// What one client's XML file looks like beyond XML itself.
pub trait XmlSyntax: Sync {
    /// The client's name, for messages.
    fn client(&self) -> &'static str;
    /// The name of the root element (`settings`).
    fn root(&self) -> &'static str;
    /// The child whose text identifies an element among its siblings (`id`).
    fn identity(&self) -> &'static str;
    /// Why the client would not take `value` for `key` as written, if it would not.
    fn refuses(&self, key: &str, value: &str) -> Option<String>;
    /// Whether `child` of an element named `parent` is one the client reads once and
    /// refuses twice (a field of its model, not an item of a list; an element it does not
    /// know it skips, however often).
    fn once(&self, parent: &str, child: &str) -> bool;
}

/// One element of a document: where it is, and the text directly inside it.
#[derive(Debug)]
struct Element {
    name: String,
    /// Where `<name` starts.
    start: usize,
    /// Where the text inside starts (after `>`); `end` for `<name/>`.
    open_end: usize,
    /// Where `</name>` starts; `end` for `<name/>`.
    close_start: usize,
    /// After the element.
    end: usize,
    /// Written `<name/>`.
    empty: bool,
    children: Vec<usize>,
    /// Its text, its character references and entities resolved, without its children's.
    text: String,
}

/// A parsed document: its elements, the root first.
#[derive(Debug)]
struct Tree {
    elements: Vec<Element>,
    /// Whether its declaration names an encoding other than UTF-8 (in which a character
    /// beyond ASCII would be read otherwise).
    foreign_encoding: bool,
}

impl Tree {
    fn children<'a>(&'a self, at: usize, name: &'a str) -> impl Iterator<Item = usize> + 'a {
        self.elements[at]
            .children
            .iter()
            .copied()
            .filter(move |&child| self.elements[child].name == name)
    }

    /// The trimmed text of `at`'s child named `name`, if it has one.
    fn child_text(&self, at: usize, name: &str) -> Option<&str> {
        self.children(at, name)
            .next()
            .map(|child| trimmed(&self.elements[child].text))
    }

    /// The element `step` names among `at`'s children: the first.
    fn find(&self, at: usize, step: &Step, identity: &str) -> Option<usize> {
        self.children(at, step.name)
            .find(|&child| match step.identity {
                Some(wanted) => self.child_text(child, identity) == Some(wanted),
                None => true,
            })
    }

    /// The deepest element of `steps` that exists, and how many steps it took.
    fn walk(&self, steps: &[Step], identity: &str) -> (usize, usize) {
        let mut at = 0;
        for (taken, step) in steps.iter().enumerate() {
            match self.find(at, step, identity) {
                Some(child) => at = child,
                None => return (at, taken),
            }
        }
        (at, steps.len())
    }
}

/// Text as Maven reads a value: without the characters up to a space at either end
/// (`String.trim`).
fn trimmed(text: &str) -> &str {
    text.trim_matches(|c: char| c <= ' ')
}

/// One step of a key: an element's name, and the identity that picks it.
#[derive(Debug, PartialEq, Eq)]
struct Step<'a> {
    name: &'a str,
    identity: Option<&'a str>,
}

/// The steps of a key (`mirrors.mirror[switchyard].url`), or `None` when it is not one. An
/// identity may hold a `.`.
fn steps(key: &str) -> Option<Vec<Step<'_>>> {
    let mut found = Vec::new();
    let mut rest = key;
    loop {
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let name = &rest[..end];
        if name.is_empty() {
            return None;
        }
        rest = &rest[end..];
        let identity = match rest.strip_prefix('[') {
            Some(inner) => {
                let close = inner.find(']')?;
                rest = &inner[close + 1..];
                Some(&inner[..close]).filter(|id| !id.is_empty())
            }
            None => None,
        };
        if rest.starts_with('[') {
            return None;
        }
        found.push(Step { name, identity });
        match rest.strip_prefix('.') {
            Some(next) => rest = next,
            None if rest.is_empty() => break,
            None => return None,
        }
    }
    // The last step is a value: no identity.
    found.last()?.identity.is_none().then_some(found)
}

/// The document `text` holds (without a byte-order mark), if it is one element named as
/// `syntax` says that the client can read: well-formed (attributes and comments too), no
/// element twice where the client takes one.
fn parse(text: &str, syntax: &dyn XmlSyntax) -> Result<Tree, String> {
    let root = syntax.root();
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_comments = true;
    let mut elements: Vec<Element> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut foreign_encoding = false;
    loop {
        let before = reader.buffer_position() as usize;
        // The parser's messages may quote the file, which may hold a password: only where.
        let event = reader
            .read_event()
            .map_err(|_| format!("it is not well-formed XML (at byte {before})"))?;
        let after = reader.buffer_position() as usize;
        let mut text_of = |piece: &str| match open.last() {
            Some(&at) => {
                elements[at].text.push_str(piece);
                Ok(())
            }
            None if trimmed(piece).is_empty() => Ok(()),
            None => Err(format!("text stands outside <{root}>")),
        };
        match event {
            Event::Start(ref tag) | Event::Empty(ref tag) => {
                let name = tag.name().as_ref().to_owned();
                if tag
                    .attributes()
                    .with_checks(true)
                    .any(|attribute| attribute.is_err())
                {
                    return Err(format!(
                        "<{name}> has a malformed attribute (at byte {before})"
                    ));
                }
                let at = elements.len();
                match open.last() {
                    Some(&parent) => elements[parent].children.push(at),
                    None if !elements.is_empty() => {
                        return Err(format!("something stands after </{root}>"))
                    }
                    None if name != root => {
                        return Err(format!("its top element is <{name}>, not <{root}>"))
                    }
                    None => {}
                }
                let empty = matches!(event, Event::Empty(_));
                elements.push(Element {
                    name,
                    start: before,
                    open_end: after,
                    close_start: after,
                    end: after,
                    empty,
                    children: Vec::new(),
                    text: String::new(),
                });
                if !empty {
                    open.push(at);
                }
            }
            Event::End(_) => {
                let at = open.pop().ok_or_else(|| {
                    format!("an element closes that was never opened (at byte {before})")
                })?;
                elements[at].close_start = before;
                elements[at].end = after;
            }
            Event::Text(ref piece) => text_of(&piece.xml10_content())?,
            Event::CData(ref piece) => text_of(&piece.xml10_content())?,
            Event::GeneralRef(ref reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(character)) => character.to_string(),
                    _ => quick_xml::escape::resolve_predefined_entity(&reference.xml10_content())
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            format!("it names an entity XML does not define (at byte {before})")
                        })?,
                };
                text_of(&resolved)?;
            }
            Event::Decl(ref declaration) => {
                foreign_encoding = declaration.encoding().is_some_and(|encoding| {
                    encoding.map_or(true, |name| {
                        !matches!(name.to_ascii_uppercase().as_str(), "UTF-8" | "UTF8")
                    })
                });
            }
            Event::Eof => break,
            Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !open.is_empty() {
        return Err("an element is never closed".into());
    }
    if elements.is_empty() {
        return Err(format!("it holds no <{root}>"));
    }
    twice(&elements, 0, syntax)?;
    Ok(Tree {
        elements,
        foreign_encoding,
    })
}

/// An element under `at` the client takes once that is there twice, if there is one.
fn twice(elements: &[Element], at: usize, syntax: &dyn XmlSyntax) -> Result<(), String> {
    let element = &elements[at];
    let mut seen = std::collections::BTreeSet::new();
    for &child in &element.children {
        let name = &elements[child].name;
        if syntax.once(&element.name, name) && !seen.insert(name) {
            return Err(format!(
                "<{name}> is twice in <{}>, which {} refuses",
                element.name,
                syntax.client()
            ));
        }
        twice(elements, child, syntax)?;
    }
    Ok(())
}

/// The line ending `text` uses.
fn line_ending(text: &str) -> &'static str {
    match text.contains("\r\n") {
        true => "\r\n",
        false => "\n",
    }
}

/// The white space `pos` is indented by on its line, when only white space is before it.
fn indent_at(text: &str, pos: usize) -> &str {
    let line = text[..pos].rfind('\n').map_or(0, |at| at + 1);
    let before = &text[line..pos];
    match before.chars().all(|c| c == ' ' || c == '\t') {
        true => before,
        false => "",
    }
}

/// What a document made from nothing holds before anything is set in it.
fn skeleton(root: &str, nl: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{nl}<{root}>{nl}</{root}>{nl}")
}

/// The elements `steps` name, each on its own line under `indent` (`step` more per level),
/// the last holding `value`.
fn build(
    steps: &[Step],
    value: &str,
    indent: &str,
    step: &str,
    nl: &str,
    identity: &str,
) -> String {
    let Some((first, rest)) = steps.split_first() else {
        return String::new();
    };
    let name = first.name;
    if rest.is_empty() {
        return format!("<{name}>{value}</{name}>");
    }
    let inner = format!("{indent}{step}");
    let mut out = format!("<{name}>");
    if let Some(id) = first.identity {
        let id = quick_xml::escape::escape(id);
        out.push_str(&format!("{nl}{inner}<{identity}>{id}</{identity}>"));
    }
    let child = build(rest, value, &inner, step, nl, identity);
    out.push_str(&format!("{nl}{inner}{child}{nl}{indent}</{name}>"));
    out
}

/// `text` with `start..end` replaced by `with`.
fn splice(text: &str, start: usize, end: usize, with: &str) -> String {
    format!("{}{with}{}", &text[..start], &text[end..])
}

/// `text` with `value` (escaped) set at `steps`, made where missing.
fn set(
    text: &str,
    tree: &Tree,
    steps: &[Step],
    value: &str,
    identity: &str,
) -> Result<String, String> {
    let (at, taken) = tree.walk(steps, identity);
    let element = &tree.elements[at];
    if taken == steps.len() {
        if !element.children.is_empty() {
            return Err(format!("<{}> holds elements, not a value", element.name));
        }
        let name = &element.name;
        return Ok(match element.empty {
            true => splice(
                text,
                element.start,
                element.end,
                &format!("<{name}>{value}</{name}>"),
            ),
            false => splice(text, element.open_end, element.close_start, value),
        });
    }
    let nl = line_ending(text);
    let root = &tree.elements[0];
    let step = root
        .children
        .first()
        .map(|&child| indent_at(text, tree.elements[child].start))
        .map(|child| {
            child
                .strip_prefix(indent_at(text, root.start))
                .unwrap_or(child)
        })
        .filter(|step| !step.is_empty())
        .unwrap_or("  ");
    let outer = indent_at(text, element.start);
    let inner = format!("{outer}{step}");
    let built = build(&steps[taken..], value, &inner, step, nl, identity);
    let inside = &text[element.open_end..element.close_start];
    if element.empty || inside.trim().is_empty() {
        // An element with nothing in it gets the new one on a line of its own, and its end
        // on the next.
        let name = &element.name;
        let open = match element.empty {
            true => format!(
                "{}>",
                text[element.start..element.end]
                    .trim_end_matches("/>")
                    .trim_end()
            ),
            false => text[element.start..element.open_end].to_owned(),
        };
        let whole = format!("{open}{nl}{inner}{built}{nl}{outer}</{name}>");
        return Ok(splice(text, element.start, element.end, &whole));
    }
    let at = match steps[taken].identity {
        // First among its siblings: Maven takes the first that matches.
        Some(_) => element.open_end,
        // Last, before the white space that ends the parent.
        None => element.open_end + inside.trim_end().len(),
    };
    Ok(splice(text, at, at, &format!("{nl}{inner}{built}")))
}

/// `text` without the element `at`, and the white space before it back to the end of the
/// line before (what [`set`] put there with it).
fn cut(text: &str, element: &Element) -> String {
    let before = &text[..element.start];
    let blank = before.len() - before.trim_end_matches([' ', '\t']).len();
    let start = match before[..before.len() - blank].strip_suffix('\n') {
        Some(line) => line.strip_suffix('\r').unwrap_or(line).len(),
        None => element.start,
    };
    splice(text, start, element.end, "")
}

/// Whether `element` holds nothing but white space and, if given, its child `except`.
fn holds_nothing(text: &str, tree: &Tree, element: &Element, except: Option<usize>) -> bool {
    let mut inside = text[element.open_end..element.close_start].to_owned();
    if let Some(child) = except {
        let child = &tree.elements[child];
        let (from, to) = (child.start - element.open_end, child.end - element.open_end);
        inside.replace_range(from..to, "");
    }
    inside.trim().is_empty()
}

/// `text` without the value at `steps`, and each element on the way up left with nothing.
fn unset(text: &str, syntax: &dyn XmlSyntax, steps: &[Step]) -> Result<String, String> {
    let identity = syntax.identity();
    let tree = parse(text, syntax)?;
    let (at, taken) = tree.walk(steps, identity);
    if taken < steps.len() {
        return Ok(text.to_owned());
    }
    let mut text = cut(text, &tree.elements[at]);
    for depth in (1..steps.len()).rev() {
        let tree = parse(&text, syntax)?;
        let (at, taken) = tree.walk(&steps[..depth], identity);
        if taken < depth {
            break;
        }
        let element = &tree.elements[at];
        let empty = match steps[depth - 1].identity {
            Some(_) => {
                let own = tree.children(at, identity).next();
                element.children.len() <= 1 && holds_nothing(&text, &tree, element, own)
            }
            None => element.empty || holds_nothing(&text, &tree, element, None),
        };
        if !empty {
            break;
        }
        text = cut(&text, element);
    }
    Ok(text)
}

/// An XML format ([`XmlSyntax`]) as an [`Editor`].
#[derive(Debug)]
pub struct Xml<S>(pub S);

impl<S: XmlSyntax> Xml<S> {
    fn unsafe_file(&self, problem: String) -> FormatError {
        FormatError::unsafe_value(self.0.client(), problem)
    }

    /// Each `name` element in each `parent` under the root of `content` (`proxies`, `proxy`),
    /// as the trimmed text of its value children by name; none when the client cannot read
    /// `content`.
    pub fn entities(
        &self,
        content: &str,
        parent: &str,
        name: &str,
    ) -> Vec<std::collections::BTreeMap<String, String>> {
        let (_, body) = split_bom(content);
        let Ok(tree) = parse(body, &self.0) else {
            return Vec::new();
        };
        tree.children(0, parent)
            .flat_map(|list| tree.children(list, name).collect::<Vec<_>>())
            .map(|entity| {
                tree.elements[entity]
                    .children
                    .iter()
                    .map(|&child| &tree.elements[child])
                    .filter(|child| child.children.is_empty())
                    .map(|child| (child.name.clone(), trimmed(&child.text).to_owned()))
                    .collect()
            })
            .collect()
    }
}

impl<S: XmlSyntax> Editor for Xml<S> {
    fn render(
        &self,
        content: &str,
        changes: &[(&Setting, Option<Vec<String>>)],
    ) -> Result<String, FormatError> {
        let (bom, body) = split_bom(content);
        let (root, identity) = (self.0.root(), self.0.identity());
        let nl = line_ending(body);
        let made = skeleton(root, nl);
        let mut text = match body.trim().is_empty() {
            true => made.clone(),
            false => body.to_owned(),
        };
        for (setting, values) in changes {
            let unsafe_value = |reason: String| FormatError::unsafe_value(&setting.key, reason);
            let path =
                steps(&setting.key).ok_or_else(|| unsafe_value("not an element path".into()))?;
            text = match values {
                Some(values) => {
                    let [value] = values.as_slice() else {
                        return Err(unsafe_value("takes one value".into()));
                    };
                    if let Some(reason) = self.0.refuses(&setting.key, value) {
                        return Err(unsafe_value(reason));
                    }
                    let tree = parse(&text, &self.0).map_err(|p| self.unsafe_file(p))?;
                    if tree.foreign_encoding && !value.is_ascii() {
                        return Err(unsafe_value(
                            "the file declares an encoding other than UTF-8, in which this value would read otherwise".into(),
                        ));
                    }
                    let escaped = quick_xml::escape::escape(value.as_str());
                    set(&text, &tree, &path, &escaped, identity).map_err(unsafe_value)?
                }
                None => unset(&text, &self.0, &path).map_err(|p| self.unsafe_file(p))?,
            };
        }
        if text == made {
            return Ok(String::new());
        }
        // What the agent wrote must read back as it was meant.
        for (setting, values) in changes {
            if &self.current(&text, setting) != values {
                return Err(FormatError::unsafe_value(
                    &setting.key,
                    "would not read back as written",
                ));
            }
        }
        Ok(format!("{bom}{text}"))
    }

    fn current(&self, content: &str, setting: &Setting) -> Option<Vec<String>> {
        let (_, body) = split_bom(content);
        let tree = parse(body, &self.0).ok()?;
        let path = steps(&setting.key)?;
        let (at, taken) = tree.walk(&path, self.0.identity());
        let element = &tree.elements[at];
        (taken == path.len() && element.children.is_empty())
            .then(|| vec![trimmed(&element.text).to_owned()])
    }

    fn written(&self, value: &str) -> String {
        quick_xml::escape::escape(value).into_owned()
    }

    fn unreadable(&self, content: &str) -> Option<(&'static str, String)> {
        let (_, body) = split_bom(content);
        if body.trim().is_empty() {
            return None;
        }
        parse(body, &self.0).err().map(|problem| {
            (
                self.0.client(),
                format!("not XML {} can read: {problem}", self.0.client()),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::clients::maven::SettingsXml as Settings;

    fn setting(key: &str, value: &str) -> Setting {
        crate::clients::setting(key, value)
    }

    fn set_all(editor: &Xml<Settings>, content: &str, settings: &[&Setting]) -> String {
        let changes: Vec<_> = settings
            .iter()
            .map(|s| (*s, Some(s.values.clone())))
            .collect();
        editor.render(content, &changes).unwrap()
    }

    fn unset_all(editor: &Xml<Settings>, content: &str, settings: &[&Setting]) -> String {
        let changes: Vec<_> = settings.iter().map(|s| (*s, None)).collect();
        editor.render(content, &changes).unwrap()
    }

    #[test]
    fn keys_are_element_paths_with_identities() {
        assert_eq!(
            steps("mirrors.mirror[switchyard].url").unwrap(),
            [
                Step {
                    name: "mirrors",
                    identity: None
                },
                Step {
                    name: "mirror",
                    identity: Some("switchyard")
                },
                Step {
                    name: "url",
                    identity: None
                },
            ]
        );
        assert_eq!(
            steps("proxies.proxy[a.b].host").unwrap()[1].identity,
            Some("a.b")
        );
        for wrong in ["", "a..b", "a.", "a[b", "a[b]", "a[]x.c", "a[b][c].d"] {
            assert_eq!(steps(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn a_new_file_holds_the_settings_and_is_empty_again_after() {
        let editor = Xml(Settings);
        let url = setting(
            "mirrors.mirror[switchyard].url",
            "https://m.example/a?b=1&c=2",
        );
        let of = setting("mirrors.mirror[switchyard].mirrorOf", "*,!local");
        let written = set_all(&editor, "", &[&url, &of]);
        assert_eq!(
            written,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<settings>\n  <mirrors>\n    <mirror>\n      <id>switchyard</id>\n      <url>https://m.example/a?b=1&amp;c=2</url>\n      <mirrorOf>*,!local</mirrorOf>\n    </mirror>\n  </mirrors>\n</settings>\n"
        );
        assert_eq!(editor.current(&written, &url), Some(url.values.clone()));
        assert_eq!(unset_all(&editor, &written, &[&url, &of]), "");
    }

    #[test]
    fn the_users_content_is_kept_byte_for_byte() {
        let user = "\u{feff}<?xml version=\"1.0\"?>\r\n<!-- mine -->\r\n<settings xmlns=\"http://maven.apache.org/SETTINGS/1.0.0\">\r\n\t<localRepository>/data/m2</localRepository>\r\n\t<mirrors>\r\n\t\t<mirror>\r\n\t\t\t<id>theirs</id>\r\n\t\t\t<url>https://theirs.example/</url>\r\n\t\t\t<mirrorOf>central</mirrorOf>\r\n\t\t</mirror>\r\n\t</mirrors>\r\n\t<servers/>\r\n</settings>\r\n";
        let editor = Xml(Settings);
        let url = setting("mirrors.mirror[switchyard].url", "https://m.example/");
        let login = setting("servers.server[switchyard].username", "ada");
        let proxy = setting("proxies.proxy[switchyard-http].host", "proxy.example");
        let written = set_all(&editor, user, &[&url, &login, &proxy]);
        assert!(
            written.starts_with("\u{feff}<?xml version=\"1.0\"?>\r\n<!-- mine -->\r\n"),
            "{written:?}"
        );
        // Ours first among the mirrors, in the file's own indentation and line endings.
        assert!(
            written.contains("\t<mirrors>\r\n\t\t<mirror>\r\n\t\t\t<id>switchyard</id>\r\n\t\t\t<url>https://m.example/</url>\r\n\t\t</mirror>\r\n\t\t<mirror>\r\n\t\t\t<id>theirs</id>"),
            "{written:?}"
        );
        assert!(
            written.contains("\t<servers>\r\n\t\t<server>\r\n\t\t\t<id>switchyard</id>\r\n\t\t\t<username>ada</username>\r\n\t\t</server>\r\n\t</servers>"),
            "{written:?}"
        );
        for s in [&url, &login, &proxy] {
            assert_eq!(
                editor.current(&written, s),
                Some(s.values.clone()),
                "{written:?}"
            );
        }
        let theirs = setting("mirrors.mirror[theirs].url", "");
        assert_eq!(
            editor.current(&written, &theirs),
            Some(vec!["https://theirs.example/".to_owned()])
        );
        // What is removed is what was put; `<servers/>` held nothing and goes.
        let restored = unset_all(&editor, &written, &[&url, &login, &proxy]);
        assert_eq!(restored, user.replace("\t<servers/>\r\n", ""));
    }

    #[test]
    fn a_value_of_the_users_is_replaced_in_place() {
        let user = "<settings>\n  <mirrors>\n    <mirror>\n      <id>switchyard</id>\n      <url> <!-- old --> https://old.example/ </url>\n    </mirror>\n  </mirrors>\n</settings>\n";
        let editor = Xml(Settings);
        let url = setting("mirrors.mirror[switchyard].url", "https://new.example/");
        assert_eq!(
            editor.current(user, &url),
            Some(vec!["https://old.example/".to_owned()]),
            "trimmed as Maven trims, the comment not part of it"
        );
        let written = set_all(&editor, user, &[&url]);
        assert_eq!(
            written,
            user.replace(
                " <!-- old --> https://old.example/ ",
                "https://new.example/"
            )
        );
        let back = setting("mirrors.mirror[switchyard].url", "https://old.example/");
        let restored = set_all(&editor, &written, &[&back]);
        assert!(
            restored.contains("<url>https://old.example/</url>"),
            "{restored}"
        );
    }

    #[test]
    fn references_and_cdata_are_read_as_maven_reads_them() {
        let editor = Xml(Settings);
        let user = "<settings><servers><server><id>switchyard</id><password>a&amp;b&#x41;<![CDATA[<c>]]></password></server></servers></settings>";
        let password = setting("servers.server[switchyard].password", "");
        assert_eq!(
            editor.current(user, &password),
            Some(vec!["a&bA<c>".to_owned()])
        );
    }

    #[test]
    fn what_maven_cannot_read_is_unreadable_and_never_quoted() {
        let editor = Xml(Settings);
        for broken in [
            "<settings><mirrors></settings>",
            "<settings>s3cret",
            "<project></project>",
            "<settings/><settings/>",
            "<settings>&nbsp;</settings>",
            "just text",
            "<settings><mirrors/><mirrors/></settings>",
            "<settings><mirrors><mirror><url>a</url><url>b</url></mirror></mirrors></settings>",
            "<settings><offline>true</offline><offline>false</offline></settings>",
            "<settings><!-- a -- b --></settings>",
            "<settings foo></settings>",
        ] {
            let (client, problem) = editor.unreadable(broken).expect(broken);
            assert_eq!(client, "Maven");
            assert!(
                !problem.contains("s3cret") && !problem.contains("nbsp"),
                "{problem}"
            );
        }
        assert!(editor.unreadable("").is_none());
        assert!(editor.unreadable("<settings/>").is_none());
        // Lists, what is free-form, and what Maven does not know may hold a name twice.
        assert!(editor
            .unreadable("<settings><mirror/><mirror/><mine><a/><a/></mine></settings>")
            .is_none());
        assert!(editor
            .unreadable("<settings><mirrors><mirror/><mirror/></mirrors><servers><server><configuration><x/><x/></configuration></server></servers></settings>")
            .is_none());
        let url = setting("mirrors.mirror[switchyard].url", "https://m.example/");
        assert!(editor
            .render("<settings><mirrors>", &[(&url, Some(url.values.clone()))])
            .is_err());
    }

    #[test]
    fn values_the_client_refuses_or_cannot_hold_are_not_written() {
        let editor = Xml(Settings);
        let interpolated = setting("servers.server[switchyard].password", "a${env.X}");
        assert!(editor
            .render("", &[(&interpolated, Some(interpolated.values.clone()))])
            .is_err());
        let latin = setting("servers.server[switchyard].password", "pässword");
        let declared = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<settings/>\n";
        assert!(editor
            .render(declared, &[(&latin, Some(latin.values.clone()))])
            .is_err());
        let ascii = setting("servers.server[switchyard].password", "password");
        assert!(editor
            .render(declared, &[(&ascii, Some(ascii.values.clone()))])
            .is_ok());
        let container = setting("mirrors", "x");
        assert!(editor
            .render(
                "<settings><mirrors><mirror/></mirrors></settings>",
                &[(&container, Some(container.values.clone()))]
            )
            .is_err());
    }

    #[test]
    fn an_identified_element_of_the_users_keeps_what_is_not_ours() {
        let editor = Xml(Settings);
        let user = "<settings>\n  <servers>\n    <server>\n      <id>switchyard</id>\n      <!-- keep -->\n    </server>\n  </servers>\n</settings>\n";
        let login = setting("servers.server[switchyard].username", "ada");
        let written = set_all(&editor, user, &[&login]);
        assert_eq!(unset_all(&editor, &written, &[&login]), user);
    }
}
