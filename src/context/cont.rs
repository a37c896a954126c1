//! A code answer cut at the token limit (`finish_reason: length`) is continued rather than sent back
//! to the planner: the model gets its partial answer back and a turn asking for the rest from
//! the exact point it stopped, the parts are joined without repeating the seam, and the joined
//! answer is then cleaned and checked as any other. At most `LOCAL_EXECUTOR_CONTINUATIONS` times,
//! and only while the window has room for the prompt, the answer so far and the next part.
//!
//! The mechanism is a user turn, not an assistant prefill: llama.cpp's server continues a
//! trailing assistant message, but llama-cpp-python and Ollama's OpenAI endpoint answer it as a
//! new turn, and vLLM needs its own `continue_final_message` flag; a turn works on all of them.

use super::{DEFAULT_ANSWER_ROOM, estimate_messages};
use crate::check::Language;
use crate::engine::Engine;
use crate::engine::generate::{Call, Generation};
use crate::engine::prompt::{self, Message};
use crate::failure::Failure;
use crate::request::CodeRequest;
use crate::usage::UsageRecord;

/// Lines of the cut answer quoted in the continuation turn.
const TAIL_LINES: usize = 3;
/// Characters of those lines, at most.
const TAIL_CHARS: usize = 400;
/// The shortest repeat at the seam that is taken for one; shorter coincidences are kept.
const MIN_OVERLAP: usize = 8;
/// The longest repeat at the seam looked for.
const MAX_OVERLAP: usize = 2000;

impl Engine {
    /// `g` continued while it was cut at the token limit and the window has room; returns the
    /// joined generation (still `length` when the continuations ran out).
    pub(crate) async fn continue_cut(
        &self,
        mut g: Generation,
        messages: &[Message],
        req: &CodeRequest,
        language: Option<&Language>,
        call: &Call<'_>,
        record: &mut UsageRecord,
    ) -> Result<Generation, Failure> {
        let (tier, max_tokens) = (req.tier, req.max_tokens);
        // Code is continued; a call without a language (a one-token probe, free text) is not.
        let mut left = if language.is_some() {
            self.cfg.continuations
        } else {
            0
        };
        while left > 0 && g.finish_reason.as_deref() == Some("length") {
            let answer = without_think(&g.content);
            if answer.trim().is_empty() {
                break;
            }
            let window = self.window(tier, call.model, true).await;
            let room = u64::from(
                max_tokens
                    .unwrap_or(DEFAULT_ANSWER_ROOM)
                    .min(window.tokens / 2)
                    .max(1),
            );
            let turn = continuation(messages, answer);
            if estimate_messages(&turn) + room > u64::from(window.tokens) {
                break;
            }
            left -= 1;
            record.continued += 1;
            crate::engine::report(
                call.progress,
                format!("continuing the cut answer ({})", record.continued),
            );
            let body = prompt::body(&self.cfg, call.model, &turn, max_tokens);
            let next = self
                .generate(&body, prompt::chars(&turn), call, record)
                .await?;
            let joined = join(answer, &next.content);
            g = Generation {
                content: joined,
                finish_reason: next.finish_reason,
                completion_tokens: g.completion_tokens + next.completion_tokens,
                thought_chars: g.thought_chars + next.thought_chars,
            };
        }
        Ok(g)
    }
}

/// The answer without a leading `<think>` block, which is not part of it.
fn without_think(content: &str) -> &str {
    let Some(thought) = content.trim_start().strip_prefix("<think>") else {
        return content;
    };
    // An unclosed block is all thought: there is no answer to continue.
    thought
        .split_once("</think>")
        .map_or("", |(_, after)| after.trim_start_matches('\n'))
}

/// The conversation, the cut answer, and the turn asking for the rest.
fn continuation(messages: &[Message], answer: &str) -> Vec<Message> {
    let lines: Vec<&str> = answer.lines().collect();
    let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    let start = tail.len().saturating_sub(TAIL_CHARS);
    let start = (start..=tail.len())
        .find(|i| tail.is_char_boundary(*i))
        .unwrap_or(0);
    let mut turn = messages.to_vec();
    turn.push(Message {
        role: "assistant",
        content: answer.to_string(),
    });
    turn.push(Message {
        role: "user",
        content: format!(
            "Your answer was cut off at the token limit. Continue it exactly where it stopped: reply \
with the rest only, starting with the characters that come right after its last ones, without \
repeating anything, without explanation or fences. It ended with:\n{}",
            &tail[start..]
        ),
    });
    turn
}

/// The cut answer and its continuation as one, without the fence a model opens its part with
/// and without the stretch it repeated from the end of the cut answer.
pub(crate) fn join(first: &str, next: &str) -> String {
    let mut next = next;
    if let Some(rest) = next.trim_start().strip_prefix("```") {
        // An opening fence line (```python) is a wrapper, not part of the artifact.
        next = rest.split_once('\n').map_or("", |(_, body)| body);
        if let Some(body) = next.trim_end().strip_suffix("```") {
            next = body;
        }
    }
    let max = first.len().min(next.len()).min(MAX_OVERLAP);
    let overlap = (MIN_OVERLAP..=max)
        .rev()
        .filter(|k| next.is_char_boundary(*k) && first.is_char_boundary(first.len() - k))
        .find(|k| first.ends_with(&next[..*k]))
        .unwrap_or(0);
    format!("{first}{}", &next[overlap..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seam_is_not_repeated() {
        assert_eq!(
            join(
                "def f(a, b):\n    return a +",
                "    return a + b\n\nprint(f(1, 2))\n"
            ),
            "def f(a, b):\n    return a + b\n\nprint(f(1, 2))\n"
        );
        assert_eq!(join("x = [1,", " 2]\n"), "x = [1, 2]\n");
        assert_eq!(
            join("def f():\n", "```python\n    return 1\n```\n"),
            "def f():\n    return 1\n"
        );
        // A short coincidence is the code, not a repeat.
        assert_eq!(join("a = 1\n", "a = 2\n"), "a = 1\na = 2\n");
        assert_eq!(join("é", "éé"), "ééé");
    }

    #[test]
    fn the_turn_quotes_the_tail_and_a_think_block_is_not_the_answer() {
        let m = continuation(&[], "l1\nl2\nl3\nl4");
        assert_eq!(m[0].content, "l1\nl2\nl3\nl4");
        assert!(m[1].content.ends_with("ended with:\nl2\nl3\nl4"));
        assert_eq!(without_think("<think>hm</think>\ncode"), "code");
        assert_eq!(without_think("code"), "code");
        assert_eq!(without_think("<think>still thinking"), "");
    }
}
