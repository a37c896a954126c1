//! Pure text work on what the model wrote: drop think blocks, one wrapping markdown fence and a
//! leading chatter line, end with one newline; then check the artifact parses for its language.
//! Nothing here alters the inside of the artifact.

const FENCE_MIN: usize = 3;

/// Cleans a model's raw content into the artifact. The result is empty or ends in exactly one `\n`.
pub(crate) fn clean(raw: &str, language: Option<&str>) -> String {
    let text = strip_think(raw);
    // Split on '\n' alone so a CRLF artifact keeps its '\r's.
    let lines: Vec<&str> = text.split('\n').collect();
    let body = trim_blank(&lines);
    if body.is_empty() {
        return String::new();
    }
    let markdown =
        language.is_some_and(|l| matches!(l.to_ascii_lowercase().as_str(), "markdown" | "md"));
    let body = if is_chatter(body[0]) && body.len() > 1 {
        trim_blank(&body[1..])
    } else {
        body
    };
    let kept = unfence(body, markdown)
        .or_else(|| lone_fence(body, markdown))
        .map_or(body, trim_blank);
    let mut out = kept.join("\n");
    let trimmed_len = out.trim_end().len();
    out.truncate(trimmed_len);
    if out.trim().is_empty() {
        return String::new();
    }
    out.push('\n');
    out
}

