//! Context files made smaller when the prompt does not fit the model's window: a code file
//! becomes its outline (every function and method body left out, signatures, types, fields and
//! docstrings kept) through the tree-sitter grammars the syntax check ships; any other file
//! keeps its first lines. Each reduced file says so in its header, with the way to get the rest
//! (`path:START-END`), so neither the model nor the planner mistakes it for the whole file.

use tree_sitter::{Node, Parser};

use crate::check::Lang;
use crate::check::syntax;
use crate::workspace::fence_for;

/// Lines kept of a data or text file.
const HEAD_LINES: usize = 30;
/// Characters kept of a data or text file, whatever its lines.
const HEAD_CHARS: usize = 3000;

/// One framed context file: `\n\n### {header}\n{fence}\n{body}\n{fence}`, as
/// `Workspace::read_context` writes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Section {
    pub header: String,
    pub body: String,
    /// Already a reduction, or a line range: not reduced again.
    pub fixed: bool,
}

impl Section {
    fn render(&self, out: &mut String) {
        let fence = fence_for(&self.body);
        out.push_str(&format!(
            "\n\n### {}\n{fence}\n{}\n{fence}",
            self.header, self.body
        ));
    }

    /// The path the header names (a range's header is `path (lines a-b)`).
    fn path(&self) -> &str {
        self.header
            .split_once(" (lines ")
            .map_or(self.header.as_str(), |(p, _)| p)
    }

    /// The section reduced, or `None` when reducing gains nothing.
    pub(crate) fn reduced(&self) -> Option<Section> {
        if self.fixed {
            return None;
        }
        let path = self.path().to_string();
        let lines = self.body.lines().count();
        let lang = std::path::Path::new(&path)
            .extension()
            .and_then(|e| e.to_str())
            .and_then(Lang::from_name);
        let code = lang.filter(|l| !matches!(l, Lang::Html | Lang::Css));
        let (body, header) = match code.and_then(|l| outline(l, &self.body)) {
            Some(o) => {
                let header = format!(
                    "{path} (reduced to an outline of its {lines} lines: bodies left out; pass {path}:START-END for one)"
                );
                (o, header)
            }
            None => {
                let h = head(&self.body);
                // The last line is the `…` that says more follows.
                let kept = h.lines().count().saturating_sub(1);
                let header = format!(
                    "{path} (reduced to its first {kept} of {lines} lines; pass {path}:START-END for others)"
                );
                (h, header)
            }
        };
        (body.len() < self.body.len()).then_some(Section {
            header,
            body,
            fixed: true,
        })
    }
}

/// The framed sections of a context text, or `None` when it is not one (nothing is reduced then).
pub(crate) fn sections(files: &str) -> Option<Vec<Section>> {
    let mut out = Vec::new();
    let mut rest = files;
    while !rest.is_empty() {
        rest = rest.strip_prefix("\n\n### ")?;
        let (header, after) = rest.split_once('\n')?;
        let ticks = after.len() - after.trim_start_matches('`').len();
        if ticks < 3 {
            return None;
        }
        let fence = &after[..ticks];
        let after = &after[ticks..];
        // The fence is longer than any backtick run in the body, so its first reappearance at a
        // line start closes the body.
        let close = after.find(&format!("\n{fence}"))?;
        let body = if close == 0 { "" } else { &after[1..close] };
        let next = &after[close + 1 + fence.len()..];
        if !(next.is_empty() || next.starts_with("\n\n### ")) {
            return None;
        }
        out.push(Section {
            header: header.to_string(),
            body: body.to_string(),
            fixed: header.contains(" (lines ") || header.contains(" (reduced to "),
        });
        rest = next;
    }
    Some(out)
}

/// Every file of a framed context text reduced; `None` when the text is not framed. What the
/// retry after a backend's "context exceeded" sends, and what the benchmark times.
pub fn reduce_all(files: &str) -> Option<String> {
    let sections: Vec<Section> = sections(files)?
        .into_iter()
        .map(|s| s.reduced().unwrap_or(s))
        .collect();
    Some(render(&sections))
}

pub(crate) fn render(sections: &[Section]) -> String {
    let mut out = String::new();
    for s in sections {
        s.render(&mut out);
    }
    out
}

