//! Symbol-level edits: the model rewrites the functions, methods and classes it changes, each
//! whole, and nothing else of the file; the server finds each by its tree-sitter node in the file
//! and splices it in, every other byte of the file untouched. A small model that cannot write
//! SEARCH/REPLACE blocks writes a function well, and the answer carries only what changed.
//!
//! How an answer's definitions land (Python, JavaScript, TypeScript):
//! - A top-level definition whose name a top-level definition of the file has replaces that one
//!   (with its decorators, and its leading comments when the answer gives some); a definition of
//!   another kind under that name (a function for a class) is refused.
//! - A function the file has no top-level definition of, but exactly one class has as a method,
//!   replaces that method, re-indented to its place. A method name several classes have is
//!   refused as ambiguous: the answer must hold it inside its class.
//! - A class of the file that the answer gives with all its methods replaces the class whole. A
//!   class given with only some of its methods is a frame: each method replaces the method of that
//!   name, and a new one goes after the method it follows in the answer (else after the class's
//!   last); any other line of such a frame must be one of the class's own.
//! - A new top-level function or class goes after the file's last top-level definition; a new
//!   function whose first parameter is `self` or `cls` is a method without its class, refused.
//! - An import the file lacks goes after its last import. Any other top-level line of the answer
//!   must be a line of the file (an unchanged echo, ignored); a top-level variable the file has
//!   (`NAME = …`, `const NAME = …`) is replaced like a definition.
//! - An answer that does not parse, holds no definition, or defines one name twice is refused with
//!   a repair turn that says so; its thinking goes first, so a definition drafted inside
//!   `<think>` is never applied.
//!
//! Lines the answer adds keep the file's line endings and indentation style ([`crate::text`]).

use std::collections::HashMap;

use tree_sitter::Node;

use crate::check::{Lang, syntax};
use crate::edit::{EditError, Problem};
use crate::text::{self, Doc, Indent};

/// The languages whose definitions an edit can splice.
pub(crate) fn supported(lang: Lang) -> bool {
    matches!(
        lang,
        Lang::Python | Lang::JavaScript | Lang::TypeScript | Lang::Tsx
    )
}

/// The system-prompt fragment that asks for symbol edits, with one tiny example in the file's
/// language.
pub(crate) fn instructions(lang: Option<Lang>) -> String {
    let (class, example) = match lang {
        Some(Lang::JavaScript | Lang::TypeScript | Lang::Tsx) => (
            "`class Name {` with only that method in it, and `}`",
            "Example, making greet shout:\nfunction greet(name) {\n  return \"HELLO \" + name;\n}",
        ),
        _ => (
            "`class Name:` with only that method under it",
            "Example, giving greet a docstring:\ndef greet(name):\n    \"\"\"Say hello.\"\"\"\n    return \"hello \" + name",
        ),
    };
    format!(
        "Reply with the complete new code of each function, method or class you change or add, \
each one whole from its first line to its last, and nothing else of the file. A method goes \
inside its class line ({class}). No explanation, no markdown fences.\n{example}"
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Function,
    Class,
    /// A type, interface or enum declaration (TypeScript).
    Type,
    /// A top-level variable: `NAME = …`, `const NAME = …`.
    Var,
    Import,
    /// A comment on its own.
    Comment,
    /// Any other statement.
    Other,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Function => "a function",
            Kind::Class => "a class",
            Kind::Type => "a type",
            Kind::Var => "a variable",
            _ => "a statement",
        }
    }
}

/// One top-level item or class member, by rows (0-based, inclusive).
#[derive(Debug, Clone)]
struct Item {
    kind: Kind,
    name: String,
    /// First row of the comments right above it (no blank line between), else `start`.
    lead: usize,
    /// First row of the node, decorators and `export` included.
    start: usize,
    /// Row of the definition proper, after its decorators.
    inner: usize,
    /// What stands before the definition on its row: `export `, `export default `.
    prefix: String,
    end: usize,
    /// The node's text, for comparing an echoed statement.
    text: String,
    /// A class's methods.
    members: Vec<Item>,
    /// A class's other body lines (fields, docstring), trimmed.
    body_other: Vec<String>,
    /// A function whose first parameter is `self` or `cls`.
    method_like: bool,
}

/// The items of a parsed text.
fn items(lang: Lang, text: &str) -> Result<Vec<Item>, String> {
    let grammar = syntax::grammar(lang, text).ok_or("no grammar")?;
    let mut parser = tree_sitter::Parser::new();
    parser.set_language(&grammar).map_err(|e| e.to_string())?;
    let tree = parser.parse(text, None).ok_or("the parse was stopped")?;
    Ok(children(lang, tree.root_node(), text, true))
}

fn children(lang: Lang, parent: Node<'_>, text: &str, top: bool) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::new();
    let mut comments: Option<(usize, usize)> = None;
    let mut cursor = parent.walk();
    for node in parent.named_children(&mut cursor) {
        let kind_name = node.kind();
        if kind_name == "comment" {
            let (s, e) = (node.start_position().row, node.end_position().row);
            comments = match comments {
                Some((cs, ce)) if ce + 1 >= s => Some((cs, e)),
                _ => Some((s, e)),
            };
            continue;
        }
        let mut item = item(lang, node, text, top);
        if let Some((cs, ce)) = comments.take()
            && ce + 1 == item.start
        {
            item.lead = cs;
        }
        out.push(item);
    }
    out
}

fn node_text<'t>(node: Node<'_>, text: &'t str) -> &'t str {
    &text[node.byte_range()]
}

