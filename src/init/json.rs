//! JSON files edited in place: `init` changes a team's `.mcp.json` and `.claude/settings.json` by
//! splicing new text into the old, never by printing the document again, so every byte it does
//! not have to touch stays as the team wrote it (indentation, key order, one-line arrays, line
//! endings). [`parse`] maps the text to the spans of its values; [`Editor`] collects splices and
//! renders what it inserts in the file's own indentation.

use std::fmt::Write as _;
use std::ops::Range;

/// One value of the document and where it lies in the text.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) span: Range<usize>,
    pub(crate) kind: Kind,
}

#[derive(Debug)]
pub(crate) enum Kind {
    /// Members in the file's order, each with where its key starts.
    Obj(Vec<Member>),
    Arr(Vec<Node>),
    Str(String),
    /// A number, `true`, `false` or `null`.
    Scalar,
}

#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) key: String,
    pub(crate) key_start: usize,
    pub(crate) value: Node,
}

impl Node {
    pub(crate) fn members(&self) -> Option<&[Member]> {
        match &self.kind {
            Kind::Obj(m) => Some(m),
            _ => None,
        }
    }

    /// The value under `key`: the last one when a key repeats, as JSON.parse (and so Claude Code)
    /// reads it.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.members()?
            .iter()
            .rev()
            .find(|m| m.key == key)
            .map(|m| &m.value)
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn items(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Arr(items) => Some(items),
            _ => None,
        }
    }
}

/// The spans of `text`, which must be valid JSON: it is checked with serde_json first, for its
/// messages (line and column) and its nesting limit.
pub(crate) fn parse(text: &str) -> Result<Node, String> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| e.to_string())?;
    let mut p = Parser {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
    p.skip_ws();
    let node = p.value()?;
    Ok(node)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self
            .bytes
            .get(self.at)
            .is_some_and(|b| b" \t\r\n".contains(b))
        {
            self.at += 1;
        }
    }

    fn peek(&self) -> Result<u8, String> {
        self.bytes
            .get(self.at)
            .copied()
            .ok_or_else(|| "unexpected end of the text".to_string())
    }

    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.peek()? != b {
            return Err(format!("expected `{}` at byte {}", b as char, self.at));
        }
        self.at += 1;
        Ok(())
    }

    fn value(&mut self) -> Result<Node, String> {
        let start = self.at;
        let kind = match self.peek()? {
            b'{' => {
                self.at += 1;
                let mut members = Vec::new();
                self.skip_ws();
                if self.peek()? == b'}' {
                    self.at += 1;
                } else {
                    loop {
                        self.skip_ws();
                        let key_start = self.at;
                        let key = self.string()?;
                        self.skip_ws();
                        self.expect(b':')?;
                        self.skip_ws();
                        let value = self.value()?;
                        members.push(Member {
                            key,
                            key_start,
                            value,
                        });
                        self.skip_ws();
                        match self.peek()? {
                            b',' => self.at += 1,
                            _ => {
                                self.expect(b'}')?;
                                break;
                            }
                        }
                    }
                }
                Kind::Obj(members)
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.peek()? == b']' {
                    self.at += 1;
                } else {
                    loop {
                        self.skip_ws();
                        items.push(self.value()?);
                        self.skip_ws();
                        match self.peek()? {
                            b',' => self.at += 1,
                            _ => {
                                self.expect(b']')?;
                                break;
                            }
                        }
                    }
                }
                Kind::Arr(items)
            }
            b'"' => Kind::Str(self.string()?),
            _ => {
                while self
                    .bytes
                    .get(self.at)
                    .is_some_and(|b| !b" \t\r\n,]}".contains(b))
                {
                    self.at += 1;
                }
                Kind::Scalar
            }
        };
        Ok(Node {
            span: start..self.at,
            kind,
        })
    }

    /// A string literal, decoded.
    fn string(&mut self) -> Result<String, String> {
        let start = self.at;
        self.expect(b'"')?;
        loop {
            match self.peek()? {
                b'\\' => self.at += 2,
                b'"' => {
                    self.at += 1;
                    break;
                }
                _ => self.at += 1,
            }
        }
        serde_json::from_str(&self.text[start..self.at]).map_err(|e| e.to_string())
    }
}

