//! Pure text work on what the model wrote: drop think blocks, a markdown fence that wraps the
//! whole answer and a chatter line before it, end with one line ending; then check the artifact
//! parses for its language. A fence that does not wrap everything is content, and nothing here
//! alters the inside of the artifact. [`Think`] is the one reader of think tags: cleaning, edits
//! and the stream's collector all ask it where the thinking ends.

const FENCE_MIN: usize = 3;

/// Cleans a model's raw content into the artifact. The result is empty or ends in exactly one
/// line ending: `\r\n` when the artifact's lines end so, else `\n`.
pub(crate) fn clean(raw: &str, language: Option<&str>) -> String {
    let text = strip_think(raw);
    // Split on '\n' alone so a CRLF artifact keeps its '\r's.
    let lines: Vec<&str> = text.split('\n').collect();
    let body = trim_blank(&lines);
    if body.is_empty() {
        return String::new();
    }
    let format = Format::of(language);
    // A chatter line goes only when a fence follows it: then the fence shows where the artifact
    // starts. In prose, and before unfenced text, it may be the artifact's own first line.
    let body = match body.split_first() {
        Some((first, rest)) if !format.prose && is_chatter(first) => {
            let rest = trim_blank(rest);
            let fenced = rest.first().is_some_and(|l| fence(l, format).is_some())
                && (unfence(rest, format).is_some() || lone_fence(rest, format).is_some());
            if fenced { rest } else { body }
        }
        _ => body,
    };
    let kept = unfence(body, format)
        .or_else(|| lone_fence(body, format))
        .map_or(body, trim_blank);
    crate::text::end_new(&kept.join("\n"))
}

/// The inside of a Markdown fence that wraps the whole of `text` (blank lines around it allowed,
/// and a chatter line before it where [`clean`] drops one), with the fence's opening line;
/// `None` when no fence wraps it all. Lines keep their `\r`. For a whole-file edit, where
/// nothing else of [`clean`] applies.
pub(crate) fn unwrap_fence<'a>(text: &'a str, language: Option<&str>) -> Option<(&'a str, String)> {
    let format = Format::of(language);
    let mut lines: Vec<&'a str> = text.split('\n').collect();
    let first = lines.iter().position(|l| !l.trim().is_empty())?;
    if !format.prose && is_chatter(lines[first]) {
        lines.drain(..=first);
    }
    let open = *lines.iter().find(|l| !l.trim().is_empty())?;
    let inner = unfence(trim_blank(&lines), format)?;
    Some((open, inner.join("\n")))
}

/// What cleaning needs to know of the expected format.
#[derive(Clone, Copy)]
struct Format {
    /// Markdown, reStructuredText or plain text: a first line that reads like chatter and a lone
    /// fence line may be the artifact's own.
    prose: bool,
    /// Whether `~~~` opens a fence: not in reStructuredText or plain text, where a run of tildes
    /// underlines a title.
    tildes: bool,
}

