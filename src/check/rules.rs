//! What a language rejects before it runs anything, though its tree-sitter grammar accepts it,
//! for the languages besides Python (which has its own room): JavaScript's early errors (a
//! `const` without a value, `break` or `continue` with no loop around them) and Go's statements
//! outside a function. The grammars accept these on purpose, to read snippets and half-written
//! code; a file the model hands over must not hold them. Rules that need names, types or scopes
//! (an undeclared variable, `break` outside a loop in C or Rust) are a compiler's work: a check
//! command does them.

use std::sync::OnceLock;

use tree_sitter::Node;

use super::Lang;
use super::syntax::{Finding, is_in, kind_set, walk};

pub(crate) fn check(lang: Lang, root: Node<'_>, text: &str) -> Option<Finding> {
    match lang {
        Lang::JavaScript | Lang::TypeScript | Lang::Tsx => script(lang, root, text),
        Lang::Go => go(root),
        _ => None,
    }
}

#[derive(Clone, Copy, Default)]
struct Context {
    /// Inside a loop, with no function in between: `continue` may appear.
    in_loop: bool,
    /// Inside a loop or a `switch`: `break` may appear.
    breakable: bool,
    /// A TypeScript declaration context (`declare …`, or an export that may be a `.d.ts`
    /// file's), where a `const` has a type and no value.
    ambient: bool,
}

fn script(lang: Lang, root: Node<'_>, text: &str) -> Option<Finding> {
    let typescript = lang != Lang::JavaScript;
    let (judged, scoping) = kinds(lang);
    walk(
        root,
        Context::default(),
        |parent, _, ctx| {
            if is_in(scoping, parent) {
                enter(parent, ctx, typescript)
            } else {
                ctx
            }
        },
        |node, ctx| {
            if is_in(judged, node) {
                judge(node, ctx, text)
            } else {
                None
            }
        },
    )
}

/// The kinds `judge` looks at, and those that give their children a new context, for the
/// grammar of `lang` (JavaScript, TypeScript or TSX; each numbers its kinds its own way).
fn kinds(lang: Lang) -> &'static (Vec<bool>, Vec<bool>) {
    type Kinds = OnceLock<(Vec<bool>, Vec<bool>)>;
    static JAVASCRIPT: Kinds = OnceLock::new();
    static TYPESCRIPT: Kinds = OnceLock::new();
    static TSX: Kinds = OnceLock::new();
    let (cell, language): (_, fn() -> tree_sitter::Language) = match lang {
        Lang::TypeScript => (&TYPESCRIPT, || {
            tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into()
        }),
        Lang::Tsx => (&TSX, || tree_sitter_typescript::LANGUAGE_TSX.into()),
        _ => (&JAVASCRIPT, || tree_sitter_javascript::LANGUAGE.into()),
    };
    cell.get_or_init(|| {
        let language = language();
        let judged = kind_set(
            &language,
            &[
                "break_statement",
                "continue_statement",
                "lexical_declaration",
            ],
        );
        let scoping = kind_set(
            &language,
            &[
                "function_declaration",
                "function_expression",
                "function",
                "generator_function",
                "generator_function_declaration",
                "arrow_function",
                "method_definition",
                "class_static_block",
                "for_statement",
                "for_in_statement",
                "while_statement",
                "do_statement",
                "switch_statement",
                "ambient_declaration",
                "export_statement",
            ],
        );
        (judged, scoping)
    })
}

fn judge(node: Node<'_>, ctx: Context, text: &str) -> Option<Finding> {
    let unlabelled = || node.child_by_field_name("label").is_none();
    match node.kind() {
        "break_statement" if !ctx.breakable && unlabelled() => Some(at(
            node,
            "illegal break statement: no loop or switch around it",
        )),
        "continue_statement" if !ctx.in_loop && unlabelled() => Some(at(
            node,
            "illegal continue statement: no surrounding iteration statement",
        )),
        "lexical_declaration" if !ctx.ambient => {
            let constant = node
                .child_by_field_name("kind")
                .is_some_and(|k| k.utf8_text(text.as_bytes()) == Ok("const"));
            let mut cursor = node.walk();
            let bare = node.named_children(&mut cursor).find(|d| {
                d.kind() == "variable_declarator" && d.child_by_field_name("value").is_none()
            });
            bare.filter(|_| constant)
                .map(|declarator| at(declarator, "missing initializer in const declaration"))
        }
        _ => None,
    }
}

/// The context of the children of `parent`, one of the scoping kinds.
fn enter(parent: Node<'_>, ctx: Context, typescript: bool) -> Context {
    match parent.kind() {
        "for_statement" | "for_in_statement" | "while_statement" | "do_statement" => Context {
            in_loop: true,
            breakable: true,
            ..ctx
        },
        "switch_statement" => Context {
            breakable: true,
            ..ctx
        },
        "ambient_declaration" if typescript => Context {
            ambient: true,
            ..ctx
        },
        // An export at the top level may be a declaration file's.
        "export_statement"
            if typescript && parent.parent().is_some_and(|p| p.parent().is_none()) =>
        {
            Context {
                ambient: true,
                ..ctx
            }
        }
        "ambient_declaration" | "export_statement" => ctx,
        // A function or a class's static block: a new body, outside every loop.
        _ => Context::default(),
    }
}