/// A value to insert, its keys in the order given: strings, arrays and objects are all init
/// writes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub(crate) fn str(s: &str) -> Json {
        Json::Str(s.to_string())
    }

    /// The value laid out over lines: `indent` is where the line holding it starts, `unit` one
    /// more level.
    pub(crate) fn render(&self, indent: &str, unit: &str, nl: &str) -> String {
        let mut out = String::new();
        self.write(&mut out, indent, unit, nl);
        out
    }

    fn write(&self, out: &mut String, indent: &str, unit: &str, nl: &str) {
        let inner = format!("{indent}{unit}");
        match self {
            Json::Str(s) => out.push_str(&quote(s)),
            Json::Arr(items) if items.is_empty() => out.push_str("[]"),
            Json::Obj(fields) if fields.is_empty() => out.push_str("{}"),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    out.push_str(if i == 0 { "" } else { "," });
                    let _ = write!(out, "{nl}{inner}");
                    item.write(out, &inner, unit, nl);
                }
                let _ = write!(out, "{nl}{indent}]");
            }
            Json::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    out.push_str(if i == 0 { "" } else { "," });
                    let _ = write!(out, "{nl}{inner}{}: ", quote(k));
                    v.write(out, &inner, unit, nl);
                }
                let _ = write!(out, "{nl}{indent}}}");
            }
        }
    }

    /// The value on one line, for a file that keeps this object or array on one line.
    pub(crate) fn compact(&self) -> String {
        match self {
            Json::Arr(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(Json::compact)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Json::Obj(fields) => format!(
                "{{{}}}",
                fields
                    .iter()
                    .map(|(k, v)| format!("{}: {}", quote(k), v.compact()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Json::Str(s) => quote(s),
        }
    }
}

pub(crate) fn quote(s: &str) -> String {
    // Serializing a str cannot fail.
    serde_json::to_string(s).unwrap_or_default()
}

/// Splices into one text: each edit replaces a span (an empty one inserts), and what it inserts
/// follows the file's indentation unit and line endings.
pub(crate) struct Editor<'a> {
    text: &'a str,
    unit: String,
    nl: &'static str,
    edits: Vec<(Range<usize>, String)>,
}

impl<'a> Editor<'a> {
    pub(crate) fn new(text: &'a str) -> Editor<'a> {
        Editor {
            text,
            unit: indent_unit(text),
            nl: if text.contains("\r\n") { "\r\n" } else { "\n" },
            edits: Vec::new(),
        }
    }

    /// The text with every edit applied; edits at one place go in the order they were made.
    pub(crate) fn finish(mut self) -> String {
        self.edits.sort_by_key(|(r, _)| r.start);
        let mut out = String::with_capacity(self.text.len() + 256);
        let mut at = 0;
        for (range, with) in &self.edits {
            out.push_str(&self.text[at..range.start]);
            out.push_str(with);
            at = range.end.max(at);
        }
        out.push_str(&self.text[at..]);
        out
    }

    /// Replaces a value, laid out from the indentation of the line it starts on.
    pub(crate) fn replace(&mut self, node: &Node, value: &Json) {
        let indent = line_indent(self.text, node.span.start);
        let text = value.render(indent, &self.unit, self.nl);
        self.edits.push((node.span.clone(), text));
    }

    /// Adds members at the end of an object, after its last member: one a line when its members
    /// are one a line, else on the same line.
    pub(crate) fn add_members(&mut self, obj: &Node, members: &[(String, Json)]) {
        if members.is_empty() {
            return;
        }
        let Some(existing) = obj.members() else {
            return;
        };
        let Some(last) = existing.last() else {
            // An empty object is written again, with its new members one a line.
            self.replace(obj, &Json::Obj(members.to_vec()));
            return;
        };
        let mut text = String::new();
        match own_line_indent(self.text, last.key_start) {
            Some(indent) => {
                for (k, v) in members {
                    let _ = write!(
                        text,
                        ",{}{indent}{}: {}",
                        self.nl,
                        quote(k),
                        v.render(indent, &self.unit, self.nl)
                    );
                }
            }
            None => {
                for (k, v) in members {
                    let _ = write!(text, ", {}: {}", quote(k), v.compact());
                }
            }
        }
        let at = last.value.span.end;
        self.edits.push((at..at, text));
    }

    /// Appends items to an array, laid out as its items are.
    pub(crate) fn push_items(&mut self, arr: &Node, items: &[Json]) {
        if items.is_empty() {
            return;
        }
        let Some(existing) = arr.items() else {
            return;
        };
        let Some(last) = existing.last() else {
            self.replace(arr, &Json::Arr(items.to_vec()));
            return;
        };
        let mut text = String::new();
        match own_line_indent(self.text, last.span.start) {
            Some(indent) => {
                for item in items {
                    let _ = write!(
                        text,
                        ",{}{indent}{}",
                        self.nl,
                        item.render(indent, &self.unit, self.nl)
                    );
                }
            }
            None => {
                for item in items {
                    let _ = write!(text, ", {}", item.compact());
                }
            }
        }
        let at = last.span.end;
        self.edits.push((at..at, text));
    }
}

/// The whitespace that starts the line holding `at`.
fn line_indent(text: &str, at: usize) -> &str {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[start..];
    let n = line.len() - line.trim_start_matches([' ', '\t']).len();
    &line[..n]
}

/// The indentation before `at` when nothing but whitespace precedes it on its line.
fn own_line_indent(text: &str, at: usize) -> Option<&str> {
    let start = text[..at].rfind('\n').map(|i| i + 1)?;
    let before = &text[start..at];
    before
        .chars()
        .all(|c| c == ' ' || c == '\t')
        .then_some(before)
}

/// One level of the file's indentation: a tab when its first indented line starts with one, else
/// the fewest spaces any line is indented by, else two spaces (serde_json's, and a new file's).
fn indent_unit(text: &str) -> String {
    let mut fewest: Option<usize> = None;
    for line in text.lines() {
        let body = line.trim_start_matches([' ', '\t']);
        if body.is_empty() || body.len() == line.len() {
            continue;
        }
        if line.starts_with('\t') {
            if fewest.is_none() {
                return "\t".into();
            }
            continue;
        }
        let n = line.len() - line.trim_start_matches(' ').len();
        if n > 0 {
            fewest = Some(fewest.map_or(n, |f| f.min(n)));
        }
    }
    " ".repeat(fewest.unwrap_or(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(text: &str, f: impl FnOnce(&mut Editor, &Node)) -> String {
        let doc = parse(text).unwrap();
        let mut e = Editor::new(text);
        f(&mut e, &doc);
        let out = e.finish();
        serde_json::from_str::<serde_json::Value>(&out).unwrap_or_else(|e| panic!("{e}:\n{out}"));
        out
    }

    #[test]
    fn parse_records_spans_keys_and_strings() {
        let text = r#" {"a": [1, "x\"y"], "b": {"c": null}, "a": true} "#;
        let doc = parse(text).unwrap();
        assert_eq!(&text[doc.span.clone()], text.trim());
        // The last of a repeated key wins, as in JSON.parse.
        assert!(matches!(doc.get("a").unwrap().kind, Kind::Scalar));
        let m = doc.members().unwrap();
        assert_eq!(m[0].value.items().unwrap()[1].as_str(), Some("x\"y"));
        assert_eq!(&text[m[1].value.span.clone()], r#"{"c": null}"#);
        assert!(parse("{\"a\": 1,}").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn members_follow_four_spaces_tabs_and_one_line_objects() {
        let four = "{\n    \"a\": {\n        \"x\": 1\n    }\n}\n";
        let out = edit(four, |e, d| {
            e.add_members(
                d.get("a").unwrap(),
                &[("y".into(), Json::Arr(vec![Json::str("s")]))],
            )
        });
        assert_eq!(
            out,
            "{\n    \"a\": {\n        \"x\": 1,\n        \"y\": [\n            \"s\"\n        ]\n    }\n}\n"
        );
        let tabs = "{\r\n\t\"a\": 1\r\n}";
        let out = edit(tabs, |e, d| {
            e.add_members(
                d,
                &[("b".into(), Json::Obj(vec![("c".into(), Json::str("d"))]))],
            )
        });
        assert_eq!(
            out,
            "{\r\n\t\"a\": 1,\r\n\t\"b\": {\r\n\t\t\"c\": \"d\"\r\n\t}\r\n}"
        );
        let inline = "{\"env\": {\"A\": \"b\"}}";
        let out = edit(inline, |e, d| {
            e.add_members(d.get("env").unwrap(), &[("C".into(), Json::str("d"))])
        });
        assert_eq!(out, "{\"env\": {\"A\": \"b\", \"C\": \"d\"}}");
    }

    #[test]
    fn empty_objects_and_arrays_open_up_and_items_follow_their_layout() {
        let text =
            "{\n  \"p\": {},\n  \"l\": [],\n  \"one\": [\"a\"],\n  \"many\": [\n    \"a\"\n  ]\n}";
        let out = edit(text, |e, d| {
            e.add_members(d.get("p").unwrap(), &[("k".into(), Json::str("v"))]);
            e.push_items(d.get("l").unwrap(), &[Json::str("x"), Json::str("y")]);
            e.push_items(d.get("one").unwrap(), &[Json::str("b")]);
            e.push_items(d.get("many").unwrap(), &[Json::str("b")]);
        });
        assert_eq!(
            out,
            "{\n  \"p\": {\n    \"k\": \"v\"\n  },\n  \"l\": [\n    \"x\",\n    \"y\"\n  ],\n  \"one\": [\"a\", \"b\"],\n  \"many\": [\n    \"a\",\n    \"b\"\n  ]\n}"
        );
    }

    #[test]
    fn a_replaced_value_keeps_everything_around_it() {
        let text = "{ \"a\" : \"old\" ,\n\t\"b\": [1,2] }";
        let out = edit(text, |e, d| {
            e.replace(d.get("a").unwrap(), &Json::str("new"))
        });
        assert_eq!(out, "{ \"a\" : \"new\" ,\n\t\"b\": [1,2] }");
    }

    #[test]
    fn the_indent_unit_is_the_files_own() {
        assert_eq!(
            indent_unit("{\n    \"a\": {\n        \"b\": 1\n    }\n}"),
            "    "
        );
        assert_eq!(indent_unit("{\n\t\"a\": 1\n}"), "\t");
        assert_eq!(indent_unit("{\"a\": 1}"), "  ");
        assert_eq!(indent_unit("{\n   \"a\": 1\n}"), "   ");
    }
}
