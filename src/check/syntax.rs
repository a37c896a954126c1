//! The in-process syntax check for code: a tree-sitter grammar per language parses the artifact,
//! and a tree holding an `ERROR` or `MISSING` node fails with the line, column and text of the
//! first one. Tree-sitter recovers from errors instead of stopping, so one parse finds the
//! earliest problem; a time budget bounds a pathological input.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use tree_sitter::{Node, ParseOptions, Parser, Tree, TreeCursor};

use super::Lang;

/// Longest a parse may take. A 1,000-line file parses in a few milliseconds.
const PARSE_BUDGET: Duration = Duration::from_secs(2);
/// Characters of the offending line quoted in a message.
const LINE_CHARS: usize = 120;
/// Characters of the unexpected text quoted in a message.
const TOKEN_CHARS: usize = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Error {
    /// The artifact does not parse; the message says where and why.
    Invalid(String),
    /// The parse was stopped at its time budget.
    TooSlow,
}

/// Whether a grammar parses `lang`.
pub(crate) fn has_grammar(lang: Lang) -> bool {
    grammar(lang, "").is_some()
}

/// The grammar for `lang`. PHP has two: with `<?php` tags (text around them is HTML) and
/// without, since models often leave the opening tag out. The context outline uses them too.
pub(crate) fn grammar(lang: Lang, text: &str) -> Option<tree_sitter::Language> {
    let f = match lang {
        Lang::Python => tree_sitter_python::LANGUAGE,
        Lang::JavaScript => tree_sitter_javascript::LANGUAGE,
        Lang::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT,
        Lang::Tsx => tree_sitter_typescript::LANGUAGE_TSX,
        Lang::Rust => tree_sitter_rust::LANGUAGE,
        Lang::Go => tree_sitter_go::LANGUAGE,
        Lang::Java => tree_sitter_java::LANGUAGE,
        Lang::C => tree_sitter_c::LANGUAGE,
        Lang::Cpp => tree_sitter_cpp::LANGUAGE,
        Lang::CSharp => tree_sitter_c_sharp::LANGUAGE,
        Lang::Ruby => tree_sitter_ruby::LANGUAGE,
        Lang::Php if text.contains("<?") => tree_sitter_php::LANGUAGE_PHP,
        Lang::Php => tree_sitter_php::LANGUAGE_PHP_ONLY,
        Lang::Bash => tree_sitter_bash::LANGUAGE,
        Lang::Html => tree_sitter_html::LANGUAGE,
        Lang::Css => tree_sitter_css::LANGUAGE,
        // The one maintained SQL grammar rejects common dialect syntax (PostgreSQL's
        // `ON CONFLICT`, SQLite's `AUTOINCREMENT`, `GRANT`): a check command does SQL better.
        Lang::Sql
        | Lang::Json
        | Lang::Yaml
        | Lang::Toml
        | Lang::Xml
        | Lang::Csv
        | Lang::Markdown
        | Lang::Text => return None,
    };
    Some(f.into())
}

/// Parses `text` as `lang`: `None` when no grammar knows `lang`, else whether it parses. Past
/// the grammar, the rules its language holds that the grammar does not (see `python` and
/// `rules`) fail the text too.
pub(crate) fn check(lang: Lang, text: &str) -> Option<Result<(), Error>> {
    let grammar = grammar(lang, text)?;
    let result = judge(lang, &grammar, text);
    // A `.h` header is often C++; accept what the C++ grammar parses rather than fail it.
    if lang == Lang::C && matches!(result, Err(Error::Invalid(_))) {
        let cpp = grammar_for_cpp();
        if judge(Lang::Cpp, &cpp, text).is_ok() {
            return Some(Ok(()));
        }
    }
    Some(result)
}

fn grammar_for_cpp() -> tree_sitter::Language {
    tree_sitter_cpp::LANGUAGE.into()
}

/// Where a check found the text wrong, and what it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    /// Byte offset in the text, to order findings of different passes.
    pub(crate) byte: usize,
    /// Zero-based line.
    pub(crate) row: usize,
    /// Zero-based byte column in the line.
    pub(crate) col: usize,
    pub(crate) what: String,
}

fn judge(lang: Lang, grammar: &tree_sitter::Language, text: &str) -> Result<(), Error> {
    let tree = parse(grammar, text)?;
    let root = tree.root_node();
    let found = if lang == Lang::Python {
        // CPython's tokenizer reports before its parser; here the earlier of the two in the
        // text is the one a reader fixes first.
        let indent = super::python::indentation(text);
        let parse = tree_error(root, text);
        match (indent, parse) {
            (Some(i), Some(p)) => Some(if p.byte < i.byte { p } else { i }),
            (i, p) => i.or(p),
        }
        .or_else(|| super::python::rules(root, text))
    } else {
        tree_error(root, text).or_else(|| super::rules::check(lang, root, text))
    };
    match found {
        Some(f) => Err(Error::Invalid(f.message(text))),
        None => Ok(()),
    }
}