/// The first lines of a file, with what was left out said at the end.
pub(crate) fn head(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines().take(HEAD_LINES) {
        if out.len() + line.len() > HEAD_CHARS {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    if out.is_empty() {
        // One very long line (minified JSON): its start.
        out = text.chars().take(HEAD_CHARS).collect();
        out.push('\n');
    }
    out.push('…');
    out
}

/// The outline of code in `lang`: every multi-line function or method body replaced by `{ … }`
/// (or `...` in an indented language, after a Python docstring). `None` without a grammar.
pub fn outline(lang: Lang, text: &str) -> Option<String> {
    let grammar = syntax::grammar(lang, text)?;
    let mut parser = Parser::new();
    parser.set_language(&grammar).ok()?;
    let tree = parser.parse(text, None)?;
    let mut cuts: Vec<(usize, usize, String)> = Vec::new();
    let mut cursor = tree.walk();
    'walk: loop {
        let node = cursor.node();
        let mut descend = true;
        if is_function(node.kind())
            && let Some(body) = node.child_by_field_name("body")
            && body.start_position().row < body.end_position().row
        {
            cuts.push(elide(body, text));
            descend = false;
        }
        if descend && cursor.goto_first_child() {
            continue;
        }
        while !cursor.goto_next_sibling() {
            if !cursor.goto_parent() {
                break 'walk;
            }
        }
    }
    let mut out = String::with_capacity(text.len() / 2);
    let mut at = 0;
    for (start, end, with) in cuts {
        if start < at {
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(&with);
        at = end;
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// A node that has a body of code: a function, method, constructor, lambda or closure (and not a
/// call of one, its type or its signature).
fn is_function(kind: &str) -> bool {
    let named = [
        "function",
        "method",
        "constructor",
        "lambda",
        "closure",
        "func_literal",
    ]
    .iter()
    .any(|w| kind.contains(w));
    let not = [
        "call",
        "type",
        "signature",
        "invocation",
        "reference",
        "declarator",
    ]
    .iter()
    .any(|w| kind.contains(w));
    named && !not
}

/// The byte range of a body to leave out and what stands for it.
fn elide(body: Node<'_>, text: &str) -> (usize, usize, String) {
    let (start, end) = (body.start_byte(), body.end_byte());
    if text[start..].starts_with('{') {
        return (start, end, "{ … }".to_string());
    }
    let indent = " ".repeat(body.start_position().column);
    // A Python docstring says what the function does: keep it.
    let mut cursor = body.walk();
    let first = body.named_children(&mut cursor).next();
    if let Some(first) = first
        && first.kind() == "expression_statement"
        && first.named_child(0).is_some_and(|c| c.kind() == "string")
    {
        if first.end_byte() >= end {
            return (end, end, String::new());
        }
        return (first.end_byte(), end, format!("\n{indent}..."));
    }
    (start, end, "...".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_python_outline_keeps_signatures_fields_and_docstrings() {
        let src = "import os\n\nclass A:\n    x: int = 1\n\n    def f(self, a: int) -> int:\n        \"\"\"Adds one.\"\"\"\n        b = a + 1\n        return b\n\n    def g(self):\n        y = 2\n        return y\n\ndef h():\n    return 3\n";
        let o = outline(Lang::Python, src).unwrap();
        assert_eq!(
            o,
            "import os\n\nclass A:\n    x: int = 1\n\n    def f(self, a: int) -> int:\n        \"\"\"Adds one.\"\"\"\n        ...\n\n    def g(self):\n        ...\n\ndef h():\n    return 3\n"
        );
    }

    #[test]
    fn a_brace_language_outline_keeps_types_and_drops_bodies() {
        let src = "pub struct P { x: i32 }\n\nimpl P {\n    /// Doubles.\n    pub fn double(&self) -> i32 {\n        let y = self.x;\n        y * 2\n    }\n}\n";
        let o = outline(Lang::Rust, src).unwrap();
        assert_eq!(
            o,
            "pub struct P { x: i32 }\n\nimpl P {\n    /// Doubles.\n    pub fn double(&self) -> i32 { … }\n}\n"
        );
        let ts = "export interface I { a: number }\nexport function f(i: I): number {\n  const b = i.a;\n  return b;\n}\n";
        let o = outline(Lang::TypeScript, ts).unwrap();
        assert!(o.contains("export interface I { a: number }"), "{o}");
        assert!(o.contains("export function f(i: I): number { … }"), "{o}");
        assert!(!o.contains("const b"), "{o}");
    }

    #[test]
    fn sections_round_trip_and_ranges_are_fixed() {
        let files = "\n\n### a.py\n```\ndef f():\n    pass\n```\n\n### b.txt (lines 1-2)\n````\nx ``` y\n````\n\n### e\n```\n\n```";
        let s = sections(files).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].body, "def f():\n    pass");
        assert!(!s[0].fixed);
        assert!(s[1].fixed);
        assert_eq!(s[1].body, "x ``` y");
        assert_eq!(s[2].body, "");
        assert_eq!(render(&s), files);
        assert_eq!(sections("not framed"), None);
        assert_eq!(sections(""), Some(vec![]));
    }

    #[test]
    fn data_keeps_its_head_and_says_so() {
        let body: String = (0..100).map(|i| format!("row{i},1\n")).collect();
        let s = Section {
            header: "d.csv".into(),
            body,
            fixed: false,
        };
        let r = s.reduced().unwrap();
        assert!(r.header.contains("first 30 of 100 lines"), "{}", r.header);
        assert!(r.header.contains("d.csv:START-END"), "{}", r.header);
        assert!(r.body.starts_with("row0,1\n") && r.body.ends_with('…'));
        assert!(r.reduced().is_none());
    }
}
