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

/// Longest checker message sent back to the model: the first lines say what is wrong.
const MAX_REPAIR_NOTE_CHARS: usize = 1500;

/// The conversation so far plus the model's answer and what the check found, asking for the
/// whole corrected artifact.
pub(crate) fn repair(mut so_far: Vec<Message>, answer: &str, problem: &str) -> Vec<Message> {
    let problem: String = problem.chars().take(MAX_REPAIR_NOTE_CHARS).collect();
    so_far.push(Message::new("assistant", answer.to_string()));
    so_far.push(Message::new(
        "user",
        format!(
            "A check of your answer failed:\n{}\n\nReply with the whole corrected artifact only, \
no explanation.",
            problem.trim_end()
        ),
    ));
    so_far
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
        );
        assert_eq!(m.len(), 4);
        assert_eq!(m[2].role, "assistant");
        assert_eq!(m[2].content, "def f(:\n");
        assert!(m[3].content.contains("line 1, col 7: missing ')'"));
        assert!(m[3].content.contains("whole corrected artifact"));
    }

    #[test]
    fn a_shape_note_names_what_was_found_and_asks_for_the_code_alone() {
        let note = shape_note("a markdown fence line (```python)");
        assert!(note.contains("a markdown fence line (```python)"), "{note}");
        assert!(note.ends_with("reply with only the code, no fences, no explanation."));
    }

    #[test]
    fn a_long_checker_message_is_cut() {
        let m = repair(vec![], "x", &"e".repeat(10_000));
        assert!(m[1].content.len() < MAX_REPAIR_NOTE_CHARS + 200);
    }
}