/// Which of a grammar's node kinds are named in `names`, indexed by kind id, so that a walk asks
/// a number of each node rather than its name (a C string, measured and checked each time).
pub(crate) fn kind_set(language: &tree_sitter::Language, names: &[&str]) -> Vec<bool> {
    (0..language.node_kind_count())
        .map(|id| {
            let id = u16::try_from(id).unwrap_or(u16::MAX);
            language.node_kind_is_named(id)
                && language
                    .node_kind_for_id(id)
                    .is_some_and(|kind| names.contains(&kind))
        })
        .collect()
}

/// Whether `node`'s kind is in `set`.
pub(crate) fn is_in(set: &[bool], node: Node<'_>) -> bool {
    set.get(usize::from(node.kind_id()))
        .copied()
        .unwrap_or(false)
}

/// Visits every node in document order with one cursor, each with the context its ancestors give
/// it, until `visit` finds something. `enter(parent, cursor, context)` is the context of the
/// child the cursor is on (its field is `cursor.field_name()`). No recursion: a tree can be
/// deeper than the thread's stack.
pub(crate) fn walk<'t, C: Copy>(
    root: Node<'t>,
    top: C,
    mut enter: impl FnMut(Node<'t>, &TreeCursor<'t>, C) -> C,
    mut visit: impl FnMut(Node<'t>, C) -> Option<Finding>,
) -> Option<Finding> {
    let mut cursor = root.walk();
    let mut frames: Vec<(Node<'t>, C)> = Vec::new();
    let mut ctx = top;
    loop {
        let node = cursor.node();
        if let Some(found) = visit(node, ctx) {
            return Some(found);
        }
        if cursor.goto_first_child() {
            frames.push((node, ctx));
            ctx = enter(node, &cursor, ctx);
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                let &(parent, outer) = frames.last()?;
                ctx = enter(parent, &cursor, outer);
                break;
            }
            if !cursor.goto_parent() {
                return None;
            }
            frames.pop();
        }
    }
}

fn tree_error(root: Node<'_>, text: &str) -> Option<Finding> {
    if !root.has_error() {
        return None;
    }
    Some(match find_error(root) {
        Some(node) => describe(node, text),
        // has_error without an ERROR or MISSING node below: should not happen; say so plainly.
        None => Finding {
            byte: 0,
            row: 0,
            col: 0,
            what: "the parser reported a syntax error".into(),
        },
    })
}

