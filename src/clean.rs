//! Pure text work on what the model wrote: drop think blocks, a markdown fence that wraps the
//! whole answer and a chatter line before it, end with one line ending; then check the artifact
//! parses for its language. A fence that does not wrap everything is content, and nothing here
//! alters the inside of the artifact. [`Think`] is the one reader of think tags: cleaning, edits
//! and the stream's collector all ask it where the thinking ends.

const FENCE_MIN: usize = 3;
/// Paragraphs of prose tried as the start of a code answer's explanation.
const MAX_PROSE_CUTS: usize = 4;

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
    let kept = language
        .filter(|_| format.code)
        .and_then(|lang| code_artifact(body, format, lang))
        .or_else(|| unfence(body, format))
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
    /// A language was asked for and it is code or a data format: the artifact is the code, and
    /// the prose a model writes around it goes.
    code: bool,
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
        let document = matches!(lang, Some("asciidoc" | "adoc" | "org" | "textile"));
        Format {
            prose: markdown || plain,
            tildes: !plain,
            code: lang.is_some() && !(markdown || plain || document),
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

/// The artifact of an answer to a request for code: a fence wrapping the whole answer as
/// anywhere; else one fenced block ([`pick_block`]), prose around it dropped; else the code
/// without a paragraph of prose before or after it ([`drop_prose`]). `None` leaves the answer to
/// the document rules: an answer that does not open with a fence and parses whole is code that
/// holds fence lines of its own (in a string, a comment), and fences that give no block to take
/// are content.
fn code_artifact<'a>(body: &'a [&'a str], format: Format, lang: &str) -> Option<&'a [&'a str]> {
    if let Some(inner) = unfence(body, format) {
        return Some(inner);
    }
    let opens_with_fence = body.first().is_some_and(|l| fence(l, format).is_some());
    if !opens_with_fence && parses(lang, body) == Some(true) {
        return None;
    }
    if let Some(block) = pick_block(body, format, lang) {
        return Some(trim_blank(block));
    }
    let text = match lone_fence(body, format) {
        Some(text) => trim_blank(text),
        None if body.iter().any(|l| fence(l, format).is_some()) => return None,
        None => body,
    };
    Some(drop_prose(text, lang))
}

/// The one fenced block taken from an answer that holds several, by this rule: the first block
/// tagged with the requested language (by name, alias or a file name's extension); else the first
/// untagged block; else the only block, whatever its tag. The first, not all of them joined: the
/// blocks after it are usage, tests or shell commands far more often than the rest of the file.
/// Only closed blocks count; one left open at the end is the lone fence's case.
fn pick_block<'a>(body: &'a [&'a str], format: Format, lang: &str) -> Option<&'a [&'a str]> {
    let mut blocks: Vec<(&str, &[&str])> = Vec::new();
    let mut open: Vec<Fence<'_>> = Vec::new();
    let (mut start, mut info) = (0, "");
    for (i, line) in body.iter().enumerate() {
        let Some(f) = fence(line, format) else {
            continue;
        };
        match open.last() {
            None => {
                (start, info) = (i + 1, f.info);
                open.push(f);
            }
            Some(top) if f.closes(top) => {
                open.pop();
                if open.is_empty() && body[start..i].iter().any(|l| !l.trim().is_empty()) {
                    blocks.push((info, &body[start..i]));
                }
            }
            // As in `unfence`: a fence line with an info string inside a block opens an inner
            // one (an example in a docstring); any other is the block's content.
            Some(_) if !f.info.is_empty() => open.push(f),
            Some(_) => {}
        }
    }
    blocks
        .iter()
        .find(|(info, _)| same_language(info, lang))
        .or_else(|| blocks.iter().find(|(info, _)| info.is_empty()))
        .or_else(|| (blocks.len() == 1).then(|| &blocks[0]))
        .map(|(_, lines)| *lines)
}

/// Whether a fence's info string (`python`, `ts title="a.ts"`, `calc.py`) names `lang`.
fn same_language(info: &str, lang: &str) -> bool {
    use crate::check::Lang;
    let word = info
        .split(|c: char| c.is_whitespace() || c == ',' || c == '{')
        .next()
        .unwrap_or("");
    let word = word.rsplit_once('.').map_or(word, |(_, ext)| ext);
    if word.is_empty() {
        return false;
    }
    match (Lang::from_name(word), Lang::from_name(lang)) {
        (Some(a), Some(b)) => {
            a == b
                || matches!(
                    (a, b),
                    (Lang::Tsx, Lang::TypeScript) | (Lang::TypeScript, Lang::Tsx)
                )
        }
        _ => word.eq_ignore_ascii_case(lang.trim()),
    }
}

/// Unfenced code without the paragraph of prose a model writes after it (and the chatter one
/// before it), judged by the in-process parse: a paragraph goes, with everything after it, only
/// when it starts after a blank line with a line that reads as a sentence, and the code before it
/// parses while the code with that line does not. The line itself decides, not its paragraph: a
/// comment that reads as a sentence (`# This helper…`) parses, so broken code after it is never
/// cut away to leave a part that passes. Nothing is dropped for a language nothing parses here.
fn drop_prose<'a>(text: &'a [&'a str], lang: &str) -> &'a [&'a str] {
    if parses(lang, text) != Some(false) {
        return text;
    }
    // Each start costs two parses, so only the first few are tried: a model's explanation starts
    // right after its code.
    let starts: Vec<usize> = (1..text.len())
        .filter(|&i| text[i - 1].trim().is_empty() && reads_as_prose(text[i]))
        .take(MAX_PROSE_CUTS)
        .collect();
    let lead = text
        .iter()
        .position(|l| l.trim().is_empty())
        .filter(|_| reads_as_prose(text[0]) || is_chatter(text[0]))
        .filter(|_| parses(lang, &text[..1]) == Some(false))
        .map(|end| end + 1);
    for from in std::iter::once(0).chain(lead) {
        if from > 0 && parses(lang, trim_blank(&text[from..])) == Some(true) {
            return trim_blank(&text[from..]);
        }
        for &cut in starts.iter().filter(|&&i| i > from) {
            let head = trim_blank(&text[from..cut]);
            if !head.is_empty()
                && parses(lang, head) == Some(true)
                && parses(lang, &text[from..=cut]) == Some(false)
            {
                return head;
            }
        }
    }
    text
}

/// Whether a line reads as a sentence of explanation rather than code: not indented; after a
/// Markdown marker (`###`, `**`, `- `, `1.`), a capitalised word, then plain words — three of
/// them, or a short heading that ends with `:` ("Example usage:").
fn reads_as_prose(line: &str) -> bool {
    if line.starts_with([' ', '\t']) {
        return false;
    }
    let mut t = line.trim();
    t = t.trim_start_matches('#').trim_start();
    for marker in ["**", "- ", "* "] {
        t = t.strip_prefix(marker).unwrap_or(t).trim_start();
    }
    let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if let Some(rest) = t[digits..].strip_prefix(['.', ')']).filter(|_| digits > 0) {
        t = rest.trim_start();
    }
    let words: Vec<&str> = t.split_whitespace().collect();
    let plain = |w: &str| {
        let w = w.trim_matches('*');
        let w = w.trim_end_matches([',', '.', ':', ';', '!', '?']);
        !w.is_empty() && w.chars().all(|c| c.is_alphabetic() || "'’-".contains(c))
    };
    let Some(first) = words.first() else {
        return false;
    };
    if !first
        .trim_start_matches('*')
        .starts_with(|c: char| c.is_uppercase())
    {
        return false;
    }
    let lead = words.iter().take_while(|w| plain(w)).count();
    lead >= 3 || (lead == words.len() && words.len() <= 4 && t.ends_with([':', '*']))
}

/// Whether the lines parse as `lang` in-process; `None` when nothing here parses it.
fn parses(lang: &str, lines: &[&str]) -> Option<bool> {
    use crate::check::{Lang, data, syntax};
    let l = Lang::from_name(lang)?;
    if !(syntax::has_grammar(l) || data::is_data(l)) {
        return None;
    }
    Some(crate::check::syntax_error(l, &lines.join("\n")).is_none())
}

/// What makes a cleaned artifact the wrong shape for the code it should be, for the repair turn:
/// the first fence line, or line of explanation that does not parse alone, in an artifact of a
/// code language that fails its in-process parse (only a fence line, for a language nothing
/// parses here). `None` when the artifact parses, for a prose format, or when nothing of the kind
/// is found.
pub(crate) fn shape_fault(artifact: &str, language: Option<&str>) -> Option<String> {
    let lang = language?;
    let format = Format::of(Some(lang));
    if !format.code {
        return None;
    }
    let lines: Vec<&str> = artifact.lines().collect();
    let verdict = parses(lang, &lines);
    if verdict == Some(true) {
        return None;
    }
    let quote = |l: &str| l.trim().chars().take(60).collect::<String>();
    if let Some(l) = lines.iter().find(|l| fence(l, format).is_some()) {
        return Some(format!("a markdown fence line ({})", quote(l)));
    }
    // A line that parses alone (a comment, a YAML key) is code, however it reads.
    lines
        .iter()
        .find(|l| reads_as_prose(l) && parses(lang, &[l]) == Some(false))
        .map(|l| format!("a line of explanation ({})", quote(l)))
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
mod code_answers {
    //! How coder models answer a request for code, one shape per test: the artifact is the code.
    use super::*;

    #[test]
    fn a_python_block_then_its_explanation_is_the_block() {
        // py_parse_query, as Qwen2.5-Coder-0.5B answered it.
        let code = "def parse_query(qs: str) -> dict[str, str]:\n    if not qs:\n        return {}\n    return dict(p.split(\"=\", 1) for p in qs.split(\"&\"))";
        let raw = format!(
            "```python\n{code}\n```\n\nThis function splits the query string on `&`, then each pair on `=`.\nAn empty string gives an empty dictionary.\n"
        );
        assert_eq!(clean(&raw, Some("python")), format!("{code}\n"));
        let raw = format!(
            "Here's a function that does it:\n\n```python\n{code}\n```\n\n### Explanation:\n1. It splits."
        );
        assert_eq!(clean(&raw, Some("python")), format!("{code}\n"));
    }

    #[test]
    fn a_bash_block_then_prose_is_the_block() {
        let code = "#!/bin/bash\nif [ $# -eq 0 ]; then\n  echo \"Hello, world!\"\nfi\nfor name in \"$@\"; do\n  echo \"Hello, $name!\"\ndone";
        let raw =
            format!("```bash\n{code}\n```\n\nSave it as `greet.sh` and run it with your names.");
        assert_eq!(clean(&raw, Some("bash")), format!("{code}\n"));
        // The block's tag is an alias of the requested language.
        let raw = format!("```sh\n{code}\n```\nThen run it.");
        assert_eq!(clean(&raw, Some("bash")), format!("{code}\n"));
    }

    #[test]
    fn a_javascript_block_then_this_function_is_the_block() {
        let code = "function range(start, end, step = 1) {\n  const out = [];\n  for (let i = start; i < end; i += step) out.push(i);\n  return out;\n}";
        let raw = format!(
            "```javascript\n{code}\n```\n\nThis function builds the array with a loop, stepping by `step`."
        );
        assert_eq!(clean(&raw, Some("javascript")), format!("{code}\n"));
    }

    #[test]
    fn a_typescript_interface_then_prose_is_the_interface() {
        let code = "export interface User {\n  id: number;\n  email: string;\n  name: string;\n  createdAt?: Date;\n  roles: string[];\n}";
        let raw = format!("```typescript\n{code}\n```\n\nThe `createdAt` field is optional.");
        assert_eq!(clean(&raw, Some("typescript")), format!("{code}\n"));
        let raw = format!("```ts\n{code}\n```\nIn this interface:\n- `id` is a number.");
        assert_eq!(clean(&raw, Some("typescript")), format!("{code}\n"));
    }

    #[test]
    fn a_rust_block_then_prose_is_the_block() {
        let code = "pub fn is_leap_year(year: u32) -> bool {\n    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0\n}";
        let raw = format!(
            "```rust\n{code}\n```\n\nA year is a leap year if it is divisible by 4, except centuries."
        );
        assert_eq!(clean(&raw, Some("rust")), format!("{code}\n"));
    }

    #[test]
    fn a_pytest_file_then_its_explanation_is_the_file() {
        let code = "import pytest\nfrom calc import add, divide\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\ndef test_divide_by_zero():\n    with pytest.raises(ZeroDivisionError):\n        divide(1, 0)";
        let raw = format!(
            "```python\n{code}\n```\n\n### Explanation:\n1. **Importing**: we import `add` and `divide`.\n2. Each test checks one case.\n\nTo run the tests:\n```bash\npytest test_calc.py\n```\n"
        );
        assert_eq!(clean(&raw, Some("python")), format!("{code}\n"));
    }

    #[test]
    fn unfenced_code_loses_the_paragraph_of_prose_after_it() {
        let code = "def add(a, b):\n    \"\"\"Add two numbers.\n\n    Works for ints and floats.\n    \"\"\"\n    # The sum.\n    return a + b";
        let raw = format!(
            "{code}\n\nThis function returns the sum of a and b.\nIt works for any numbers.\n"
        );
        assert_eq!(clean(&raw, Some("python")), format!("{code}\n"));
        let js = "export const double = (x) => x * 2;";
        assert_eq!(
            clean(
                &format!("{js}\n\nThis doubles its argument.\n"),
                Some("javascript")
            ),
            format!("{js}\n")
        );
        // Data formats too: the JSON alone parses, with the sentence it does not.
        let json = "{\"a\": 1}";
        assert_eq!(
            clean(
                &format!("{json}\n\nThis JSON object has one key.\n"),
                Some("json")
            ),
            format!("{json}\n")
        );
        // A leading paragraph of chatter goes the same way.
        assert_eq!(
            clean(
                &format!("Sure, here is the function you asked for.\n\n{js}\n"),
                Some("javascript")
            ),
            format!("{js}\n")
        );
    }

    #[test]
    fn a_paragraph_that_is_code_stays() {
        // The code parses whole: nothing reads as an explanation to drop.
        let py = "def f():\n    return 1\n\n\nFOO = f()\n\n# This comment explains it.\n";
        assert_eq!(clean(py, Some("python")), py);
        // Broken code whose last paragraph is code: cutting it would hide the breakage.
        let broken = "def f():\n    return 1\n\nclass Foo(\n    x\n";
        assert_eq!(clean(broken, Some("python")), broken);
        // A sentence inside a docstring is the docstring's: the code before it does not parse.
        let doc = "def f():\n    \"\"\"Return one.\n\nThis line is part of the docstring.\n\"\"\"\n    return 1\n\nThis function returns one.\n";
        assert_eq!(
            clean(doc, Some("python")),
            "def f():\n    \"\"\"Return one.\n\nThis line is part of the docstring.\n\"\"\"\n    return 1\n"
        );
        // A comment that reads as a sentence is code: broken code after it is not cut away to
        // leave a part that passes.
        let hidden =
            "def a():\n    return 1\n\n# This helper does the thing.\ndef b(:\n    return 2\n";
        assert_eq!(clean(hidden, Some("python")), hidden);
        let hidden = "# This module does the thing.\nimport os,\n\ndef f():\n    return 1\n";
        assert_eq!(clean(hidden, Some("python")), hidden);
        // YAML: a key that reads like a sentence is still a key.
        let yaml = "a: 1\n\nName: John Smith\n\nThis file defines a person.\n";
        assert_eq!(clean(yaml, Some("yaml")), "a: 1\n\nName: John Smith\n");
    }

    #[test]
    fn of_two_blocks_of_the_language_the_first_is_the_artifact() {
        // The blocks after the first are usage, tests or commands far more often than the rest
        // of the file: joined, a bash script would run `./greet.sh` on itself.
        let raw = "```bash\necho \"Hello, $1!\"\n```\n\nMake it executable and run it:\n\n```bash\nchmod +x greet.sh\n./greet.sh Ann\n```\n";
        assert_eq!(clean(raw, Some("bash")), "echo \"Hello, $1!\"\n");
        let raw =
            "```python\ndef f():\n    return 1\n```\nExample usage:\n```python\nprint(f())\n```";
        assert_eq!(clean(raw, Some("python")), "def f():\n    return 1\n");
    }

    #[test]
    fn a_block_in_another_language_before_the_right_one_is_skipped() {
        let raw = "First install it:\n```bash\npip install pyyaml\n```\nThen:\n```python\nimport yaml\n```\nDone.";
        assert_eq!(clean(raw, Some("python")), "import yaml\n");
        // No block of the language: the first untagged one.
        let raw = "```bash\nnpm i\n```\n```\nexport type Id = number;\n```\nUse it.";
        assert_eq!(clean(raw, Some("typescript")), "export type Id = number;\n");
        // A lone block in another language is still the only candidate; the check judges it.
        let raw = "```js\nexport const a = 1;\n```\nThis exports a constant.";
        assert_eq!(clean(raw, Some("typescript")), "export const a = 1;\n");
        // TSX answers a TypeScript request, a file name tags its language.
        let raw = "```tsx\nexport type A = 1;\n```\nok.";
        assert_eq!(clean(raw, Some("typescript")), "export type A = 1;\n");
        let raw = "```bash\nls\n```\n```calc.py\nx = 1\n```\nok.";
        assert_eq!(clean(raw, Some("python")), "x = 1\n");
    }

    #[test]
    fn a_union_type_and_its_function_then_prose() {
        // ts_union_shape.
        let code = "export type Shape =\n  | { kind: \"circle\"; radius: number }\n  | { kind: \"square\"; size: number };\n\nexport function area(s: Shape): number {\n  return s.kind === \"circle\" ? Math.PI * s.radius ** 2 : s.size ** 2;\n}";
        let raw = format!(
            "Here is the code:\n\n```typescript\n{code}\n```\n\nThe `kind` field tells the shapes apart.\n"
        );
        assert_eq!(clean(&raw, Some("typescript")), format!("{code}\n"));
    }

    #[test]
    fn a_markdown_answer_stays_whole() {
        let md = "# Usage\n\n```bash\nmake\n```\n\nThis builds the project.\n\n```python\nimport x\n```\n\nThen import it.";
        for lang in ["markdown", "md", "text", "rst"] {
            assert_eq!(clean(md, Some(lang)), format!("{md}\n"), "{lang}");
        }
        // Without a language nothing says the artifact is code.
        assert_eq!(clean(md, None), format!("{md}\n"));
    }

    #[test]
    fn code_that_holds_fence_lines_in_a_string_stays_whole() {
        let py = "README = \"\"\"\n```bash\npip install x\n```\n\"\"\"\n";
        assert_eq!(clean(py, Some("python")), py);
    }

    #[test]
    fn a_shape_fault_names_the_fence_or_the_prose_line() {
        let fault = |a: &str, l: &str| shape_fault(a, Some(l));
        assert!(
            fault("```js\nx\n```\n```sh\ny\n```\n", "python").is_some_and(|f| f.contains("```js"))
        );
        assert!(
            fault(
                "def f():\n    return 1\nThis function returns one.\n",
                "python"
            )
            .is_some_and(|f| f.contains("This function returns one."))
        );
        // A real syntax error is no shape fault; nor is anything in a prose format.
        assert_eq!(fault("def f(:\n    return 1\n", "python"), None);
        assert_eq!(
            fault("# This helper does it.\ndef f(:\n    return 1\n", "python"),
            None
        );
        assert_eq!(fault("# T\n```\nx\n```\nThis is text.\n", "markdown"), None);
        assert_eq!(shape_fault("```\nx\n", None), None);
        // Valid code is never faulted, whatever it holds.
        assert_eq!(
            fault("s = \"\"\"\n```\nThis is text.\n\"\"\"\n", "python"),
            None
        );
    }
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
    fn a_fence_followed_by_prose_is_content_in_a_document() {
        // A document that opens with a code block keeps the prose after it; an answer to a
        // request for code is the code (see `code_answers`).
        let raw = "```sh\nmake\n```\nThen open the page.";
        for lang in [None, Some("markdown"), Some("text")] {
            assert_eq!(clean(raw, lang), format!("{raw}\n"), "{lang:?}");
        }
        assert_eq!(clean(raw, Some("sh")), "make\n");
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
            code: false,
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

    /// A sentence of explanation as a model writes it around code.
    fn sentence() -> impl Strategy<Value = String> {
        "(Here|This|The|It|Then|Note)( [a-z`_()]{1,9}){1,8}[.:]"
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
    /// artifact, so an artifact that itself opens or ends with one of those is cleaned once more;
    /// and for code, a fenced block inside an artifact that does not parse is the code taken.
    fn cleans_again_by_design(out: &str, lang: Option<&str>) -> bool {
        let first = out.lines().next().unwrap_or("");
        let last = out.lines().last().unwrap_or("");
        let code = lang.filter(|_| Format::of(lang).code);
        let lines: Vec<&str> = out.lines().collect();
        (!out.is_empty() && first.trim().is_empty())
            || code
                .is_some_and(|l| out.lines().any(is_fence_line) && parses(l, &lines) != Some(true))
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
            prop_assume!(!cleans_again_by_design(&once, lang.as_deref()));
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
            lang in prop_oneof![Just(None), prose_language().prop_map(Some)],
        ) {
            let raw = lines.join("\n");
            let last = lines.iter().rev().find(|l| !l.trim().is_empty());
            prop_assume!(!raw.contains("think>"));
            prop_assume!(lines.iter().filter(|l| is_fence_line(l)).count() >= 2);
            prop_assume!(last.is_some_and(|l| !is_fence_line(l)));
            prop_assert_eq!(clean(&raw, lang), whole(&raw));
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
        fn a_block_of_the_requested_language_comes_back_alone(
            a in artifact(),
            before in proptest::collection::vec(sentence(), 0..3),
            after in proptest::collection::vec(sentence(), 0..3),
            other in prop_oneof![Just(None), Just(Some("bash")), Just(Some("json"))],
            info in prop_oneof![Just("python"), Just("py"), Just("python3")],
            usage in any::<bool>(),
        ) {
            let mut raw = before.join("\n\n");
            if let Some(other) = other {
                raw.push_str(&format!("\n```{other}\nnot it\n```\n"));
            }
            raw.push_str(&format!("\n```{info}\n{a}\n```\n\n{}", after.join("\n\n")));
            if usage {
                raw.push_str("\n```python\nprint(1)\n```\n");
            }
            prop_assert_eq!(clean(&raw, Some("python")), format!("{a}\n"), "raw: {:?}", raw);
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