/// The lines without blank ones at either end.
fn trim_blank<'a>(lines: &'a [&'a str]) -> &'a [&'a str] {
    let Some(first) = lines.iter().position(|l| !l.trim().is_empty()) else {
        return &[];
    };
    let last = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .unwrap_or(first);
    &lines[first..=last]
}

/// Drops leading `<think>…</think>` blocks (one left unclosed means there is no artifact), and
/// the tail of a think block whose opening tag was in the prompt (Qwen3's template ends the
/// prompt with `<think>`), until the text starts with neither.
fn strip_think(raw: &str) -> &str {
    let mut rest = raw;
    loop {
        // Only a closing tag that starts or ends its line, as models write it; a `</think>`
        // inside a line of code is the artifact's own.
        let first_open = rest.find("<think>").unwrap_or(rest.len());
        let orphan_close = rest[..first_open]
            .match_indices("</think>")
            .map(|(i, _)| i)
            .filter(|&i| {
                let before = rest[..i].rsplit('\n').next().unwrap_or("");
                let after = rest[i + "</think>".len()..]
                    .split('\n')
                    .next()
                    .unwrap_or("");
                before.trim().is_empty() || after.trim().is_empty()
            })
            .last();
        if let Some(close) = orphan_close {
            rest = &rest[close + "</think>".len()..];
            continue;
        }
        let Some(after_open) = rest.trim_start().strip_prefix("<think>") else {
            return rest;
        };
        match after_open.find("</think>") {
            Some(close) => rest = &after_open[close + "</think>".len()..],
            // The model was still thinking when it stopped.
            None => return "",
        }
    }
}

fn fence_len(line: &str) -> usize {
    let t = line.trim_start();
    ['`', '~']
        .iter()
        .map(|&c| t.chars().take_while(|&x| x == c).count())
        .find(|&n| n >= FENCE_MIN)
        .unwrap_or(0)
}

fn is_closing(line: &str, open: usize, fence_char: char) -> bool {
    let t = line.trim();
    t.len() >= open && t.chars().all(|c| c == fence_char)
}

/// The lines inside one wrapping fence, if `body` opens with one. Prose after the closing fence
/// is dropped too, unless more fences follow or the artifact is itself markdown.
fn unfence<'a>(body: &'a [&'a str], markdown: bool) -> Option<&'a [&'a str]> {
    let open = fence_len(body.first()?);
    if open < FENCE_MIN {
        return None;
    }
    let fence_char = body[0].trim_start().chars().next()?;
    let close = body
        .iter()
        .skip(1)
        .position(|l| is_closing(l, open, fence_char))?
        + 1;
    let after = &body[close + 1..];
    let nothing_after = after.iter().all(|l| l.trim().is_empty());
    if !nothing_after && (markdown || after.iter().any(|l| fence_len(l) >= FENCE_MIN)) {
        return None;
    }
    Some(&body[1..close])
}

/// The half of a wrapping fence that small models write alone: an opening line never closed, or
/// a closing line never opened. Only when it is the one fence line in the text.
fn lone_fence<'a>(body: &'a [&'a str], markdown: bool) -> Option<&'a [&'a str]> {
    if markdown || body.len() < 2 || body.iter().filter(|l| fence_len(l) >= FENCE_MIN).count() != 1
    {
        return None;
    }
    if fence_len(body[0]) >= FENCE_MIN {
        return Some(&body[1..]);
    }
    let last = body[body.len() - 1].trim();
    let fence_char = last.chars().next()?;
    is_closing(last, FENCE_MIN, fence_char).then(|| &body[..body.len() - 1])
}

const CHATTER_OPENINGS: &[&str] = &[
    "here is",
    "here's",
    "here are",
    "sure",
    "certainly",
    "of course",
    "below is",
    "the following",
    "this is the",
    "okay",
    "ok,",
    "as requested",
    "i've written",
    "i have written",
];

fn is_chatter(line: &str) -> bool {
    let t = line.trim();
    let lower = t.to_ascii_lowercase();
    t.len() < 160
        && t.contains(' ')
        && CHATTER_OPENINGS.iter().any(|p| lower.starts_with(p))
        && (t.ends_with(':') || t.ends_with('!') || t.ends_with('.'))
}

// The engine still calls `clean::validate`; the parse checks now live in `check::data`.
pub(crate) use crate::check::data::validate;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_think_fence_and_chatter() {
        let raw =
            "<think>plan it</think>\nHere is the code:\n```python\ndef f():\n    return 1\n```\n";
        assert_eq!(clean(raw, Some("python")), "def f():\n    return 1\n");
    }

    #[test]
    fn strips_an_unclosed_leading_think_tail() {
        assert_eq!(clean("reasoning...</think>\n\nx = 1", None), "x = 1\n");
        assert_eq!(clean("<think>still going and then cut", None), "");
    }

    #[test]
    fn keeps_a_closing_think_tag_inside_a_line_of_code() {
        let raw = "x = \"</think>\"\ny = 1\n";
        assert_eq!(clean(raw, Some("python")), raw);
    }

    #[test]
    fn keeps_a_think_tag_inside_the_artifact() {
        let raw = "s = \"<think>\"\nt = \"</think>\"\n";
        // The closing tag comes after an opening one, so nothing is dropped.
        assert_eq!(clean(raw, None), raw);
    }

    #[test]
    fn strips_exactly_one_fence() {
        let raw = "````markdown\n# Title\n```rust\nfn main() {}\n```\n````";
        assert_eq!(
            clean(raw, Some("markdown")),
            "# Title\n```rust\nfn main() {}\n```\n"
        );
    }

    #[test]
    fn leaves_unfenced_text_alone() {
        let raw = "\n\n    indented = True\nprint(indented)\n\n\n";
        assert_eq!(clean(raw, None), "    indented = True\nprint(indented)\n");
    }

    #[test]
    fn drops_prose_after_a_single_fenced_block() {
        let raw = "```js\nexport const a = 1;\n```\nThis exports a constant.";
        assert_eq!(clean(raw, Some("javascript")), "export const a = 1;\n");
    }

    #[test]
    fn keeps_several_fenced_blocks_whole() {
        let raw = "```js\na\n```\ntext\n```js\nb\n```";
        assert_eq!(clean(raw, None), format!("{raw}\n"));
    }

    #[test]
    fn code_lines_are_not_chatter() {
        assert!(!is_chatter("class Foo:"));
        assert!(!is_chatter("here:"));
        assert!(is_chatter("Sure! Here's the function you asked for:"));
        let raw = "Here is it:\nx = 1\n";
        assert_eq!(clean(raw, None), "x = 1\n");
    }

    #[test]
    fn a_lone_half_fence_is_dropped() {
        let closing_only = "def add(a, b):\n    return a + b\n```\n";
        assert_eq!(
            clean(closing_only, Some("python")),
            "def add(a, b):\n    return a + b\n"
        );
        let opening_only = "```python\ndef add(a, b):\n    return a + b\n";
        assert_eq!(
            clean(opening_only, Some("python")),
            "def add(a, b):\n    return a + b\n"
        );
        // In markdown a lone fence may be the artifact's own.
        let md = "# T\n```\n";
        assert_eq!(clean(md, Some("markdown")), md);
    }

    #[test]
    fn tilde_fences_work_too() {
        assert_eq!(clean("~~~\nplain\n~~~", None), "plain\n");
    }

    #[test]
    fn single_line_chatter_is_kept_as_the_artifact() {
        assert_eq!(clean("Sure, done.", None), "Sure, done.\n");
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// Lines a model plausibly writes: code, blank lines, fences, and arbitrary characters.
    fn model_line() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[a-z_ ]{0,8}[(){}=;:.,'\"a-z0-9 ]{0,16}",
            1 => Just(String::new()),
            1 => "[ \t]{1,4}",
            1 => prop_oneof![Just("```"), Just("```python"), Just("````"), Just("~~~"), Just("  ```")]
                .prop_map(String::from),
            1 => "[^\r]{0,10}",
        ]
    }

    /// A model's answer: maybe a think block and a chatter line, then lines, LF or CRLF.
    fn model_text(think_anywhere: bool) -> impl Strategy<Value = String> {
        let extra = if think_anywhere {
            prop_oneof![Just("<think>"), Just("</think>"), Just("Here is the code:")].boxed()
        } else {
            Just("x").boxed()
        };
        (
            proptest::collection::vec(
                prop_oneof![6 => model_line(), 1 => extra.prop_map(String::from)],
                0..14,
            ),
            prop_oneof![
                Just(""),
                Just("<think>plan</think>\n"),
                Just("done.</think>\n")
            ],
            prop_oneof![
                Just(""),
                Just("Here is the code:\n"),
                Just("Sure! Here it is:\n")
            ],
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(lines, think, chatter, crlf, trailing)| {
                let mut t = format!("{think}{chatter}");
                t.push_str(&lines.join(if crlf { "\r\n" } else { "\n" }));
                if trailing {
                    t.push('\n');
                }
                t
            })
    }

    fn language() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            Just(None),
            Just(Some("python".to_string())),
            Just(Some("markdown".to_string())),
            Just(Some("json".to_string())),
        ]
    }

    /// An artifact that needs no cleaning: no fence or think tag, no leading chatter, its first
    /// and last lines not blank, no trailing whitespace at its end.
    fn artifact() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            "[ ]{0,4}[a-z_(){}=;:.,'\"0-9][a-z_(){}=;:.,'\"0-9 ]{0,20}",
            1..10,
        )
        .prop_map(|lines| lines.join("\n").trim_end().to_string())
        .prop_filter("no leading chatter", |a| {
            !is_chatter(a.lines().next().unwrap_or(""))
        })
    }

    /// Outputs that cleaning again would rightly change: `clean` strips exactly one fence (or a
    /// lone half of one at either end), one chatter line and the think blocks before the
    /// artifact, so an artifact that itself opens or ends with one of those is cleaned once more.
    fn cleans_again_by_design(out: &str) -> bool {
        let first = out.lines().next().unwrap_or("");
        let last = out.lines().last().unwrap_or("");
        (!out.is_empty() && first.trim().is_empty())
            || fence_len(first) >= FENCE_MIN
            || fence_len(last) >= FENCE_MIN
            || is_chatter(first)
            || out.contains("<think>")
            || out.contains("</think>")
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 512,
            max_global_rejects: 1 << 20,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn never_panics_and_ends_with_exactly_one_newline(
            raw in prop_oneof![model_text(true), ".{0,200}"],
            lang in language(),
        ) {
            let out = clean(&raw, lang.as_deref());
            prop_assert!(out.is_empty() || (out.ends_with('\n') && !out.ends_with("\n\n")), "{:?}", out);
            prop_assert!(out.is_empty() || !out.trim().is_empty());
            let _ = validate(&out, lang.as_deref());
        }

        #[test]
        fn clean_is_idempotent_on_its_own_output(raw in model_text(false), lang in language()) {
            let once = clean(&raw, lang.as_deref());
            prop_assume!(!cleans_again_by_design(&once));
            let twice = clean(&once, lang.as_deref());
            prop_assert_eq!(twice, once, "raw: {:?}", raw);
        }

        #[test]
        fn a_fenced_artifact_round_trips(
            a in artifact(),
            fence in prop_oneof![Just("```"), Just("````"), Just("~~~")],
            info in prop_oneof![Just(""), Just("python"), Just("ts")],
            chatter in any::<bool>(),
            think in any::<bool>(),
        ) {
            let mut raw = String::new();
            if think {
                raw.push_str("<think>plan</think>\n");
            }
            if chatter {
                raw.push_str("Here is the code:\n");
            }
            raw.push_str(&format!("{fence}{info}\n{a}\n{fence}\n"));
            prop_assert_eq!(clean(&raw, None), format!("{a}\n"));
            prop_assert_eq!(clean(&format!("{a}\n"), None), format!("{a}\n"));
        }
    }

    // Found by clean_is_idempotent_on_its_own_output: the chatter line is dropped but the blank
    // line after it stays, so the fence below is no longer the first line and is kept.
    #[test]
    fn chatter_then_a_blank_line_then_a_fence_is_unfenced() {
        let raw = "Here is the code:\n\n```python\nx = 1\n```\n";
        assert_eq!(clean(raw, Some("python")), "x = 1\n");
        assert_eq!(clean("Sure! Here it is:\n\nx = 1", None), "x = 1\n");
    }

    // Found by the same property: unfenced text loses its leading blank lines, fenced text keeps
    // them, so the output can open with "\n" and a second clean changes it.
    #[test]
    fn blank_lines_inside_the_fence_edges_are_dropped() {
        let once = clean("```python\n\nx = 1\n```", Some("python"));
        assert_eq!(once, "x = 1\n");
        assert_eq!(clean(&once, Some("python")), once);
    }

    // Found by the same property ("a\r\r\n," cleaned twice differs): `str::lines` drops the `\r`
    // of every CRLF, so a CRLF artifact (a .bat file, a Windows CSV) comes back with LF endings.
    #[test]
    fn crlf_line_endings_inside_the_artifact_are_kept() {
        assert_eq!(
            clean("@echo off\r\necho hi\r\n", None),
            "@echo off\r\necho hi\n"
        );
    }
}
