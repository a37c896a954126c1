//! What the model is sent: the system and user messages of a first answer, the turn that asks
//! for a corrected one after a failed check, and the request body around them.

use serde_json::{Value, json};

use crate::config::Config;

/// One chat message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    pub role: &'static str,
    pub content: String,
}

impl Message {
    fn new(role: &'static str, content: String) -> Message {
        Message { role, content }
    }
}

/// What a first answer is asked from: the spec, its context, and the files the server read.
pub(crate) struct Spec<'a> {
    pub task: &'a str,
    pub context: Option<&'a str>,
    pub language: Option<&'a str>,
    /// Context files, already framed.
    pub files: &'a str,
}

/// The system and user messages of a first answer. What is only read comes first, each part
/// labelled so; the task comes last, where a small model still attends to it when it starts to
/// write, and when the artifact is written to a file the closing line names that file.
pub(crate) fn messages(spec: &Spec<'_>, output: Option<&str>) -> Vec<Message> {
    let lang = spec
        .language
        .map(|l| format!(" in {l}"))
        .unwrap_or_default();
    // Measured on Qwen2.5-Coder-0.5B: a system prompt that lists "no markdown fences, no
    // explanation" right after a colon gets that list back as the answer's first line.
    let system = format!(
        "You write code and text artifacts to a precise specification. Reply with the artifact{lang} \
only: no explanation, no markdown fences, no text before or after it. Follow the specification \
exactly and completely. Use the names and signatures the task gives."
    );
    let task = spec.task.trim();
    if spec.context.is_none() && spec.files.is_empty() && output.is_none() {
        return vec![
            Message::new("system", system),
            Message::new("user", task.to_string()),
        ];
    }
    let mut user = String::new();
    if !spec.files.is_empty() {
        user.push_str("Files to read (for reference; do not copy them into your answer):");
        user.push_str(spec.files);
        user.push_str("\n\n");
    }
    if let Some(ctx) = spec.context {
        user.push_str("Context (for reference; do not copy it into your answer):\n");
        user.push_str(ctx.trim_end());
        user.push_str("\n\n");
    }
    user.push_str("Task:\n");
    user.push_str(task);
    user.push_str("\n\n");
    match output {
        Some(path) => user.push_str(&format!(
            "Now write {}{lang}: reply with its complete content only.",
            path.trim()
        )),
        None => user.push_str(&format!("Reply with the new artifact{lang} only.")),
    }
    vec![Message::new("system", system), Message::new("user", user)]
}

/// The messages that ask for an edit of an existing file, in the format `instructions` teach.
pub(crate) fn edit_messages(spec: &Spec<'_>, instructions: &str, file: &str) -> Vec<Message> {
    let system = format!(
        "You change an existing file exactly as a precise specification says, and nothing else.\n{instructions}"
    );
    let mut user = spec.task.trim().to_string();
    if let Some(ctx) = spec.context {
        user.push_str("\n\nContext:\n");
        user.push_str(ctx);
    }
    if !spec.files.is_empty() {
        user.push_str("\n\nFiles to read:");
        user.push_str(spec.files);
    }
    user.push_str("\n\nThe file to change:\n");
    user.push_str(file);
    vec![Message::new("system", system), Message::new("user", user)]
}

/// The messages of a symbol edit: what is only read first, then the definitions to change
/// (`code`, framed), the task, and a closing line that names them (`names`, or the file when
/// the task named none), so a small model writes those and stops.
pub(crate) fn symbol_messages(
    spec: &Spec<'_>,
    instructions: &str,
    code: &str,
    names: &[String],
) -> Vec<Message> {
    let system = format!(
        "You change an existing file exactly as a precise specification says, and nothing else.\n{instructions}"
    );
    let mut user = String::new();
    if !spec.files.is_empty() {
        user.push_str("Files to read (for reference; do not copy them into your answer):");
        user.push_str(spec.files);
        user.push_str("\n\n");
    }
    if let Some(ctx) = spec.context {
        user.push_str("Context (for reference; do not copy it into your answer):\n");
        user.push_str(ctx.trim_end());
        user.push_str("\n\n");
    }
    user.push_str(code);
    user.push_str("\n\nTask:\n");
    user.push_str(spec.task.trim());
    user.push_str("\n\n");
    let what = match names {
        [] => "each function, method or class the task changes or adds".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    };
    user.push_str(&format!(
        "Now write the new code of {what}, each whole, with the change made (and any new one \
the task adds), nothing else."
    ));
    vec![Message::new("system", system), Message::new("user", user)]
}