fn field_text(node: Node<'_>, field: &str, text: &str) -> Option<String> {
    node.child_by_field_name(field)
        .map(|n| node_text(n, text).to_string())
}

/// One node as an item: what it defines, under which name.
fn item(lang: Lang, node: Node<'_>, text: &str, top: bool) -> Item {
    let start = node.start_position().row;
    let end = node.end_position().row;
    let mut it = Item {
        kind: Kind::Other,
        name: String::new(),
        lead: start,
        start,
        inner: start,
        prefix: String::new(),
        end,
        text: node_text(node, text).trim().to_string(),
        members: Vec::new(),
        body_other: Vec::new(),
        method_like: false,
    };
    // The definition inside a wrapper: a decorated Python definition, an `export` statement.
    let inner = match node.kind() {
        "decorated_definition" => node.child_by_field_name("definition"),
        "export_statement" => node.child_by_field_name("declaration"),
        _ => Some(node),
    };
    let Some(def) = inner else {
        return it;
    };
    it.inner = def.start_position().row;
    if it.inner == start {
        it.prefix = text[node.start_byte()..def.start_byte()].to_string();
    }
    match def.kind() {
        "function_definition"
        | "function_declaration"
        | "generator_function_declaration"
        | "method_definition" => {
            it.kind = Kind::Function;
            it.name = field_text(def, "name", text).unwrap_or_default();
            it.method_like = lang == Lang::Python
                && def
                    .child_by_field_name("parameters")
                    .and_then(|p| p.named_child(0))
                    .is_some_and(|p| matches!(node_text(p, text), "self" | "cls"));
        }
        "class_definition" | "class_declaration" | "abstract_class_declaration" => {
            it.kind = Kind::Class;
            it.name = field_text(def, "name", text).unwrap_or_default();
            if let Some(body) = def.child_by_field_name("body") {
                for m in children(lang, body, text, false) {
                    if m.kind == Kind::Function {
                        it.members.push(m);
                    } else if m.kind != Kind::Comment {
                        it.body_other.push(m.text.clone());
                    }
                }
            }
        }
        "interface_declaration" | "type_alias_declaration" | "enum_declaration" => {
            it.kind = Kind::Type;
            it.name = field_text(def, "name", text).unwrap_or_default();
        }
        "import_statement" | "import_from_statement" | "future_import_statement" => {
            it.kind = Kind::Import;
        }
        "lexical_declaration" | "variable_declaration" if top => {
            // `const f = () => …` is a function; `const X = 3` a variable; several names, neither.
            let mut c = def.walk();
            let decls: Vec<Node<'_>> = def
                .named_children(&mut c)
                .filter(|n| n.kind() == "variable_declarator")
                .collect();
            if let [d] = decls.as_slice()
                && let Some(name) = d.child_by_field_name("name")
                && name.kind() == "identifier"
            {
                it.name = node_text(name, text).to_string();
                let value = d.child_by_field_name("value").map(|v| v.kind());
                it.kind = match value {
                    Some("arrow_function" | "function_expression" | "function") => Kind::Function,
                    _ => Kind::Var,
                };
            }
        }
        "expression_statement" if top && lang == Lang::Python => {
            if let Some(a) = def.named_child(0)
                && a.kind() == "assignment"
                && let Some(left) = a.child_by_field_name("left")
                && left.kind() == "identifier"
            {
                it.kind = Kind::Var;
                it.name = node_text(left, text).to_string();
            }
        }
        _ => {}
    }
    if it.kind != Kind::Other && it.kind != Kind::Import && it.name.is_empty() {
        it.kind = Kind::Other;
    }
    it
}

/// Word stems of a task that moves a definition's name or body elsewhere (a rename, a merge): a
/// definition the task names may then be missing from a whole-file answer.
const RENAMING_STEMS: &[&str] = &[
    "renam", "replac", "merg", "move", "split", "convert", "extract", "inlin", "combin", "refactor",
];

/// What a whole-file answer leaves out of the file's top level, as the file writes each (its first
/// line): a named definition or variable whose name no top-level item of the answer has, unless
/// the task names it and renames, merges or moves something; an import or other statement (a
/// module docstring) whose first line the answer does not hold, unless it is a docstring and the
/// task speaks of docstrings. Empty when the file or the answer does not parse. The size rule of
/// [`crate::edit`] misses this: a model that rewrites a small file from what it remembers of it
/// drops a constant and the module's docstring, and keeps the functions.
pub(crate) fn left_out(original: &str, answer: &str, lang: Lang, task: &str) -> Vec<String> {
    let (Ok(old), Ok(new)) = (items(lang, original), items(lang, answer)) else {
        return Vec::new();
    };
    let words: Vec<String> = task
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let renames = lower
        .iter()
        .any(|w| RENAMING_STEMS.iter().any(|s| w.starts_with(s)));
    let docstrings = lower.iter().any(|w| w.starts_with("docstring"));
    let names: std::collections::HashSet<&str> = new.iter().map(|i| i.name.as_str()).collect();
    let mut lost = Vec::new();
    for it in &old {
        let first = first_line(&it.text);
        let kept = match it.kind {
            Kind::Comment => true,
            Kind::Import | Kind::Other => {
                let docstring = first.starts_with(['"', '\'', '`']);
                answer.lines().any(|l| l.trim().starts_with(first.as_str()))
                    || (docstring && docstrings)
            }
            _ if it.name.is_empty() => true,
            _ => names.contains(it.name.as_str()) || (renames && words.contains(&it.name)),
        };
        if !kept {
            lost.push(first);
        }
    }
    lost
}

