//! Why a delegation failed, in the words the planner and `usage.jsonl` both read: a fixed reason
//! and one line of detail, rendered as `DELEGATION_FAILED (<reason>): …`.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Unreachable,
    Timeout,
    HttpError,
    ModelMissing,
    Truncated,
    Empty,
    InvalidOutput,
    ContextTooLarge,
    TooLarge,
    Cancelled,
    BadRequest,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unreachable => "unreachable",
            Reason::Timeout => "timeout",
            Reason::HttpError => "http_error",
            Reason::ModelMissing => "model_missing",
            Reason::Truncated => "truncated",
            Reason::Empty => "empty",
            Reason::InvalidOutput => "invalid_output",
            Reason::ContextTooLarge => "context_too_large",
            Reason::TooLarge => "too_large",
            Reason::Cancelled => "cancelled",
            Reason::BadRequest => "bad_request",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest detail line; a backend's error body can be anything, and the planner pays for it.
const MAX_DETAIL_CHARS: usize = 300;

#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub reason: Reason,
    pub detail: String,
}

impl Failure {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Failure {
        Failure {
            reason,
            detail: one_line(&detail.into(), MAX_DETAIL_CHARS),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DELEGATION_FAILED ({}): {}\nDo this task yourself.",
            self.reason, self.detail
        )
    }
}

/// Folds whitespace runs (newlines included) to one space and cuts at `max` characters.
pub(crate) fn one_line(s: &str, max: usize) -> String {
    let folded = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.chars().count() <= max {
        return folded;
    }
    let mut cut: String = folded.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_reason_detail_and_instruction() {
        let f = Failure::new(Reason::Timeout, "no first token\nwithin 300 s");
        assert_eq!(
            f.to_string(),
            "DELEGATION_FAILED (timeout): no first token within 300 s\nDo this task yourself."
        );
    }

    #[test]
    fn detail_is_bounded() {
        let f = Failure::new(Reason::HttpError, "x".repeat(10_000));
        assert!(f.detail.chars().count() <= MAX_DETAIL_CHARS);
        assert!(f.to_string().len() < 400);
    }
}