fn parse(grammar: &tree_sitter::Language, text: &str) -> Result<Tree, Error> {
    let mut parser = Parser::new();
    parser
        .set_language(grammar)
        .map_err(|e| Error::Invalid(format!("the grammar cannot be loaded: {e}")))?;
    let start = Instant::now();
    let mut budget = |_: &tree_sitter::ParseState| {
        if start.elapsed() > PARSE_BUDGET {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let bytes = text.as_bytes();
    let options = ParseOptions::new().progress_callback(&mut budget);
    parser
        .parse_with_options(
            &mut |i, _| bytes.get(i..).unwrap_or_default(),
            None,
            Some(options),
        )
        // With a language set, no tree means the progress callback stopped the parse.
        .ok_or(Error::TooSlow)
}

/// The first `ERROR` or `MISSING` node in document order, found by descending into the first
/// child that holds an error, without recursion. Some grammars hide a missing token inside a
/// visible node (C#'s `identifier` over a hidden `_identifier_token`); the innermost node that
/// holds the error stands for it then. An `ERROR` node is not searched further: it starts where
/// the parser first lost its way (an unclosed `(`), which is where a reader should look.
fn find_error(root: Node<'_>) -> Option<Node<'_>> {
    let mut node = root;
    'descend: loop {
        if node.is_error() || node.is_missing() {
            return Some(node);
        }
        let mut cursor = node.walk();
        for child in node.children(&mut cursor) {
            if child.has_error() {
                node = child;
                continue 'descend;
            }
        }
        return node.has_error().then_some(node);
    }
}

/// `unexpected 'def'` or `missing ')'`, where the node starts.
fn describe(node: Node<'_>, text: &str) -> Finding {
    let pos = node.start_position();
    let what = if node.is_missing() || (node.byte_range().is_empty() && !node.is_error()) {
        format!("missing '{}'", node.kind())
    } else {
        let bad = node
            .utf8_text(text.as_bytes())
            .unwrap_or("")
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        if bad.is_empty() {
            "syntax error".to_string()
        } else {
            format!("unexpected '{}'", cut(bad, TOKEN_CHARS))
        }
    };
    Finding {
        byte: node.start_byte(),
        row: pos.row,
        col: pos.column,
        what,
    }
}

impl Finding {
    /// `line 12, col 5: unexpected 'def'`, then the line itself; the column counts characters.
    fn message(&self, text: &str) -> String {
        let line_text = text.lines().nth(self.row).unwrap_or("");
        let col = line_text
            .get(..self.col.min(line_text.len()))
            .map_or(self.col, |s| s.chars().count())
            + 1;
        let (row, what) = (self.row + 1, &self.what);
        if line_text.trim().is_empty() {
            let at_end = self.byte >= text.trim_end().len();
            let end = if at_end {
                " at the end of the file"
            } else {
                ""
            };
            return format!("line {row}, col {col}: {what}{end}");
        }
        format!(
            "line {row}, col {col}: {what}\n    {}",
            cut(line_text.trim_end(), LINE_CHARS)
        )
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails(lang: Lang, text: &str) -> String {
        match check(lang, text) {
            Some(Err(Error::Invalid(msg))) => msg,
            other => panic!("{lang:?} should fail on {text:?}, got {other:?}"),
        }
    }

    fn passes(lang: Lang, text: &str) {
        assert_eq!(check(lang, text), Some(Ok(())), "{lang:?} on {text:?}");
    }

    /// One valid and one broken snippet per language, each as a model would write it.
    const CASES: &[(Lang, &str, &str)] = &[
        (
            Lang::Python,
            "import os\n\n\ndef add(a: int, b: int) -> int:\n    \"\"\"Add.\"\"\"\n    return a + b\n\n\nclass P:\n    x: int = 0\n",
            "def add(a, b):\n    return (a + b\n\ndef sub(a, b):\n    return a - b\n",
        ),
        (
            Lang::JavaScript,
            "export function add(a, b) {\n  return a + b;\n}\nconst el = <div className=\"x\">{add(1, 2)}</div>;\n",
            "export function add(a, b) {\n  return a + ;\n}\n",
        ),
        (
            Lang::TypeScript,
            "export interface User {\n  id: number;\n  name?: string;\n}\nexport const f = <T,>(x: T): T => x;\nlet u = {} as User;\n",
            "export interface User {\n  id: number\n  name: \n}\nfunction f( {\n",
        ),
        (
            Lang::Tsx,
            "export const App = ({ n }: { n: number }) => <ul>{[n].map((i) => <li key={i}>{i}</li>)}</ul>;\n",
            "export const App = () => <ul><li></ul>;\n",
        ),
        (
            Lang::Rust,
            "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\n#[derive(Debug)]\nstruct P<'a> { s: &'a str }\n",
            "pub fn add(a: i32, b: i32) -> i32 {\n    let x = ;\n    a + b\n}\n",
        ),
        (
            Lang::Go,
            "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfor i := range 3 {\n\t\tfmt.Println(i)\n\t}\n}\n",
            "package main\n\nfunc main() {\n\tif x := 1; x > 0 {\n\t\treturn\n}\n",
        ),
        (
            Lang::Java,
            "package a;\n\npublic class A {\n    public static int add(int a, int b) { return a + b; }\n    record P(int x) {}\n}\n",
            "public class A {\n    public static int add(int a, int b) { return a + b }\n}\n",
        ),
        (
            Lang::C,
            "#include <stdio.h>\n\nstatic int add(int a, int b) { return a + b; }\n\nint main(void) {\n    printf(\"%d\\n\", add(1, 2));\n    return 0;\n}\n",
            "int main(void) {\n    int x = (1 + 2;\n    return 0;\n}\n",
        ),
        (
            Lang::Cpp,
            "#include <vector>\n\ntemplate <typename T>\nclass Stack {\n public:\n  void push(const T& v) { items_.push_back(v); }\n private:\n  std::vector<T> items_;\n};\n",
            "class Stack {\n public:\n  void push(int v) { items_.push_back(v) }\n",
        ),
        (
            Lang::CSharp,
            "namespace App;\n\npublic record User(int Id, string Name);\n\npublic static class M {\n    public static int Add(int a, int b) => a + b;\n}\n",
            "public class M {\n    public int Add(int a, int b) { return a + ; }\n}\n",
        ),
        (
            Lang::Ruby,
            "class Greeter\n  def initialize(name)\n    @name = name\n  end\n\n  def greet = \"Hello, #{@name}\"\nend\n",
            "def add(a, b)\n  (a + b\nend\n",
        ),
        (
            Lang::Php,
            "<?php\n\nnamespace App;\n\nfunction add(int $a, int $b): int {\n    return $a + $b;\n}\n",
            "<?php\nfunction add($a, $b) {\n    return $a + ;\n}\n",
        ),
        (
            Lang::Bash,
            "#!/usr/bin/env bash\nset -euo pipefail\nfor f in \"$@\"; do\n  if [[ -f $f ]]; then echo \"$f\"; fi\ndone\n",
            "for f in \"$@\"; do\n  if [ -f \"$f\" ]; then echo \"$f\"\ndone\n",
        ),
        (
            Lang::Html,
            "<!DOCTYPE html>\n<html>\n<head><title>T</title></head>\n<body><p class=\"a\">Hi<br></p></body>\n</html>\n",
            "<div class=\"a>\n<p>Hi</p>\n",
        ),
        (
            Lang::Css,
            ".a > .b:hover {\n  color: #fff;\n  margin: 0 auto;\n}\n@media (max-width: 600px) {\n  .a { display: none; }\n}\n",
            ".a {\n  color: #fff;\n  margin 0 auto;\n}}\n",
        ),
    ];

    #[test]
    fn each_language_passes_valid_code_and_fails_broken_code() {
        for (lang, valid, broken) in CASES {
            passes(*lang, valid);
            let msg = fails(*lang, broken);
            assert!(msg.starts_with("line "), "{lang:?}: {msg}");
        }
    }

    #[test]
    fn every_language_with_a_grammar_has_a_case() {
        for (lang, _) in super::super::NAMES {
            let tested = CASES.iter().any(|(l, _, _)| l == lang);
            assert_eq!(has_grammar(*lang), tested, "{lang:?}");
        }
    }

    #[test]
    fn the_message_gives_line_column_and_the_offending_line() {
        let msg = fails(Lang::Python, "x = 1\ny = [1, 2\nz = 3\n");
        let (head, line) = msg.split_once('\n').unwrap();
        assert!(head.starts_with("line 2, col "), "{msg}");
        assert_eq!(line, "    y = [1, 2");

        let msg = fails(Lang::JavaScript, "function f() {\n  return g(1, 2;\n}\n");
        assert!(msg.starts_with("line 2, col "), "{msg}");
        assert!(msg.contains("g(1, 2;"), "{msg}");
    }

    #[test]
    fn a_missing_token_is_named() {
        let msg = fails(Lang::Go, "package main\n\nfunc main() {\n\tx := f(1\n}\n");
        assert!(
            msg.contains("missing") || msg.contains("unexpected"),
            "{msg}"
        );
        let msg = fails(
            Lang::Go,
            "package main\n\nfunc main() {\n\tif true {\n\t}\n",
        );
        assert_eq!(msg, "line 6, col 1: missing '}' at the end of the file");
        let msg = fails(Lang::Rust, "fn f() { let x = 1 }\n");
        assert!(msg.contains("missing ';'"), "{msg}");
    }

    #[test]
    fn prose_is_not_code() {
        fails(
            Lang::Python,
            "Sure! Here is the function you asked for, with type hints.\n",
        );
    }

    #[test]
    fn php_without_an_opening_tag_is_parsed_as_code() {
        passes(
            Lang::Php,
            "function add($a, $b) {\n    return $a + $b;\n}\n",
        );
        fails(Lang::Php, "function add($a, $b) {\n    return $a + ;\n}\n");
    }

    #[test]
    fn a_c_header_with_cpp_in_it_passes() {
        passes(
            Lang::C,
            "#pragma once\nclass Point {\n public:\n  int x;\n};\n",
        );
    }

    #[test]
    fn non_ascii_columns_count_characters() {
        let msg = fails(Lang::Python, "s = 'é'; t = (\n");
        assert!(msg.starts_with("line 1, col "), "{msg}");
        let col: usize = msg["line 1, col ".len()..]
            .split(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(col <= "s = 'é'; t = (".chars().count() + 1, "{msg}");
    }

    #[test]
    fn empty_and_huge_inputs_end() {
        passes(Lang::Python, "");
        let deep = format!("x = {}1{}\n", "(".repeat(20_000), ")".repeat(20_000));
        assert!(check(Lang::Python, &deep).is_some());
        let garbage = "{[(<".repeat(50_000);
        assert!(check(Lang::JavaScript, &garbage).is_some());
    }

    #[test]
    fn formats_and_prose_have_no_grammar() {
        for lang in [Lang::Sql, Lang::Json, Lang::Markdown, Lang::Text] {
            assert!(!has_grammar(lang));
            assert_eq!(check(lang, "{"), None);
        }
    }
}