/// The Go grammar takes statements at the top level so that it can read snippets from
/// documentation. A file with a `package` clause is a whole file, and there only declarations
/// may stand outside a function.
fn go(root: Node<'_>) -> Option<Finding> {
    let mut cursor = root.walk();
    let top: Vec<Node<'_>> = root.named_children(&mut cursor).collect();
    if !top.iter().any(|n| n.kind() == "package_clause") {
        return None;
    }
    let stray = top.into_iter().find(|n| {
        !matches!(
            n.kind(),
            "package_clause"
                | "import_declaration"
                | "function_declaration"
                | "method_declaration"
                | "const_declaration"
                | "var_declaration"
                | "type_declaration"
                | "comment"
        )
    })?;
    Some(at(stray, "non-declaration statement outside function body"))
}

fn at(node: Node<'_>, what: &str) -> Finding {
    let pos = node.start_position();
    Finding {
        byte: node.start_byte(),
        row: pos.row,
        col: pos.column,
        what: what.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Lang;
    use super::super::syntax::{Error, check};

    fn fails(lang: Lang, text: &str) -> String {
        match check(lang, text) {
            Some(Err(Error::Invalid(msg))) => msg,
            other => panic!("{lang:?} should fail on {text:?}, got {other:?}"),
        }
    }

    fn passes(lang: Lang, text: &str) {
        assert_eq!(check(lang, text), Some(Ok(())), "{lang:?} on {text:?}");
    }

    const SCRIPTS: [Lang; 3] = [Lang::JavaScript, Lang::TypeScript, Lang::Tsx];

    #[test]
    fn a_const_without_a_value_fails() {
        for lang in SCRIPTS {
            let msg = fails(lang, "let a = 1;\nconst x;\n");
            assert_eq!(
                msg,
                "line 2, col 7: missing initializer in const declaration\n    const x;"
            );
            fails(lang, "const a = 1, b;\n");
            fails(lang, "for (const i; i < 3; ) {}\n");
            fails(lang, "export function f() {\n  const y;\n}\n");
        }
        fails(Lang::TypeScript, "function f() {\n  const x: number;\n}\n");
        fails(Lang::TypeScript, "const x: number;\n");
    }

    #[test]
    fn a_const_that_needs_no_value_passes() {
        for lang in SCRIPTS {
            passes(
                lang,
                "for (const x of xs) {}\nfor (const k in o) {}\nconst a = 1, b = 2;\nlet c;\nvar d;\n",
            );
        }
        passes(
            Lang::TypeScript,
            "declare const x: number;\ndeclare module \"m\" {\n  const y: number;\n}\ndeclare global {\n  const z: string;\n}\ndeclare namespace N {\n  const v: number;\n}\n",
        );
        // A declaration file's exports need no `declare`; the check does not know the file is one.
        passes(Lang::TypeScript, "export const w: number;\n");
    }

    #[test]
    fn break_and_continue_outside_a_loop_fail() {
        for lang in SCRIPTS {
            let msg = fails(lang, "let x = 1;\nbreak;\n");
            assert!(
                msg.starts_with("line 2, col 1: illegal break statement"),
                "{msg}"
            );
            fails(lang, "continue;\n");
            fails(lang, "function f() {\n  break;\n}\n");
            fails(
                lang,
                "while (x) {\n  function g() {\n    continue;\n  }\n}\n",
            );
            fails(
                lang,
                "for (;;) {\n  const f = () => {\n    break;\n  };\n}\n",
            );
            let msg = fails(lang, "switch (x) {\n  case 1:\n    continue;\n}\n");
            assert!(msg.contains("illegal continue statement"), "{msg}");
        }
    }

    #[test]
    fn break_and_continue_inside_a_loop_pass() {
        for lang in SCRIPTS {
            passes(
                lang,
                "while (x) {\n  if (a) break;\n  else continue;\n}\nswitch (x) {\n  case 1:\n    break;\n}\nouter: {\n  break outer;\n}\nfor (;;) {\n  switch (x) {\n    case 1:\n      continue;\n  }\n}\ndo {\n  break;\n} while (x);\na: for (;;) {\n  for (const y of ys) {\n    continue a;\n  }\n}\nfor (const k in o) {\n  if (k) break;\n}\n",
            );
        }
    }

    #[test]
    fn a_go_file_with_a_statement_outside_a_function_fails() {
        let msg = fails(Lang::Go, "package main\n\nx := 1\n\nfunc main() {}\n");
        assert_eq!(
            msg,
            "line 3, col 1: non-declaration statement outside function body\n    x := 1"
        );
        fails(
            Lang::Go,
            "package main\n\nimport \"fmt\"\n\nfmt.Println(1)\n",
        );
        fails(Lang::Go, "package main\n\nfor {\n}\n");
    }

    #[test]
    fn a_go_file_with_declarations_only_passes_and_a_snippet_is_read_as_one() {
        passes(
            Lang::Go,
            "package main\n\nimport \"fmt\"\n\n// A comment.\nconst c = 1\n\nvar v = 2\n\ntype T struct{}\n\nfunc (T) M() {}\n\nfunc main() {\n\tx := 1\n\tfmt.Println(x, c, v)\n}\n",
        );
        // No `package` clause: a snippet of statements, as a planner may ask for one.
        passes(Lang::Go, "x := 1\nfmt.Println(x)\n");
    }
}