/// What the model is shown of a file for a symbol edit: the definitions the task names, in file
/// order, and their names. A top-level definition whose name the task has as a word is shown
/// whole; so is a class it names without naming any of its methods. A method the task names
/// (the constructor when it says "constructor" or "init") is shown inside a frame of its class:
/// the class line, the named methods, and the closing line where the language has one. `None`
/// when the task names no definition of the file: the model is shown the whole file then.
/// Measured on Qwen2.5-Coder-0.5B: shown the whole file, it wrote the whole file back unchanged;
/// shown the three functions a task named, it wrote them with the change.
pub(crate) fn excerpt(original: &str, lang: Lang, task: &str) -> Option<(String, Vec<String>)> {
    let words: std::collections::HashSet<String> = task
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    let ctor = words.iter().any(|w| {
        let w = w.to_lowercase();
        w.starts_with("constructor") || w == "init" || w == "__init__"
    });
    let named = |m: &Item| {
        words.contains(&m.name) || (ctor && matches!(m.name.as_str(), "__init__" | "constructor"))
    };
    let doc = Doc::split(original);
    let rows = doc.texts();
    let body = rows.join("\n");
    let items = items(lang, &body).ok()?;
    let slice = |from: usize, to: usize| rows[from..=to].join("\n");
    let mut parts: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for it in &items {
        match it.kind {
            Kind::Class => {
                let methods: Vec<&Item> = it.members.iter().filter(|m| named(m)).collect();
                if methods.is_empty() {
                    if words.contains(&it.name) {
                        parts.push(slice(it.lead, it.end));
                        names.push(it.name.clone());
                    }
                    continue;
                }
                let mut frame = slice(it.start, it.inner);
                for (k, m) in methods.iter().enumerate() {
                    // One blank line between methods.
                    frame.push_str(if k == 0 { "\n" } else { "\n\n" });
                    frame.push_str(&slice(m.lead, m.end));
                    names.push(format!("{}.{}", it.name, m.name));
                }
                let closing = rows[it.end].trim();
                if it.end > it.inner && (closing == "}" || closing == "};") {
                    frame.push('\n');
                    frame.push_str(rows[it.end]);
                }
                parts.push(frame);
            }
            Kind::Function | Kind::Type | Kind::Var if words.contains(&it.name) => {
                parts.push(slice(it.lead, it.end));
                names.push(it.name.clone());
            }
            _ => {}
        }
    }
    if parts.is_empty() {
        return None;
    }
    let sep = if lang == Lang::Python {
        "\n\n\n"
    } else {
        "\n\n"
    };
    Some((parts.join(sep), names))
}