/// Longest checker message sent back to the model: the first lines say what is wrong.
const MAX_REPAIR_NOTE_CHARS: usize = 1500;

/// Lines of the failing result quoted on each side of the line a check names.
const QUOTE_AROUND_LINES: usize = 2;

/// What a repair turn asks for, in the format the first answer was asked in.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Redo<'a> {
    /// The whole corrected artifact.
    Artifact,
    /// The whole corrected file (an edit asked for whole).
    File,
    /// Corrected SEARCH/REPLACE blocks, all of them again: the next answer is applied to the
    /// file as first shown. `result` is the file the blocks made, when they applied and it
    /// failed a check: the model never saw it, so its line numbers are quoted with their lines.
    Blocks { result: Option<&'a str> },
    /// The changed definitions again, all of them (the next answer is applied to the file as
    /// first shown); `result` as for blocks.
    Symbols { result: Option<&'a str> },
}

/// The conversation so far plus the model's answer and what the check found, asking for a
/// corrected answer as `redo` says.
pub(crate) fn repair(
    mut so_far: Vec<Message>,
    answer: &str,
    problem: &str,
    redo: Redo<'_>,
) -> Vec<Message> {
    let problem: String = problem.chars().take(MAX_REPAIR_NOTE_CHARS).collect();
    let problem = problem.trim_end();
    let again = "Reply with corrected SEARCH/REPLACE blocks for the file as it was shown to you, \
every change again (none of your blocks was kept), no explanation.";
    let defs = "Reply with the complete code of each function, method or class to change, every \
change again (none of your answer was kept), no explanation.";
    let text = match redo {
        Redo::Artifact => format!(
            "A check of your answer failed:\n{problem}\n\nReply with the whole corrected artifact only, \
no explanation."
        ),
        Redo::File => format!(
            "A check of your answer failed:\n{problem}\n\nReply with the complete corrected file only, \
no explanation."
        ),
        Redo::Blocks { result } => partial("blocks", "applied", result, problem, again),
        Redo::Symbols { result } => partial("definitions", "were put in", result, problem, defs),
    };
    so_far.push(Message::new("assistant", answer.to_string()));
    so_far.push(Message::new("user", text));
    so_far
}

/// The repair turn of an answer applied in parts (`what`: blocks, definitions): what could not be
/// applied, or, with `result`, the check that failed on the file they made (`landed`: how they
/// went in), quoting that file around the line named; then `reply`.
fn partial(what: &str, landed: &str, result: Option<&str>, problem: &str, reply: &str) -> String {
    let Some(result) = result else {
        return format!("Your {what} could not be applied:\n{problem}\n\n{reply}");
    };
    let quote = quote_around(result, problem)
        .map(|q| format!("\nThe file your {what} made, around that line:\n{q}\n"))
        .unwrap_or_default();
    format!(
        "Your {what} {landed}, but a check of the file they made failed:\n{problem}\n{quote}\n{reply}"
    )
}

/// The lines of `result` around the first `line N` that `problem` names, in a fence, the named
/// line marked with `>`; `None` when it names none inside the file.
fn quote_around(result: &str, problem: &str) -> Option<String> {
    let n: usize = problem.split("line ").skip(1).find_map(|rest| {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })?;
    let lines: Vec<&str> = result.lines().collect();
    let at = n.checked_sub(1).filter(|&i| i < lines.len())?;
    let (from, to) = (
        at.saturating_sub(QUOTE_AROUND_LINES),
        (at + QUOTE_AROUND_LINES + 1).min(lines.len()),
    );
    let body: Vec<String> = (from..to)
        .map(|i| format!("{}{}", if i == at { "> " } else { "  " }, lines[i]))
        .collect();
    let body = body.join("\n");
    let fence = crate::workspace::fence_for(&body);
    Some(format!("{fence}\n{body}\n{fence}"))
}

/// What a repair turn adds when the check failed on the answer's shape rather than its code:
/// `found` names the fence or explanation line ([`crate::clean::shape_fault`]).
pub(crate) fn shape_note(found: &str) -> String {
    format!(
        "Your answer has {found} where code was expected: reply with only the code, no fences, \
no explanation."
    )
}

/// The request body of a streamed chat completion.
pub(crate) fn body(
    cfg: &Config,
    model: &str,
    messages: &[Message],
    max_tokens: Option<u32>,
) -> Value {
    let mut body = json!({
        "model": model,
        "messages": messages
            .iter()
            .map(|m| json!({"role": m.role, "content": m.content}))
            .collect::<Vec<_>>(),
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if let Some(n) = max_tokens {
        body["max_tokens"] = n.into();
    }
    if let Some(t) = cfg.temperature {
        body["temperature"] = t.into();
    }
    if cfg.no_think {
        // Qwen3-style thinking models spend their budget reasoning about boilerplate; llama.cpp's
        // server, vLLM and SGLang pass these kwargs to the chat template, which then skips it.
        body["chat_template_kwargs"] = json!({"enable_thinking": false});
    }
    body
}

/// Characters of every message, for the token estimate of a backend that reports no usage.
pub(crate) fn chars(messages: &[Message]) -> usize {
    messages.iter().map(|m| m.content.chars().count()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_task_context_files_and_language() {
        let m = messages(
            &Spec {
                task: " write f ",
                context: Some("def g(): pass"),
                language: Some("python"),
                files: "\n\n### a.py\n```\nx\n```",
            },
            None,
        );
        assert!(m[0].content.contains("in python"));
        assert_eq!(
            m[1].content,
            "Files to read (for reference; do not copy them into your answer):\n\n### a.py\n```\nx\n```\n\n\
Context (for reference; do not copy it into your answer):\ndef g(): pass\n\n\
Task:\nwrite f\n\nReply with the new artifact in python only."
        );
    }

    #[test]
    fn the_file_written_and_the_files_only_read_are_unmistakable() {
        // A test file came back as a copy of the module it was to test.
        let m = messages(
            &Spec {
                task: "Write pytest tests for add in calc.py: add(2, 3) == 5.",
                context: Some("import with: from calc import add"),
                language: Some("python"),
                files: "\n\n### calc.py\n```\ndef add(a, b):\n    return a + b\n```",
            },
            Some("tests/test_calc.py"),
        );
        let user = &m[1].content;
        let at = |s: &str| user.find(s).unwrap_or_else(|| panic!("{s:?} in {user}"));
        assert!(at("do not copy") < at("### calc.py"), "{user}");
        // The task comes after what is only read, and the file to write closes the message.
        assert!(at("### calc.py") < at("Write pytest tests"), "{user}");
        assert!(
            at("from calc import add") < at("Write pytest tests"),
            "{user}"
        );
        let last = user.lines().last().unwrap_or("");
        assert!(
            last.contains("tests/test_calc.py") && last.contains("python"),
            "{last}"
        );
        assert!(
            m[0].content.contains("names and signatures"),
            "{}",
            m[0].content
        );
    }

    #[test]
    fn a_bare_task_is_sent_as_it_is() {
        let spec = Spec {
            task: " write f ",
            context: None,
            language: None,
            files: "",
        };
        assert_eq!(messages(&spec, None)[1].content, "write f");
        let m = messages(&spec, Some("f.py"));
        assert!(
            m[1].content.starts_with("Task:\nwrite f\n\n"),
            "{}",
            m[1].content
        );
        let last = m[1].content.lines().last().unwrap_or("");
        assert!(last.starts_with("Now write f.py:"), "{last}");
    }

    #[test]
    fn a_repair_turn_carries_the_answer_and_the_checkers_message() {
        let first = messages(
            &Spec {
                task: "t",
                context: None,
                language: None,
                files: "",
            },
            None,
        );
        let m = repair(
            first,
            "def f(:\n",
            "python syntax: line 1, col 7: missing ')'",
            Redo::Artifact,
        );
        assert_eq!(m.len(), 4);
        assert_eq!(m[2].role, "assistant");
        assert_eq!(m[2].content, "def f(:\n");
        assert!(m[3].content.contains("line 1, col 7: missing ')'"));
        assert!(m[3].content.contains("whole corrected artifact"));
    }

    #[test]
    fn a_symbol_edit_shows_the_code_then_the_task_and_names_what_to_write() {
        let spec = Spec {
            task: "Give add and sub a docstring.",
            context: None,
            language: Some("python"),
            files: "",
        };
        let names = vec!["add".to_string(), "sub".to_string()];
        let m = symbol_messages(&spec, "INSTR", "### m.py\n```\ndef add(): ...\n```", &names);
        assert!(m[0].content.ends_with("INSTR"));
        let user = &m[1].content;
        let at = |s: &str| user.find(s).unwrap_or_else(|| panic!("{s:?} in {user}"));
        assert!(at("def add()") < at("Give add and sub"), "{user}");
        let last = user.lines().last().unwrap_or("");
        assert!(
            last.starts_with("Now write the new code of add and sub, each whole"),
            "{last}"
        );
        let m = symbol_messages(&spec, "I", "code", &[]);
        assert!(
            m[1].content
                .contains("each function, method or class the task changes")
        );
        let m = repair(
            vec![],
            "x",
            "your answer defines `f` twice",
            Redo::Symbols { result: None },
        );
        assert!(
            m[1].content.contains("complete code of each function"),
            "{}",
            m[1].content
        );
        assert!(!m[1].content.contains("SEARCH"), "{}", m[1].content);
    }

    #[test]
    fn a_shape_note_names_what_was_found_and_asks_for_the_code_alone() {
        let note = shape_note("a markdown fence line (```python)");
        assert!(note.contains("a markdown fence line (```python)"), "{note}");
        assert!(note.ends_with("reply with only the code, no fences, no explanation."));
    }

    #[test]
    fn a_long_checker_message_is_cut() {
        let m = repair(vec![], "x", &"e".repeat(10_000), Redo::Artifact);
        assert!(m[1].content.len() < MAX_REPAIR_NOTE_CHARS + 200);
    }

    #[test]
    fn a_blocks_repair_asks_for_blocks_and_quotes_the_lines_the_model_never_saw() {
        let m = repair(
            vec![],
            "<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE",
            "block 1: SEARCH matches no lines of the file.",
            Redo::Blocks { result: None },
        );
        let ask = &m[1].content;
        assert!(ask.contains("SEARCH/REPLACE blocks"), "{ask}");
        assert!(ask.contains("every change again"), "{ask}");
        assert!(!ask.contains("whole corrected artifact"), "{ask}");
        let result = "a = 1\nb = 2\ndef f(:\n    pass\nc = 3\nd = 4\n";
        let m = repair(
            vec![],
            "blocks",
            "python syntax: line 3, col 7: missing ')'",
            Redo::Blocks {
                result: Some(result),
            },
        );
        let ask = &m[1].content;
        assert!(
            ask.contains("```\n  a = 1\n  b = 2\n> def f(:\n      pass\n  c = 3\n```"),
            "{ask}"
        );
        assert!(ask.contains("SEARCH/REPLACE blocks"), "{ask}");
        assert!(!ask.contains("whole corrected"), "{ask}");
        let m = repair(vec![], "x", "the file came back unchanged", Redo::File);
        assert!(m[1].content.contains("complete corrected file"));
    }

    #[test]
    fn a_repair_of_parts_says_what_failed_and_asks_for_every_change_again() {
        let turn = |redo| {
            repair(Vec::new(), "a", "line 2: bad", redo)[1]
                .content
                .clone()
        };
        assert!(turn(Redo::Blocks { result: None }).starts_with(
            "Your blocks could not be applied:\nline 2: bad\n\nReply with corrected SEARCH/REPLACE"
        ));
        let made = turn(Redo::Symbols {
            result: Some("x = 1\ny = (\n"),
        });
        assert!(
            made.starts_with("Your definitions were put in, but a check of the file they made failed:\nline 2: bad\n\nThe file your definitions made, around that line:\n"),
            "{made}"
        );
        assert!(
            made.ends_with("none of your answer was kept), no explanation."),
            "{made}"
        );
        assert!(
            turn(Redo::Blocks {
                result: Some("x\ny\n")
            })
            .starts_with("Your blocks applied, but a check of the file they made failed:")
        );
    }
}