impl Format {
    fn of(language: Option<&str>) -> Format {
        let lang = language.map(|l| l.trim().to_ascii_lowercase());
        let lang = lang.as_deref();
        let markdown = matches!(lang, Some("markdown" | "md"));
        let plain = matches!(
            lang,
            Some("rst" | "restructuredtext" | "text" | "txt" | "plaintext" | "plain")
        );
        Format {
            prose: markdown || plain,
            tildes: !plain,
        }
    }
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

const THINK_OPEN: &str = "<think>";
const THINK_CLOSE: &str = "</think>";

/// Drops the thinking before a model's answer (see [`Think`]); empty when the model was still
/// thinking when it stopped.
pub(crate) fn strip_think(raw: &str) -> &str {
    Think::new(usize::MAX).answer_of(raw)
}

/// Whether a whole answer is all thinking: a leading `<think>` block that never closed.
pub(crate) fn still_thinking(raw: &str) -> bool {
    let mut t = Think::new(usize::MAX);
    t.advance(raw, true);
    t.is_open()
}

/// Where a model's thinking ends in its content: the one reader of think tags, used on a whole
/// answer by cleaning and edits, and on a growing stream by the generation's collector.
///
/// Thinking is a `<think>…</think>` block at the start (blank lines around it allowed), and the
/// text before a closing tag with no opening one (Qwen3's template ends the prompt with
/// `<think>`, so the answer starts inside the block), repeated until the text starts with
/// neither. A closing tag counts only where it starts or ends its line, as models write it, and
/// only before the first opening tag past the leading blocks: a `</think>` inside a line of code
/// is the artifact's own. `closes` bounds how many closing tags may end thinking, for a file
/// being edited that holds such tags itself.
#[derive(Debug, Clone)]
pub(crate) struct Think {
    /// Byte where the answer starts: after the last thinking found so far.
    start: usize,
    phase: Phase,
    closes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// At `start`: an opening tag may follow.
    Head,
    /// Inside a leading block; its closing tag is searched from this byte on.
    Open { from: usize },
    /// In the answer; a closing tag without an opening one is searched from this byte on.
    Body { from: usize },
    /// Nothing more can end thinking.
    Done,
}

impl Think {
    pub(crate) fn new(closes: usize) -> Think {
        Think {
            start: 0,
            phase: if closes == 0 {
                Phase::Done
            } else {
                Phase::Head
            },
            closes,
        }
    }

    /// Reads `text` as far as it decides anything. `text` only ever grows between calls (a
    /// stream): what was read is not read again.
    pub(crate) fn scan(&mut self, text: &str) {
        self.advance(text, false);
    }

    /// The answer of a whole text: what follows the thinking, empty while a block is open.
    pub(crate) fn answer_of(mut self, text: &str) -> &str {
        self.advance(text, true);
        if self.is_open() {
            ""
        } else {
            &text[self.start..]
        }
    }