/// The code of an answer: its thinking dropped, and when it holds Markdown fences, the lines of
/// every fenced block joined in order (the prose between them goes); then dedented, so a method
/// written at its class's indentation parses alone.
fn code_of(original: &str, raw: &str) -> String {
    let closes = if original.contains("</think>") {
        0
    } else {
        usize::MAX
    };
    let answer = crate::clean::Think::new(closes).answer_of(raw);
    let lines = text::lines_of(answer);
    let fence = |l: &str| {
        let t = l.trim_start();
        t.starts_with("```") || t.starts_with("~~~")
    };
    let code: Vec<String> = if lines.iter().any(|l| fence(l)) {
        let mut inside = false;
        let mut out = Vec::new();
        for l in lines {
            if fence(&l) {
                inside = !inside;
            } else if inside {
                out.push(l);
            }
        }
        out
    } else {
        lines
    };
    let cut = code
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| text::leading(l).len())
        .min()
        .unwrap_or(0);
    let mut out: Vec<&str> = code
        .iter()
        .map(|l| if l.trim().is_empty() { "" } else { &l[cut..] })
        .collect();
    while out.first().is_some_and(|l| l.is_empty()) {
        out.remove(0);
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

fn refuse(problem: Problem, message: impl Into<String>) -> EditError {
    EditError {
        problem,
        message: message.into(),
    }
}

/// One change to the file: rows `at..at+len` replaced by `lines`, re-indented from the answer's
/// `from` indentation to the file's `to`.
struct Change {
    at: usize,
    len: usize,
    lines: Vec<String>,
    from: String,
    to: String,
    /// Blank lines put before (and, when the next line is not blank, after) an inserted item.
    gap: usize,
}

/// Applies an answer of definitions to `original`, a file in `lang`.
pub(crate) fn apply_answer(original: &str, raw: &str, lang: Lang) -> Result<String, EditError> {
    let code = code_of(original, raw);
    let name = lang.name();
    if let Some(Err(syntax::Error::Invalid(m))) = syntax::check(lang, &code) {
        return Err(refuse(
            Problem::Format,
            format!(
                "your answer does not parse as {name}: {m}. Reply with each definition complete, \
from its first line to its last"
            ),
        ));
    }
    let new = items(lang, &code).map_err(|e| refuse(Problem::Format, e))?;
    let doc = Doc::split(original);
    let body = doc.texts().join("\n");
    let old = items(lang, &body).map_err(|e| refuse(Problem::Format, e))?;
    let answer_rows: Vec<&str> = code.split('\n').collect();
    let file_rows = doc.texts();
    let style = Indent::of(file_rows.iter().copied());
    let step = Indent::of(answer_rows.iter().copied());
    if !new.iter().any(|i| is_def(i.kind)) {
        return Err(refuse(
            Problem::NoBlocks,
            "your answer holds no function, method or class definition; reply with the complete \
definition of each one you change",
        ));
    }
    let new = drop_echoes(new, &old);
    twice(&new)?;
    let mut changes: Vec<Change> = Vec::new();
    let rows = |it: &Item, lead: bool| -> Vec<String> {
        let from = if lead { it.lead } else { it.start };
        answer_rows[from..=it.end]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let lead_of = |l: &str| text::leading(l).to_string();
    let last_import = old.iter().rfind(|i| i.kind == Kind::Import);
    let last_def = old.iter().rfind(|i| is_def(i.kind));
    let top_gap = gap_between(&old, &file_rows, if lang == Lang::Python { 2 } else { 1 });
    for it in &new {
        match it.kind {
            Kind::Comment => {}
            Kind::Other => {
                if !body.contains(it.text.as_str()) {
                    return Err(refuse(
                        Problem::Format,
                        format!(
                            "line {} of your answer, `{}`, is neither a definition nor a line of \
the file; reply with the changed functions, methods or classes only",
                            it.start + 1,
                            first_line(&it.text)
                        ),
                    ));
                }
            }
            Kind::Import => {
                if !old
                    .iter()
                    .any(|o| o.kind == Kind::Import && o.text == it.text)
                {
                    let at = last_import.map_or(0, |i| i.end + 1);
                    changes.push(Change {
                        at,
                        len: 0,
                        lines: rows(it, false),
                        from: String::new(),
                        to: String::new(),
                        gap: 0,
                    });
                }
            }
            Kind::Function | Kind::Class | Kind::Type | Kind::Var => {
                let found = old
                    .iter()
                    .find(|o| o.name == it.name && o.kind != Kind::Other);
                match found {
                    Some(o) if o.kind != it.kind => {
                        return Err(refuse(
                            Problem::Format,
                            format!(
                                "`{}` is {} in the file but {} in your answer; keep its kind",
                                it.name,
                                o.kind.word(),
                                it.kind.word()
                            ),
                        ));
                    }
                    Some(o) if o.kind == Kind::Class && !whole_class(o, it) => {
                        frame(o, it, &answer_rows, &file_rows, &mut changes)?;
                    }
                    Some(o) => changes.push(replace(o, it, &answer_rows, &file_rows)),
                    None if it.kind == Kind::Function => {
                        method(
                            it,
                            &old,
                            &answer_rows,
                            &file_rows,
                            &mut changes,
                            last_def,
                            top_gap,
                        )?;
                    }
                    None => {
                        let at = match it.kind {
                            Kind::Var => last_import.map_or(0, |i| i.end + 1),
                            _ => last_def.map_or(file_rows.len(), |d| d.end + 1),
                        };
                        changes.push(Change {
                            at,
                            len: 0,
                            lines: rows(it, true),
                            from: lead_of(answer_rows[it.start]),
                            to: String::new(),
                            gap: if it.kind == Kind::Var { 0 } else { top_gap },
                        });
                    }
                }
            }
        }
    }
    splice_all(doc, original, changes, style, step)
}

fn is_def(k: Kind) -> bool {
    matches!(k, Kind::Function | Kind::Class | Kind::Type)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(100).collect()
}

/// A name the answer defines twice, once as the file has it: the model echoed the definition it
/// was shown before writing it changed. The echo goes (at the top level and in each class), so
/// the changed copy is the one applied; two changed copies stay, for [`twice`] to refuse.
fn drop_echoes(new: Vec<Item>, old: &[Item]) -> Vec<Item> {
    let file_text = |name: &str| -> Vec<&str> {
        old.iter()
            .filter(|o| o.name == name)
            .map(|o| o.text.as_str())
            .chain(
                old.iter()
                    .flat_map(|c| &c.members)
                    .filter(|m| m.name == name)
                    .map(|m| m.text.as_str()),
            )
            .collect()
    };
    let keep = |list: Vec<Item>, file: &dyn Fn(&str) -> Vec<String>| -> Vec<Item> {
        let count = |name: &str| list.iter().filter(|i| i.name == name).count();
        let echoes: Vec<bool> = list
            .iter()
            .map(|i| {
                (is_def(i.kind) || i.kind == Kind::Var)
                    && count(&i.name) > 1
                    && file(&i.name).contains(&i.text)
            })
            .collect();
        list.into_iter()
            .zip(echoes)
            .filter(|(_, echo)| !echo)
            .map(|(i, _)| i)
            .collect()
    };
    let top = |name: &str| file_text(name).into_iter().map(str::to_string).collect();
    keep(new, &top)
        .into_iter()
        .map(|mut c| {
            if c.kind == Kind::Class {
                let members = std::mem::take(&mut c.members);
                c.members = keep(members, &top);
            }
            c
        })
        .collect()
}

/// Refuses an answer that defines one name twice at one level.
fn twice(new: &[Item]) -> Result<(), EditError> {
    let check = |list: &[Item]| -> Result<(), EditError> {
        let mut local: HashMap<&str, usize> = HashMap::new();
        for i in list
            .iter()
            .filter(|i| is_def(i.kind) || i.kind == Kind::Var)
        {
            if let Some(first) = local.insert(i.name.as_str(), i.start) {
                return Err(refuse(
                    Problem::Ambiguous,
                    format!(
                        "your answer defines `{}` twice (lines {} and {}); give each definition \
once, complete",
                        i.name,
                        first + 1,
                        i.start + 1
                    ),
                ));
            }
        }
        Ok(())
    };
    check(new)?;
    for c in new.iter().filter(|i| i.kind == Kind::Class) {
        check(&c.members)?;
    }
    Ok(())
}

/// Whether the answer's class holds every method of the file's: then it replaces it whole.
fn whole_class(old: &Item, new: &Item) -> bool {
    old.members
        .iter()
        .all(|m| new.members.iter().any(|n| n.name == m.name))
}

/// The blank lines between the last two top-level definitions of the file, else `default`.
fn gap_between(items: &[Item], rows: &[&str], default: usize) -> usize {
    let defs: Vec<&Item> = items.iter().filter(|i| is_def(i.kind)).collect();
    match defs.as_slice() {
        [.., a, b] if b.lead > a.end => rows[a.end + 1..b.lead]
            .iter()
            .filter(|l| l.trim().is_empty())
            .count(),
        _ => default,
    }
}

/// The changes of a class given with only some of its methods.
fn frame(
    old: &Item,
    new: &Item,
    answer: &[&str],
    file: &[&str],
    changes: &mut Vec<Change>,
) -> Result<(), EditError> {
    if let Some(extra) = new
        .body_other
        .iter()
        .find(|l| !old.body_other.iter().any(|o| o == *l))
    {
        return Err(refuse(
            Problem::Format,
            format!(
                "your `{}` leaves out methods of the file's class but changes `{}`, which is not a \
method; to change more than methods, reply with the whole class",
                new.name,
                first_line(extra)
            ),
        ));
    }
    let gap = gap_between(&old.members, file, 1);
    for (k, m) in new.members.iter().enumerate() {
        let lines: Vec<String> = answer[m.lead..=m.end]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let from = text::leading(answer[m.start]).to_string();
        match old.members.iter().find(|o| o.name == m.name) {
            Some(o) => changes.push(replace(o, m, answer, file)),
            None => {
                // After the method it follows in the answer, else after the class's last.
                let after = new.members[..k]
                    .iter()
                    .rev()
                    .find_map(|p| old.members.iter().find(|o| o.name == p.name))
                    .or(old.members.last());
                let (at, to) = match after {
                    Some(a) => (a.end + 1, text::leading(file[a.start]).to_string()),
                    None => (
                        old.end + 1,
                        format!("{}    ", text::leading(file[old.start])),
                    ),
                };
                changes.push(Change {
                    at,
                    len: 0,
                    lines,
                    from,
                    to,
                    gap,
                });
            }
        }
    }
    Ok(())
}

/// A function the file has no top-level definition of: one class's method, or a new function.
#[allow(clippy::too_many_arguments)]
fn method(
    it: &Item,
    old: &[Item],
    answer: &[&str],
    file: &[&str],
    changes: &mut Vec<Change>,
    last_def: Option<&Item>,
    top_gap: usize,
) -> Result<(), EditError> {
    let owners: Vec<(&Item, &Item)> = old
        .iter()
        .filter(|c| c.kind == Kind::Class)
        .filter_map(|c| c.members.iter().find(|m| m.name == it.name).map(|m| (c, m)))
        .collect();
    let from = text::leading(answer[it.start]).to_string();
    match owners.as_slice() {
        [(_, m)] => {
            changes.push(replace(m, it, answer, file));
            Ok(())
        }
        [] if it.method_like => {
            let classes: Vec<String> = old
                .iter()
                .filter(|c| c.kind == Kind::Class)
                .map(|c| format!("`class {}:`", c.name))
                .collect();
            Err(refuse(
                Problem::NotFound,
                format!(
                    "`{}` is a new method, but your answer does not say its class; reply with it \
inside its class line ({}) holding only the new method",
                    it.name,
                    if classes.is_empty() {
                        "the file has no class".to_string()
                    } else {
                        classes.join(" or ")
                    }
                ),
            ))
        }
        [] => {
            changes.push(Change {
                at: last_def.map_or(file.len(), |d| d.end + 1),
                len: 0,
                lines: answer[it.lead..=it.end]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                from,
                to: String::new(),
                gap: top_gap,
            });
            Ok(())
        }
        many => {
            let names: Vec<String> = many.iter().map(|(c, _)| format!("`{}`", c.name)).collect();
            Err(refuse(
                Problem::Ambiguous,
                format!(
                    "`{}` is a method of {}; reply with it inside its class line, e.g. `class {}:` \
holding only that method",
                    it.name,
                    names.join(" and "),
                    many[0].0.name
                ),
            ))
        }
    }
}

/// The change that puts the answer's `it` in place of the file's `o`. The answer's comments
/// right above it replace the file's, its decorators the file's; what it leaves out of those (or
/// an `export ` before it) stays as the file has it.
fn replace(o: &Item, it: &Item, answer: &[&str], file: &[&str]) -> Change {
    let (at, from_row) = if it.lead < it.start {
        (o.lead, it.lead)
    } else if it.inner > it.start {
        (o.start, it.start)
    } else {
        (o.inner, it.inner)
    };
    let mut lines: Vec<String> = answer[from_row..=it.end]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if it.prefix.is_empty() && !o.prefix.is_empty() && o.inner == o.start {
        let k = it.inner - from_row;
        let l = &lines[k];
        let lead = text::leading(l);
        lines[k] = format!("{lead}{}{}", o.prefix, &l[lead.len()..]);
    }
    Change {
        at,
        len: o.end + 1 - at,
        lines,
        from: text::leading(answer[it.inner]).to_string(),
        to: text::leading(file[o.inner]).to_string(),
        gap: 0,
    }
}

/// Applies the changes from the bottom up; overlapping ones are refused.
fn splice_all(
    mut doc: Doc,
    original: &str,
    mut changes: Vec<Change>,
    style: Indent,
    step: Indent,
) -> Result<String, EditError> {
    changes.sort_by_key(|c| (c.at, c.len));
    for w in changes.windows(2) {
        if w[0].len > 0 && w[0].at + w[0].len > w[1].at {
            return Err(refuse(
                Problem::Ambiguous,
                "your answer changes one part of the file twice (a class and one of its methods \
on their own); give each change once",
            ));
        }
    }
    for c in changes.into_iter().rev() {
        let mut lines: Vec<String> = c
            .lines
            .iter()
            .map(|l| reindent(l, &c.from, &c.to, style, step))
            .collect();
        if c.len == 0 && c.gap > 0 {
            // A line after it at its level (a next definition, not a class's closing brace)
            // gets the gap too.
            let next_level = doc.lines.get(c.at).is_some_and(|l| {
                !l.text.trim().is_empty()
                    && text::columns(text::leading(&l.text), TAB) >= text::columns(&c.to, TAB)
            });
            let mut with = vec![String::new(); c.gap];
            with.append(&mut lines);
            if next_level {
                with.extend(std::iter::repeat_n(String::new(), c.gap));
            }
            lines = with;
        }
        crate::edit::splice(&mut doc, c.at, c.len, lines);
    }
    let out = doc.join();
    if out == original {
        return Err(refuse(
            Problem::NoChange,
            "your definitions are the file's own, unchanged; make the change the task asks for",
        ));
    }
    Ok(out)
}

/// Columns a model's tab stands for when its indentation is measured.
const TAB: usize = 4;

/// A line of the answer moved from the answer's indentation `from` (its definition's first line)
/// to the file's `to`: what it has beyond `from` is kept, in the file's style.
fn reindent(line: &str, from: &str, to: &str, style: Indent, step: Indent) -> String {
    if line.trim().is_empty() {
        return String::new();
    }
    let lead = text::leading(line);
    let rest = &line[lead.len()..];
    let extra = text::columns(lead, TAB).saturating_sub(text::columns(from, TAB));
    let answer_step = match step {
        Indent::Tabs => TAB,
        Indent::Spaces(n) => n,
    };
    let deeper = match style {
        Indent::Tabs => format!(
            "{}{}",
            "\t".repeat(extra / answer_step),
            " ".repeat(extra % answer_step)
        ),
        Indent::Spaces(n) => " ".repeat(extra / answer_step * n + extra % answer_step),
    };
    format!("{to}{deeper}{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PY: &str = "\
import os


def add(a, b):
    return a + b


class Shop:
    \"\"\"A shop.\"\"\"

    def __init__(self, name):
        self.name = name

    def get(self, sku):
        return sku

    def total(self):
        return 0


def sub(a, b):
    return a - b


if __name__ == \"__main__\":
    print(add(1, 2))
";

    fn py(answer: &str) -> Result<String, EditError> {
        apply_answer(PY, answer, Lang::Python)
    }

    #[test]
    fn a_function_is_replaced_and_every_other_byte_kept() {
        let out = py("def add(a, b):\n    \"\"\"Sum.\"\"\"\n    return a + b\n").unwrap();
        assert_eq!(
            out,
            PY.replace("def add(a, b):\n", "def add(a, b):\n    \"\"\"Sum.\"\"\"\n")
        );
        // Fenced, with chatter, and thinking first: the same.
        let out2 = py("<think>\ndef add(a, b):\n    return 0\n</think>\nHere it is:\n```python\ndef add(a, b):\n    \"\"\"Sum.\"\"\"\n    return a + b\n```\nDone.").unwrap();
        assert_eq!(out2, out);
    }

    #[test]
    fn a_method_alone_replaces_its_class_method_reindented() {
        let out = py("def get(self, sku):\n  if not sku:\n    raise KeyError(sku)\n  return sku\n")
            .unwrap();
        assert!(
            out.contains("    def get(self, sku):\n        if not sku:\n            raise KeyError(sku)\n        return sku\n\n    def total"),
            "{out}"
        );
        // Written at its class's indentation, the same.
        let out2 = py("    def get(self, sku):\n        if not sku:\n            raise KeyError(sku)\n        return sku\n").unwrap();
        assert_eq!(out2, out);
    }

    #[test]
    fn a_class_frame_adds_a_method_after_the_one_it_follows() {
        let out = py("class Shop:\n    def get(self, sku):\n        return sku\n\n    def remove(self, sku):\n        return None\n").unwrap();
        assert_eq!(
            out,
            PY.replace(
                "        return sku\n",
                "        return sku\n\n    def remove(self, sku):\n        return None\n"
            )
        );
        // A frame that changes a field line is refused.
        let e = py("class Shop:\n    limit = 3\n\n    def get(self, sku):\n        return 1\n")
            .unwrap_err();
        assert!(
            e.message.contains("reply with the whole class"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_whole_class_replaces_the_class() {
        let answer = "class Shop:\n    \"\"\"A shop.\"\"\"\n\n    def __init__(self, name, city=\"\"):\n        self.name = name\n        self.city = city\n\n    def get(self, sku):\n        return sku\n\n    def total(self):\n        return 0\n";
        let out = py(answer).unwrap();
        assert_eq!(
            out,
            PY.replace(
                "    def __init__(self, name):\n        self.name = name\n",
                "    def __init__(self, name, city=\"\"):\n        self.name = name\n        self.city = city\n"
            )
        );
    }

    #[test]
    fn a_new_function_goes_after_the_last_definition_and_an_import_after_the_last_import() {
        let out = py("import re\n\n\ndef mul(a, b):\n    return a * b\n").unwrap();
        assert_eq!(
            out,
            PY.replace("import os\n", "import os\nimport re\n").replace(
                "    return a - b\n",
                "    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"
            )
        );
    }

    #[test]
    fn the_whole_file_back_with_one_change_is_that_change() {
        let changed = PY.replace("return a - b", "return b - a");
        assert_eq!(py(&changed).unwrap(), changed);
    }

    #[test]
    fn the_excerpt_shows_the_definitions_the_task_names() {
        let (text, names) = excerpt(PY, Lang::Python, "Give add and sub a docstring").unwrap();
        assert_eq!(
            text,
            "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b"
        );
        assert_eq!(names, ["add", "sub"]);
        // A method in its class's frame; the constructor by that word.
        let (text, names) = excerpt(
            PY,
            Lang::Python,
            "Add a field city to Shop: a constructor parameter, returned by get",
        )
        .unwrap();
        assert_eq!(
            text,
            "class Shop:\n    def __init__(self, name):\n        self.name = name\n\n    def get(self, sku):\n        return sku"
        );
        assert_eq!(names, ["Shop.__init__", "Shop.get"]);
        // A class named alone is shown whole; nothing named, nothing shown.
        let (text, _) = excerpt(PY, Lang::Python, "Add a method to Shop").unwrap();
        assert!(
            text.starts_with("class Shop:\n    \"\"\"A shop.\"\"\""),
            "{text}"
        );
        assert!(text.ends_with("        return 0"), "{text}");
        assert!(excerpt(PY, Lang::Python, "make it faster").is_none());
        // A JavaScript frame closes its class; a name shared by a function and a method
        // shows both.
        let (text, _) = excerpt(JS, Lang::JavaScript, "Make Cart.add skip null items").unwrap();
        assert_eq!(
            text,
            "// Adds two numbers.\nexport function add(a, b) {\n  return a + b;\n}\n\nclass Cart {\n  add(item) {\n    this.items.push(item);\n  }\n}"
        );
        // What the excerpt shows, answered back changed, splices into the file.
        let (text, _) = excerpt(PY, Lang::Python, "Give add and sub a docstring").unwrap();
        let answer = text.replace(
            "    return a - b",
            "    \"\"\"a - b\"\"\"\n    return a - b",
        );
        assert_eq!(
            py(&answer).unwrap(),
            PY.replace(
                "def sub(a, b):\n",
                "def sub(a, b):\n    \"\"\"a - b\"\"\"\n"
            )
        );
    }

    #[test]
    fn hostile_answers_are_refused_with_what_to_fix() {
        for (answer, problem, words) in [
            // A new method without its class.
            (
                "def remove(self, sku):\n    return sku\n",
                Problem::NotFound,
                "`class Shop:`",
            ),
            // Two changed definitions of one name.
            (
                "def add(a, b):\n    return 1\n\n\ndef add(a, b):\n    return 2\n",
                Problem::Ambiguous,
                "defines `add` twice",
            ),
            // A partial definition: cut off, or only its body.
            (
                "def add(a, b):\n    return (a +\n",
                Problem::Format,
                "does not parse as python",
            ),
            ("    return a + b + 1\n", Problem::Format, "does not parse"),
            ("    x = a + b\n", Problem::NoBlocks, "no function"),
            ("", Problem::NoBlocks, "no function, method or class"),
            // Only inside the thinking.
            (
                "<think>\ndef add(a, b):\n    return 0\n</think>\n",
                Problem::NoBlocks,
                "no function",
            ),
            // Another kind under a name of the file.
            ("class add:\n    pass\n", Problem::Format, "keep its kind"),
            // Code that is not in the file, outside any definition.
            (
                "x = compute()\nprint(x)\n\ndef add(a, b):\n    return 3\n",
                Problem::Format,
                "`print(x)`",
            ),
            // The file's own definitions, unchanged.
            (
                "def sub(a, b):\n    return a - b\n",
                Problem::NoChange,
                "unchanged",
            ),
            // A class and one of its methods on their own.
            (
                "def get(self, sku):\n    return 1\n\n\nclass Shop:\n    def get(self, sku):\n        return 2\n",
                Problem::Ambiguous,
                "changes one part of the file twice",
            ),
        ] {
            let e = py(answer).unwrap_err();
            assert_eq!(e.problem, problem, "{answer:?}: {}", e.message);
            assert!(e.message.contains(words), "{answer:?}: {}", e.message);
        }
        // A method name two classes have needs its class.
        let two = "class A:\n    def f(self):\n        return 1\n\n\nclass B:\n    def f(self):\n        return 2\n";
        let e = apply_answer(two, "def f(self):\n    return 3\n", Lang::Python).unwrap_err();
        assert_eq!(e.problem, Problem::Ambiguous);
        assert!(e.message.contains("`A` and `B`"), "{}", e.message);
        let out = apply_answer(
            two,
            "class B:\n    def f(self):\n        return 3\n",
            Lang::Python,
        )
        .unwrap();
        assert_eq!(out, two.replace("return 2", "return 3"));
    }

    #[test]
    fn an_echo_of_the_shown_definition_before_the_changed_one_is_dropped() {
        let changed = "def add(a, b):\n    \"\"\"Sum.\"\"\"\n    return a + b\n";
        let answer = format!("def add(a, b):\n    return a + b\n\n\n{changed}");
        assert_eq!(
            py(&answer).unwrap(),
            PY.replace("def add(a, b):\n", "def add(a, b):\n    \"\"\"Sum.\"\"\"\n")
        );
        // In a class frame too.
        let answer = "class Shop:\n    def get(self, sku):\n        return sku\n\n    def get(self, sku):\n        return sku * 2\n";
        assert_eq!(
            py(answer).unwrap(),
            PY.replace("        return sku\n", "        return sku * 2\n")
        );
    }

    #[test]
    fn crlf_tabs_and_decorators_are_kept() {
        let file = "import x\r\n\r\n@cache\r\ndef f(a):\r\n\tif a:\r\n\t\treturn 1\r\n\treturn 2\r\n\r\n\r\ndef g():\r\n\treturn 3\r\n";
        let out = apply_answer(
            file,
            "@cache\ndef f(a):\n    if a:\n        return 10\n    return 2\n",
            Lang::Python,
        )
        .unwrap();
        assert_eq!(out, file.replace("return 1", "return 10"));
        // Without its decorator, the definition is replaced and the decorator kept.
        let out = apply_answer(file, "def f(a):\n    return 5\n", Lang::Python).unwrap();
        assert_eq!(
            out,
            "import x\r\n\r\n@cache\r\ndef f(a):\r\n\treturn 5\r\n\r\n\r\ndef g():\r\n\treturn 3\r\n"
        );
    }

    const JS: &str = "\
import fs from \"fs\";

// Adds two numbers.
export function add(a, b) {
  return a + b;
}

export const double = (x) => x * 2;

class Cart {
  constructor() {
    this.items = [];
  }

  add(item) {
    this.items.push(item);
  }
}

module.exports = { add, double, Cart };
";

    #[test]
    fn javascript_functions_arrows_and_methods_are_spliced() {
        let js = |a: &str| apply_answer(JS, a, Lang::JavaScript);
        // A comment given with the function replaces the file's comment; none given keeps it.
        let out = js("/** Sum of a and b. */\nexport function add(a, b) {\n    return a + b;\n}\n")
            .unwrap();
        assert_eq!(
            out,
            JS.replace("// Adds two numbers.\n", "/** Sum of a and b. */\n")
        );
        // An `export` the answer leaves out stays.
        let out = js("function add(a, b) {\n  return b + a;\n}\n").unwrap();
        assert_eq!(out, JS.replace("return a + b;", "return b + a;"));
        let out = js("const double = (x) => x + x;\n").unwrap();
        assert_eq!(out, JS.replace("x * 2", "x + x"));
        // A class frame with a new method, in four-space indentation: the file's two spaces.
        let out = js("class Cart {\n    total() {\n        return this.items.length;\n    }\n}\n")
            .unwrap();
        assert!(
            out.contains("    this.items.push(item);\n  }\n\n  total() {\n    return this.items.length;\n  }\n}\n"),
            "{out}"
        );
        let e = js("function add(a, b) {\n  return a +\n").unwrap_err();
        assert_eq!(e.problem, Problem::Format);
    }

    #[test]
    fn typescript_interfaces_and_methods_are_spliced() {
        let ts = "interface User {\n  id: number;\n}\n\nexport class Repo {\n  find(id: number): User | undefined {\n    return undefined;\n  }\n}\n";
        let out = apply_answer(
            ts,
            "interface User {\n  id: number;\n  email: string;\n}\n",
            Lang::TypeScript,
        )
        .unwrap();
        assert_eq!(
            out,
            ts.replace("  id: number;\n", "  id: number;\n  email: string;\n")
        );
        let out = apply_answer(
            ts,
            "find(id: number): User | undefined {\n  return { id };\n}\n",
            Lang::TypeScript,
        );
        // A method alone does not parse as TypeScript: it must come inside its class.
        assert!(out.is_err());
        let out = apply_answer(
            ts,
            "class Repo {\n  find(id: number): User | undefined {\n    return { id };\n  }\n}\n",
            Lang::TypeScript,
        )
        .unwrap();
        assert_eq!(out, ts.replace("return undefined;", "return { id };"));
    }

    #[test]
    fn a_whole_answer_that_leaves_out_a_constant_and_the_docstring_is_caught() {
        let file = "\"\"\"A tiny shop.\"\"\"\n\nTAX = 20\n\n\ndef line_total(p, q):\n    return p * q\n\n\ndef cart_total(lines):\n    return sum(line_total(p, q) for _, p, q in lines)\n";
        let answer = "def subtotal(p, q):\n    return p * q\n\n\ndef cart_total(lines):\n    return sum(subtotal(p, q) for _, p, q in lines)\n";
        let task = "Rename the function line_total to subtotal, and its call in cart_total.";
        assert_eq!(
            left_out(file, answer, Lang::Python, task),
            ["\"\"\"A tiny shop.\"\"\"", "TAX = 20"]
        );
        // The whole file, renamed: nothing left out.
        let whole = file.replace("line_total", "subtotal");
        assert!(left_out(file, &whole, Lang::Python, task).is_empty());
    }

    #[test]
    fn a_definition_the_task_only_mentions_is_still_kept() {
        let file = "def add(a, b):\n    return a + b\n";
        let task = "Add a function sub(a, b) that returns a - b after add.";
        assert_eq!(
            left_out(
                file,
                "def sub(a, b):\n    return a - b\n",
                Lang::Python,
                task
            ),
            ["def add(a, b):"]
        );
        let both = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n";
        assert!(left_out(file, both, Lang::Python, task).is_empty());
    }

    #[test]
    fn imports_and_exports_left_out_are_named_in_typescript() {
        let file = "import { a } from \"./a\";\n\nexport const LIMIT = 3;\n\nexport function f(): number {\n  return a + LIMIT;\n}\n";
        let answer = "export function f(): number {\n  return a + LIMIT + 1;\n}\n";
        assert_eq!(
            left_out(file, answer, Lang::TypeScript, "Add one to what f returns."),
            ["import { a } from \"./a\";", "export const LIMIT = 3;"]
        );
    }
}