    /// Whether a leading block is open (the model is, or stopped, thinking).
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open { .. })
    }

    /// Bytes before which thinking has ended: what comes after counts as the answer (or, while
    /// a block is open, as unfinished thinking that may still be the answer's size).
    pub(crate) fn answer_start(&self) -> usize {
        self.start
    }

    fn advance(&mut self, text: &str, whole: bool) {
        loop {
            match self.phase {
                Phase::Done => return,
                Phase::Head => {
                    let head = text[self.start..].trim_start();
                    if head.starts_with(THINK_OPEN) {
                        self.phase = Phase::Open {
                            from: text.len() - head.len() + THINK_OPEN.len(),
                        };
                    } else if !whole && THINK_OPEN.starts_with(head) {
                        return;
                    } else {
                        self.phase = Phase::Body { from: self.start };
                    }
                }
                Phase::Open { from } => match text[from..].find(THINK_CLOSE) {
                    Some(at) => self.end_at(from + at + THINK_CLOSE.len()),
                    None => {
                        self.phase = Phase::Open {
                            from: back_off(text, from),
                        };
                        return;
                    }
                },
                Phase::Body { from } => {
                    let rest = &text[from..];
                    let close = rest.find(THINK_CLOSE);
                    match (rest.find(THINK_OPEN), close) {
                        (Some(o), c) if c.is_none_or(|c| o < c) => self.phase = Phase::Done,
                        (Some(_), None) => self.phase = Phase::Done,
                        (_, Some(c)) => {
                            let at = from + c;
                            let end = at + THINK_CLOSE.len();
                            let before = text[self.start..at].rsplit('\n').next().unwrap_or("");
                            let after = &text[end..];
                            let (line, ended) = match after.find('\n') {
                                Some(n) => (&after[..n], true),
                                None => (after, whole),
                            };
                            if before.trim().is_empty() || (ended && line.trim().is_empty()) {
                                self.end_at(end);
                            } else if !ended && line.trim().is_empty() {
                                // Its line is not finished yet: wait for the rest.
                                self.phase = Phase::Body { from: at };
                                return;
                            } else {
                                self.phase = Phase::Body { from: end };
                            }
                        }
                        (None, None) if whole => self.phase = Phase::Done,
                        (None, None) => {
                            self.phase = Phase::Body {
                                from: back_off(text, from),
                            };
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Thinking ends at `end`; one fewer closing tag may end it again.
    fn end_at(&mut self, end: usize) {
        self.start = end;
        self.closes -= 1;
        self.phase = if self.closes == 0 {
            Phase::Done
        } else {
            Phase::Head
        };
    }
}

/// Where to search again for a tag in a text that will grow: just before its end, where a tag
/// split across two events may have started, and never before `from`.
fn back_off(text: &str, from: usize) -> usize {
    let mut at = text.len().saturating_sub(THINK_CLOSE.len() - 1).max(from);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at.max(from)
}

/// A fence line: three or more backticks or tildes, then an info string (`python`), empty when
/// the line is bare.
#[derive(Clone, Copy)]
struct Fence<'a> {
    ch: char,
    len: usize,
    info: &'a str,
}

impl Fence<'_> {
    /// Whether this line closes a block opened by `open`: bare, of the same character, at least
    /// as long.
    fn closes(&self, open: &Fence<'_>) -> bool {
        self.info.is_empty() && self.ch == open.ch && self.len >= open.len
    }
}

fn fence(line: &str, format: Format) -> Option<Fence<'_>> {
    let t = line.trim();
    let ch = t.chars().next().filter(|&c| c == '`' || c == '~')?;
    if ch == '~' && !format.tildes {
        return None;
    }
    let len = t.chars().take_while(|&c| c == ch).count();
    // Backticks in a backtick line's info string make it inline code, not a fence (CommonMark).
    let info = t[len..].trim();
    (len >= FENCE_MIN && !(ch == '`' && info.contains('`'))).then_some(Fence { ch, len, info })
}

/// The lines inside a fence that wraps the whole of `body`: it opens on the first line, closes on
/// the last, and every fence in between pairs up. A line with an info string opens an inner
/// block, a bare one closes it; a bare line that could close the wrapper before the last line
/// means the first block ended there and the text goes on, so nothing is unwrapped.
fn unfence<'a>(body: &'a [&'a str], format: Format) -> Option<&'a [&'a str]> {
    let (first, last) = (body.first()?, body.last()?);
    if body.len() < 2 {
        return None;
    }
    let open = fence(first, format)?;
    if !fence(last, format)?.closes(&open) {
        return None;
    }
    let inner = &body[1..body.len() - 1];
    let mut blocks: Vec<Fence<'_>> = Vec::new();
    for f in inner.iter().filter_map(|l| fence(l, format)) {
        match blocks.last() {
            Some(top) if f.closes(top) => {
                blocks.pop();
            }
            Some(_) if !f.info.is_empty() => blocks.push(f),
            // Inside an inner block, any other fence line is its content.
            Some(_) => {}
            None if f.closes(&open) => return None,
            // A shorter run of the wrapper's character opens a block even when bare (```` around
            // ```); a bare run of the other character (an underline) is content.
            None if !f.info.is_empty() || f.ch == open.ch => blocks.push(f),
            None => {}
        }
    }
    blocks.is_empty().then_some(inner)
}

/// The half of a wrapping fence that small models write alone: an opening line never closed, or
/// a closing line never opened. Only a backtick fence, only when it is the one fence line in the
/// text, and never in prose, where a lone fence or an underline is the artifact's own.
fn lone_fence<'a>(body: &'a [&'a str], format: Format) -> Option<&'a [&'a str]> {
    let any_fence = Format {
        tildes: true,
        ..format
    };
    if format.prose
        || body.len() < 2
        || body
            .iter()
            .filter(|l| fence(l, any_fence).is_some())
            .count()
            != 1
    {
        return None;
    }
    let is_backtick = |l: &str| fence(l, format).is_some_and(|f| f.ch == '`');
    if is_backtick(body[0]) {
        return Some(&body[1..]);
    }
    let last = body[body.len() - 1];
    (is_backtick(last) && fence(last, format).is_some_and(|f| f.info.is_empty()))
        .then(|| &body[..body.len() - 1])
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
    fn a_fence_followed_by_prose_is_content() {
        // A document that opens with a code block keeps the prose after it, whatever the format.
        let raw = "```sh\nmake\n```\nThen open the page.";
        for lang in [None, Some("markdown"), Some("text"), Some("sh")] {
            assert_eq!(clean(raw, lang), format!("{raw}\n"), "{lang:?}");
        }
        let raw = "```js\nexport const a = 1;\n```\nThis exports a constant.";
        assert_eq!(clean(raw, Some("javascript")), format!("{raw}\n"));
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
        // Without a fence after it, nothing shows where an artifact would start.
        let raw = "Here is it:\nx = 1\n";
        assert_eq!(clean(raw, None), raw);
        assert_eq!(clean("Here is it:\n```\nx = 1\n```", None), "x = 1\n");
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
    fn a_lone_fence_or_underline_in_prose_is_kept() {
        for lang in ["rst", "text", "txt", "markdown", "md"] {
            for raw in [
                "Title\n~~~~~\n",
                "Title\n`````\n",
                "Notes\n```\n",
                "```\nnotes\n",
            ] {
                assert_eq!(clean(raw, Some(lang)), raw, "{lang}");
            }
        }
        // A run of tildes alone is an underline far more often than half a fence.
        assert_eq!(clean("Title\n~~~~~\n", None), "Title\n~~~~~\n");
        assert_eq!(clean("Title\n~~~~~\n", Some("python")), "Title\n~~~~~\n");
    }

    #[test]
    fn an_rst_title_between_tilde_lines_comes_back_whole() {
        let raw = "~~~~~\nTitle\n~~~~~\n\nThe text.\n";
        for lang in [None, Some("rst"), Some("text")] {
            assert_eq!(clean(raw, lang), raw, "{lang:?}");
        }
        // In reStructuredText tildes never fence, even around the whole text.
        let raw = "~~~~~\nTitle\n~~~~~\n";
        assert_eq!(clean(raw, Some("rst")), raw);
        // A backtick wrapper around such a document goes; the underlines stay.
        let doc = "Title\n~~~~~\n\nText.\n\nPart\n~~~~\n\nMore.";
        assert_eq!(
            clean(&format!("```rst\n{doc}\n```"), Some("rst")),
            format!("{doc}\n")
        );
        assert_eq!(clean(&format!("```\n{doc}\n```"), None), format!("{doc}\n"));
    }

    #[test]
    fn a_wrapper_around_inner_fences_loses_only_itself() {
        let md = "# Usage\n\n```sh\nrun it\n```\n\n~~~\nplain\n~~~\n\nDone.";
        for (open, close) in [
            ("```markdown", "```"),
            ("````markdown", "````"),
            ("~~~~", "~~~~"),
        ] {
            let raw = format!("Here is the README:\n{open}\n{md}\n{close}\n");
            assert_eq!(clean(&raw, None), format!("{md}\n"), "{open}");
            let raw = format!("{open}\n{md}\n{close}\n");
            assert_eq!(clean(&raw, Some("markdown")), format!("{md}\n"), "{open}");
        }
        // ```` around bare ``` blocks: the shorter runs pair among themselves.
        let md = "# T\n```\nx\n```\ntext";
        assert_eq!(
            clean(&format!("````\n{md}\n````"), Some("md")),
            format!("{md}\n")
        );
        // A docstring with an example, nested one level deeper.
        let py = "def f():\n    \"\"\"Example:\n\n    ```python\n    f()\n    ```\n    \"\"\"";
        assert_eq!(
            clean(&format!("```python\n{py}\n```"), Some("python")),
            format!("{py}\n")
        );
    }

    #[test]
    fn fences_that_do_not_pair_up_are_content() {
        for raw in [
            // An inner block never closed before the wrapper's last line.
            "````\n```python\nx = 1\n````",
            // The first block closes on its first bare line; the last one opens a new block.
            "```\na\n```\nprose\n```\nb\n```",
            // A bare inner block in a wrapper of the same length closes the wrapper.
            "```markdown\n# T\n```\ncode\n```\n```",
            // A closing line with an info string closes nothing.
            "```\nx = 1\n```python",
        ] {
            assert_eq!(clean(raw, None), format!("{raw}\n"), "{raw:?}");
        }
    }

    #[test]
    fn chatter_stays_in_prose_and_before_unfenced_text() {
        let md = "The following variables are supported:\n\n- `HOME`: the state folder\n";
        for lang in ["markdown", "md", "rst", "text", "txt"] {
            assert_eq!(clean(md, Some(lang)), md, "{lang}");
            let fenced = "Here is the file:\n```\nbody\n```\n";
            assert_eq!(clean(fenced, Some(lang)), fenced, "{lang}");
        }
        assert_eq!(clean(md, None), md);
        assert_eq!(
            clean("Sure! Here it is:\n\nx = 1", None),
            "Sure! Here it is:\n\nx = 1\n"
        );
        // Code after it: the chatter goes only with the fence that marks the artifact.
        let raw = "Here is the code:\n```python\nx = 1\n```\n";
        assert_eq!(clean(raw, Some("python")), "x = 1\n");
        assert_eq!(
            clean("Here is the code:\n```python\nx = 1\n", Some("python")),
            "x = 1\n"
        );
    }

    #[test]
    fn a_crlf_artifact_keeps_its_last_line_ending() {
        let bat = "@echo off\r\necho hi\r\n";
        assert_eq!(clean(bat, None), bat);
        assert_eq!(clean("@echo off\r\necho hi", None), bat);
        assert_eq!(
            clean("```bat\r\n@echo off\r\necho hi\r\n```\r\n", None),
            bat
        );
        assert_eq!(
            clean("a,b\r\n1,2\r\n\r\n\r\n", Some("csv")),
            "a,b\r\n1,2\r\n"
        );
        assert_eq!(clean("x = 1\n", None), "x = 1\n");
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
            Just(Some("rst".to_string())),
            Just(Some("text".to_string())),
        ]
    }

    fn prose_language() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just("markdown"),
            Just("md"),
            Just("rst"),
            Just("text"),
            Just("txt")
        ]
    }

    fn is_fence_line(line: &str) -> bool {
        let any = Format {
            prose: false,
            tildes: true,
        };
        fence(line, any).is_some()
    }

    /// What `clean` returns for text it must leave alone: the same lines without blank ones at
    /// either end and without trailing whitespace, then one `\n` (for LF text).
    fn whole(raw: &str) -> String {
        let lines: Vec<&str> = raw.split('\n').collect();
        let out = trim_blank(&lines).join("\n");
        let out = out.trim_end();
        if out.is_empty() {
            String::new()
        } else {
            format!("{out}\n")
        }
    }

    /// Markdown with fenced blocks inside: prose lines first and last, blocks with an info
    /// string (or bare, when `bare_ok`) in between.
    fn markdown_with_blocks(bare_ok: bool) -> impl Strategy<Value = String> {
        let prose = "[A-Za-z#*-]([a-z ,.:]{0,20}[a-z.])?";
        let info = if bare_ok {
            prop_oneof![Just(""), Just("python"), Just("sh")].boxed()
        } else {
            prop_oneof![Just("python"), Just("sh")].boxed()
        };
        let block = (info, proptest::collection::vec("[a-z_ =()0-9]{1,12}", 0..4)).prop_map(
            |(info, code)| {
                let mut b = format!("```{info}\n");
                for line in code {
                    b.push_str(&line);
                    b.push('\n');
                }
                b.push_str("```");
                b
            },
        );
        (
            prose,
            proptest::collection::vec((block, prose, any::<bool>()), 0..4),
        )
            .prop_map(|(first, parts)| {
                let mut md = first;
                for (block, prose, blank) in parts {
                    md.push_str(if blank { "\n\n" } else { "\n" });
                    md.push_str(&block);
                    md.push('\n');
                    md.push_str(&prose);
                }
                md
            })
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
            || is_fence_line(first)
            || is_fence_line(last)
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
            let _ = crate::check::data::validate(&out, lang.as_deref());
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
            lang in prop_oneof![Just(None), Just(Some("python")), Just(Some("typescript"))],
            crlf in any::<bool>(),
        ) {
            let a = if crlf { a.replace('\n', "\r\n") } else { a };
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut raw = String::new();
            if think {
                raw.push_str("<think>plan</think>\n");
            }
            if chatter {
                raw.push_str("Here is the code:\n");
            }
            raw.push_str(&format!("{fence}{info}{eol}{a}{eol}{fence}{eol}"));
            prop_assert_eq!(clean(&raw, lang), format!("{a}{eol}"));
            prop_assert_eq!(clean(&format!("{a}{eol}"), lang), format!("{a}{eol}"));
        }

        #[test]
        fn text_that_a_fence_does_not_wrap_comes_back_whole(
            lines in proptest::collection::vec(model_line(), 2..14),
            lang in language(),
        ) {
            let raw = lines.join("\n");
            let last = lines.iter().rev().find(|l| !l.trim().is_empty());
            prop_assume!(!raw.contains("think>"));
            prop_assume!(lines.iter().filter(|l| is_fence_line(l)).count() >= 2);
            prop_assume!(last.is_some_and(|l| !is_fence_line(l)));
            prop_assert_eq!(clean(&raw, lang.as_deref()), whole(&raw));
        }

        #[test]
        fn prose_comes_back_whole_after_a_chatter_line(
            chatter in prop_oneof![
                Just("The following variables are supported:"),
                Just("Here is the list:"),
                Just("Sure, this is the plan."),
            ],
            lines in proptest::collection::vec(model_line(), 0..10),
            lang in prose_language(),
        ) {
            let raw = format!("{chatter}\n{}", lines.join("\n"));
            prop_assume!(!raw.contains("think>"));
            prop_assert_eq!(clean(&raw, Some(lang)), whole(&raw));
        }

        #[test]
        fn a_wrapper_around_balanced_blocks_is_all_that_goes(
            (md, wrapper) in prop_oneof![
                markdown_with_blocks(true).prop_map(|md| (md, "````")),
                markdown_with_blocks(false).prop_map(|md| (md, "```")),
            ],
            info in prop_oneof![Just(""), Just("markdown"), Just("md")],
            lang in prop_oneof![Just(None), Just(Some("markdown"))],
        ) {
            let raw = format!("{wrapper}{info}\n{md}\n{wrapper}\n");
            prop_assert_eq!(clean(&raw, lang), format!("{md}\n"));
            prop_assert_eq!(clean(&format!("{md}\n"), lang), format!("{md}\n"));
        }
    }

    #[test]
    fn props_helpers_agree_with_the_examples() {
        assert_eq!(whole("\n a \n\n"), " a\n");
        assert!(is_fence_line("~~~") && is_fence_line("```py") && !is_fence_line("``x``"));
    }

    // Found by clean_is_idempotent_on_its_own_output: the chatter line is dropped but the blank
    // line after it stays, so the fence below is no longer the first line and is kept.
    #[test]
    fn chatter_then_a_blank_line_then_a_fence_is_unfenced() {
        let raw = "Here is the code:\n\n```python\nx = 1\n```\n";
        assert_eq!(clean(raw, Some("python")), "x = 1\n");
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
            "@echo off\r\necho hi\r\n"
        );
    }
}
