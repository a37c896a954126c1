//! Edits to an existing file as a model writes them, and what the planner gets back. The model
//! answers with search/replace blocks (the format aider made common) or, for a small file, with
//! the whole file. Blocks are parsed leniently where small models decorate them (a file-name line,
//! a Markdown fence around them, trailing spaces on the markers) and applied strictly: each SEARCH
//! must match exactly one place, first as written, then, only if that finds nothing, ignoring
//! indentation and trailing spaces when that finds one place. A failure says in a few lines what
//! to fix, because it goes back to the model as its repair turn. The receipt is one line of
//! counts and a unified diff cut at a set number of lines, so the planner reviews the change
//! without reading the file.

use std::fmt;

use crate::check::Lang;
use crate::config::EditFormat;
use crate::text::{self, Doc, Indent, Line};

/// Files of up to this many lines are asked for whole rather than as blocks: rewriting a short
/// file costs few tokens and spares a small model the format. Provisional until measured on the
/// real models; [`mode_for`] is the one place that decides.
pub(crate) const WHOLE_FILE_MAX_LINES: usize = 60;

/// Largest file `overwrite` has rewritten whole, in characters: the model writes all of it again
/// (about 16,000 tokens at this size), and a larger file is better edited by blocks.
pub(crate) const WHOLE_REWRITE_MAX_CHARS: usize = 64 * 1024;

/// Lines of context around each change in the receipt's diff (the usual 3, less one: the
/// planner pays for every line, and two show where a change sits).
const DIFF_CONTEXT: usize = 2;
/// Lines of the file shown when a SEARCH text is not found, and their longest length.
const NEAREST_LINES: usize = 5;
const NEAREST_LINE_CHARS: usize = 100;
/// Below this similarity no line counts as near.
const NEAREST_MIN_RATIO: f32 = 0.5;

/// How the model is asked to change a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The complete new file.
    WholeFile,
    /// SEARCH/REPLACE blocks.
    Blocks,
    /// The changed functions, methods and classes, each whole ([`crate::symbols`]).
    Symbols,
}

/// Whether a task renames something: a rename changes call sites that no one definition holds.
pub(crate) fn task_renames(task: &str) -> bool {
    task.split(|c: char| !c.is_alphanumeric())
        .any(|w| w.to_lowercase().starts_with("renam"))
}

/// The routing rule, in `auto`: a file of up to [`WHOLE_FILE_MAX_LINES`] lines is asked for
/// whole; a longer one in a language with symbol edits ([`crate::symbols::supported`]) for its
/// changed definitions, unless the task renames something (its call sites lie outside any one
/// definition); any other by blocks. A forced format holds, but symbols only where the language
/// has them (blocks elsewhere).
pub(crate) fn mode_for(content: &str, lang: Option<Lang>, task: &str, format: EditFormat) -> Mode {
    let symbols = lang.is_some_and(crate::symbols::supported);
    match format {
        EditFormat::Whole => return Mode::WholeFile,
        EditFormat::Blocks => return Mode::Blocks,
        EditFormat::Symbols => {
            return if symbols { Mode::Symbols } else { Mode::Blocks };
        }
        EditFormat::Auto => {}
    }
    if content.lines().count() <= WHOLE_FILE_MAX_LINES {
        Mode::WholeFile
    } else if symbols && !task_renames(task) {
        Mode::Symbols
    } else {
        Mode::Blocks
    }
}

/// The system-prompt fragment that teaches the block format, with one tiny example.
pub(crate) const BLOCKS_INSTRUCTIONS: &str = "\
Reply with SEARCH/REPLACE blocks only, one per change, in file order:
<<<<<<< SEARCH
lines copied exactly from the file
=======
the lines that replace them
>>>>>>> REPLACE
SEARCH copies whole lines from the file with their indentation, enough of them to match one \
place only. An empty REPLACE deletes the lines. No explanation.
Example, renaming greet to hello:
<<<<<<< SEARCH
def greet(name):
=======
def hello(name):
>>>>>>> REPLACE";

/// The system-prompt fragment for a file asked for whole.
pub(crate) const WHOLE_FILE_INSTRUCTIONS: &str = "\
Reply with the complete new content of the file: the change made, every other line kept as it \
is. No explanation, no markdown fences.";

pub(crate) fn instructions(mode: Mode, lang: Option<Lang>) -> String {
    match mode {
        Mode::WholeFile => WHOLE_FILE_INSTRUCTIONS.to_string(),
        Mode::Blocks => BLOCKS_INSTRUCTIONS.to_string(),
        Mode::Symbols => crate::symbols::instructions(lang),
    }
}

/// The file to edit as the user message shows it, in a fence its content cannot close.
/// Its lines are shown with LF endings and without a BOM: the file's own come back from
/// [`crate::text`] whatever the model writes.
pub(crate) fn file_section(path: &str, content: &str) -> String {
    let lines = Doc::split(content);
    let body = lines.texts().join("\n");
    let body = body.trim_end_matches(['\n', '\r']);
    let fence = crate::workspace::fence_for(body);
    format!("### {path}\n{fence}\n{body}\n{fence}")
}

/// One SEARCH/REPLACE block, its lines without line endings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    /// The file name the model wrote on the line before the block, if it did.
    pub file: Option<String>,
    pub search: Vec<String>,
    pub replace: Vec<String>,
}

/// What went wrong with an edit; each is worth one repair turn except [`Problem::Emptied`],
/// which is more likely a misunderstanding than a slip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Problem {
    /// The blocks are malformed.
    Format,
    /// No block at all.
    NoBlocks,
    /// A SEARCH text matches nowhere.
    NotFound,
    /// A SEARCH text matches several places.
    Ambiguous,
    /// The blocks leave the file as it was.
    NoChange,
    /// The result is empty or blank.
    Emptied,
    /// A whole-file answer that leaves out most of the file, or stands a placeholder comment
    /// for lines of it ([`dropped`]).
    Dropped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EditError {
    pub problem: Problem,
    /// A few lines for the model's repair turn; the first says it all for a failure line.
    pub message: String,
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn error(problem: Problem, message: impl Into<String>) -> EditError {
    EditError {
        problem,
        message: message.into(),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Marker {
    Search,
    Divider,
    Replace,
}

/// A marker line: 5 to 9 of its character (as aider accepts), the word optional, spaces around.
fn marker(line: &str) -> Option<Marker> {
    let t = line.trim();
    for (c, word, m) in [
        ('<', "SEARCH", Marker::Search),
        ('=', "", Marker::Divider),
        ('>', "REPLACE", Marker::Replace),
    ] {
        let run = t.chars().take_while(|x| *x == c).count();
        if (5..=9).contains(&run) {
            let rest = t[run..].trim();
            if rest.is_empty() || (!word.is_empty() && rest.eq_ignore_ascii_case(word)) {
                return Some(m);
            }
        }
    }
    None
}

/// A Markdown fence line, with or without an info string.
fn is_fence(t: &str) -> bool {
    t.starts_with("```") || t.starts_with("~~~")
}

/// A line that names a file (`src/x.py`, `**x.py**`, `` `x.py`: ``), or `None`.
fn file_name_line(t: &str) -> Option<String> {
    let name = t
        .trim_start_matches('#')
        .trim()
        .trim_end_matches(':')
        .trim_matches(|c| c == '*' || c == '`')
        .trim();
    let plausible = !name.is_empty()
        && !name.contains(char::is_whitespace)
        && (name.contains('.') || name.contains('/'));
    plausible.then(|| name.to_string())
}

/// Reads the blocks out of a model's answer; text around them (chatter, fences) is ignored.
pub(crate) fn parse(answer: &str) -> Result<Vec<Block>, EditError> {
    enum State {
        Outside,
        Search,
        Replace,
    }
    let mut blocks = Vec::new();
    let mut state = State::Outside;
    let mut name: Option<String> = None;
    let mut file: Option<String> = None;
    let (mut search, mut replace) = (Vec::new(), Vec::new());
    for raw in answer.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let n = blocks.len() + 1;
        match (&state, marker(line)) {
            (State::Outside, Some(Marker::Search)) => {
                file = name.take();
                state = State::Search;
            }
            (State::Outside, Some(_)) => {
                return Err(error(
                    Problem::Format,
                    format!(
                        "`{}` stands outside a block; every block starts with `<<<<<<< SEARCH`",
                        line.trim()
                    ),
                ));
            }
            (State::Outside, None) => {
                let t = line.trim();
                if !t.is_empty() && !is_fence(t) {
                    name = file_name_line(t);
                }
            }
            (State::Search, Some(Marker::Divider)) => state = State::Replace,
            (State::Search, Some(_)) => {
                return Err(error(
                    Problem::Format,
                    format!(
                        "block {n}: `{}` before `=======`; a block is SEARCH lines, `=======`, REPLACE lines, `>>>>>>> REPLACE`",
                        line.trim()
                    ),
                ));
            }
            (State::Replace, Some(Marker::Replace)) => {
                blocks.push(Block {
                    file: file.take(),
                    search: std::mem::take(&mut search),
                    replace: std::mem::take(&mut replace),
                });
                state = State::Outside;
            }
            (State::Replace, Some(_)) => {
                return Err(error(
                    Problem::Format,
                    format!(
                        "block {n}: `{}` before `>>>>>>> REPLACE`; close each block before the next",
                        line.trim()
                    ),
                ));
            }
            (State::Search, None) => search.push(line.to_string()),
            (State::Replace, None) => replace.push(line.to_string()),
        }
    }
    let n = blocks.len() + 1;
    match state {
        State::Search => Err(error(
            Problem::Format,
            format!("block {n} has no `=======` after its SEARCH lines"),
        )),
        State::Replace => Err(error(
            Problem::Format,
            format!("block {n} is not closed; end it with `>>>>>>> REPLACE`"),
        )),
        State::Outside if blocks.is_empty() => Err(error(
            Problem::NoBlocks,
            "no SEARCH/REPLACE block found; reply with blocks that start with `<<<<<<< SEARCH`",
        )),
        State::Outside => Ok(blocks),
    }
}

/// Applies a model's answer of blocks to `original`, the file at `path`. The thinking before the
/// answer goes first, so blocks drafted while thinking are never applied; a file that holds a
/// `</think>` itself has only a leading `<think>` block dropped, not a text before such a tag.
/// A block addressed to another file is refused.
pub(crate) fn apply_answer(original: &str, path: &str, raw: &str) -> Result<String, EditError> {
    let closes = if original.contains("</think>") {
        0
    } else {
        usize::MAX
    };
    let blocks = parse(crate::clean::Think::new(closes).answer_of(raw))?;
    for (i, b) in blocks.iter().enumerate() {
        addressed_to(path, b, i + 1)?;
    }
    apply(original, &blocks)
}

/// Refuses a block whose file-name line names another file than the one edited.
fn addressed_to(path: &str, block: &Block, n: usize) -> Result<(), EditError> {
    let Some(name) = block.file.as_deref() else {
        return Ok(());
    };
    let (name, path) = (name.trim_start_matches("./"), path.trim_start_matches("./"));
    let same =
        name == path || path.ends_with(&format!("/{name}")) || name.ends_with(&format!("/{path}"));
    if same {
        return Ok(());
    }
    Err(error(
        Problem::Format,
        format!(
            "block {n} is addressed to `{name}`, but this edit changes `{path}` only; send blocks for `{path}` alone"
        ),
    ))
}

/// Applies the blocks in order to `content`. Every line keeps its own ending (a file may mix LF
/// and CRLF), a line a block adds takes the ending of the line it replaces or of its neighbour,
/// and the BOM and the final newline stay as they were ([`crate::text`]).
///
/// An empty SEARCH means "the whole content" only when the file is empty or blank; on a file
/// with content it is an error, because it cannot say where the lines go.
pub(crate) fn apply(content: &str, blocks: &[Block]) -> Result<String, EditError> {
    if blocks.is_empty() {
        return Err(error(Problem::NoBlocks, "the edit has no block"));
    }
    let mut doc = Doc::split(content);
    let style = Indent::of(doc.texts());
    for (i, block) in blocks.iter().enumerate() {
        apply_block(&mut doc, block, style, i + 1)?;
    }
    let out = doc.join();
    if out.trim_start_matches(text::BOM).trim().is_empty()
        && !content.trim_start_matches(text::BOM).trim().is_empty()
    {
        return Err(error(
            Problem::Emptied,
            "the edit would leave the file empty; refused",
        ));
    }
    if out == content {
        return Err(error(
            Problem::NoChange,
            "the blocks change nothing: each REPLACE equals its SEARCH",
        ));
    }
    Ok(out)
}

/// The new content of a file asked for whole (a small file, or `overwrite`): the model's answer
/// without its thinking and without one fence around it all, unless the file itself is a block
/// in that very fence; then laid on the original's shape, so each kept line keeps its ending
/// and the BOM and the final newline stay as they were. Blank lines at either end beyond the
/// original's are the answer's framing and go. Nothing else of the artifact cleaning applies: a
/// file is not trimmed, and a `</think>` line it holds is its own. The same file back is
/// [`Problem::NoChange`].
pub(crate) fn whole(
    original: &str,
    raw: &str,
    language: Option<&str>,
    task: &str,
) -> Result<String, EditError> {
    // A closing tag the file does not hold ends the model's thinking; one it holds is content.
    let closes = |t: &str| t.matches("</think>").count();
    let answer =
        crate::clean::Think::new(closes(raw).saturating_sub(closes(original))).answer_of(raw);
    let own_fence = crate::clean::unwrap_fence(original, language).map(|(open, _)| open.trim());
    let answer = match crate::clean::unwrap_fence(answer, language) {
        Some((open, inner)) if own_fence != Some(open.trim()) => inner,
        _ => answer.to_string(),
    };
    let doc = Doc::split(original);
    let mut lines = text::lines_of(&answer);
    let old = doc.texts();
    let lead = |ls: &[&str]| ls.iter().take_while(|l| blank(l)).count();
    let trail = |ls: &[&str]| ls.iter().rev().take_while(|l| blank(l)).count();
    let new: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (cut_lead, cut_trail) = (
        lead(&new).saturating_sub(lead(&old)),
        trail(&new).saturating_sub(trail(&old)),
    );
    if lines.iter().all(|l| blank(l)) {
        return Err(error(
            Problem::Emptied,
            "the answer would leave the file empty; refused",
        ));
    }
    lines.truncate(lines.len() - cut_trail);
    lines.drain(..cut_lead);
    dropped(&old, &lines, task)?;
    left_out(original, &lines, language, task)?;
    let out = doc.reshape(&lines);
    if out == original {
        return Err(error(
            Problem::NoChange,
            "the file came back unchanged; make the change the task asks for",
        ));
    }
    Ok(out)
}

fn blank(l: &str) -> bool {
    l.trim().is_empty()
}

/// A file with fewer non-blank lines than this is never judged by [`dropped`]'s size rule: a
/// short file may well shrink by half.
pub(crate) const DROP_MIN_LINES: usize = 10;

/// The second data-loss guard of a whole-file answer: in a language with symbol edits, a
/// top-level definition, variable, import or docstring of the file that the answer leaves out
/// ([`crate::symbols::left_out`]) is refused as [`Problem::Dropped`], unless the task removes.
fn left_out(
    original: &str,
    new: &[String],
    language: Option<&str>,
    task: &str,
) -> Result<(), EditError> {
    let Some(lang) = language
        .and_then(crate::check::Lang::from_name)
        .filter(|l| crate::symbols::supported(*l))
    else {
        return Ok(());
    };
    if task_removes(task) {
        return Ok(());
    }
    let lost = crate::symbols::left_out(original, &new.join("\n"), lang, task);
    if lost.is_empty() {
        return Ok(());
    }
    let named: Vec<String> = lost
        .iter()
        .take(5)
        .map(|l| {
            format!(
                "`{}`",
                l.chars().take(NEAREST_LINE_CHARS).collect::<String>()
            )
        })
        .collect();
    Err(error(
        Problem::Dropped,
        format!(
            "your answer leaves out {} of the file{}, and the task removes nothing. Your answer \
replaces the whole file, so it must be the complete file: every line kept as it is except the \
ones the task changes",
            named.join(", "),
            if lost.len() > named.len() {
                format!(" and {} more", lost.len() - named.len())
            } else {
                String::new()
            }
        ),
    ))
}

/// Word stems of a task that asks for lines to go; one of them at the start of a word of the
/// task lifts [`dropped`]'s size rule.
const REMOVAL_STEMS: &[&str] = &[
    "delet", "remov", "drop", "strip", "prun", "shorten", "trim", "truncat", "cut", "rid", "purg",
    "eras", "empt", "simplif", "condens", "dedup", "minif",
];

/// Whether the task asks for something to be removed.
pub(crate) fn task_removes(task: &str) -> bool {
    task.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .any(|w| REMOVAL_STEMS.iter().any(|s| w.starts_with(s)))
}

/// The data-loss guard of a whole-file answer (`new`, the answer's lines, against `old`, the
/// file's): the answer is refused as [`Problem::Dropped`] when
/// - it holds fewer than half as many non-blank lines as the file, the file has at least
///   [`DROP_MIN_LINES`] of them, and the task names no removal ([`task_removes`]): the model
///   answered with the part it changed, not the file; or
/// - it has a line the file has not that is a placeholder for lines left out, a comment such as
///   `# ... rest of the file unchanged` or `// existing code ...` (whatever the task says).
fn dropped(old: &[&str], new: &[String], task: &str) -> Result<(), EditError> {
    if let Some((i, l)) = new
        .iter()
        .enumerate()
        .find(|(_, l)| placeholder(l) && !old.iter().any(|o| o.trim() == l.trim()))
    {
        return Err(error(
            Problem::Dropped,
            format!(
                "line {} of your answer, `{}`, stands for lines of the file you left out; the answer \
is written as the whole file, so write every line of it out, the ones you do not change as they are",
                i + 1,
                l.trim()
                    .chars()
                    .take(NEAREST_LINE_CHARS)
                    .collect::<String>()
            ),
        ));
    }
    let count = |ls: &mut dyn Iterator<Item = &str>| ls.filter(|l| !blank(l)).count();
    let (had, has) = (
        count(&mut old.iter().copied()),
        count(&mut new.iter().map(String::as_str)),
    );
    if had >= DROP_MIN_LINES && has * 2 < had && !task_removes(task) {
        let kept: std::collections::HashSet<&str> = new.iter().map(|l| l.trim()).collect();
        let gone = old
            .iter()
            .filter(|l| !blank(l) && !kept.contains(l.trim()))
            .count();
        return Err(error(
            Problem::Dropped,
            format!(
                "your answer has {has} of the file's {had} non-blank lines: {gone} lines of the file \
are missing from it, and the task removes nothing. Your answer replaces the whole file, so it \
must be the complete file: every line kept as it is except the ones the task changes"
            ),
        ));
    }
    Ok(())
}

/// A comment line that stands for code left out: `# ...`, `// … rest unchanged`,
/// `/* existing code */`, `<!-- remaining items -->`.
fn placeholder(line: &str) -> bool {
    let t = line.trim();
    let Some(body) = ["#", "//", "/*", "<!--", "--", ";"]
        .iter()
        .find_map(|c| t.strip_prefix(c))
    else {
        return false;
    };
    let body = body
        .trim_end_matches("*/")
        .trim_end_matches("-->")
        .trim()
        .to_lowercase();
    let ellipsis = body.contains("...") || body.contains('…');
    let words = [
        "rest of",
        "existing",
        "unchanged",
        "remaining",
        "omitted",
        "same as before",
        "as before",
        "other methods",
        "other functions",
        "code here",
        "previous code",
    ];
    let says = words.iter().any(|w| body.contains(w));
    let bare = body
        .trim_matches(|c: char| c == '.' || c == '…' || c.is_whitespace())
        .is_empty();
    (ellipsis && (says || bare))
        || (says && (body.contains("unchanged") || body.contains("omitted")))
}

/// Replaces `len` lines from `at` with `texts`: each new line takes the ending of the line at
/// its place in the old span (the span's last for lines beyond it), or of its neighbour.
pub(crate) fn splice(doc: &mut Doc, at: usize, len: usize, texts: Vec<String>) {
    let near = doc.eol_near(at);
    let lines: Vec<Line> = texts
        .into_iter()
        .enumerate()
        .map(|(k, text)| Line {
            text,
            eol: match len {
                0 => Some(near),
                _ => doc.lines[at + k.min(len - 1)].eol,
            },
        })
        .collect();
    doc.lines.splice(at..at + len, lines);
}

fn apply_block(doc: &mut Doc, block: &Block, style: Indent, n: usize) -> Result<(), EditError> {
    let lines: Vec<String> = doc.lines.iter().map(|l| l.text.clone()).collect();
    if block.search.iter().all(|l| blank(l)) {
        if lines.iter().all(|l| blank(l)) {
            let len = doc.lines.len();
            splice(doc, 0, len, block.replace.clone());
            return Ok(());
        }
        return Err(error(
            Problem::NotFound,
            format!("block {n}: SEARCH is empty; copy into it the lines of the file to change"),
        ));
    }
    // As written, but for trailing spaces nobody can see.
    let exact = positions(&lines, &block.search, |a, b| a.trim_end() == b.trim_end());
    match exact.as_slice() {
        [at] => {
            splice(doc, *at, block.search.len(), block.replace.clone());
            return Ok(());
        }
        [] => {}
        many => return Err(ambiguous(n, many)),
    }
    // Ignoring indentation and blank lines around the SEARCH text, if that finds one place.
    let lead = block.search.iter().take_while(|l| blank(l)).count();
    let trail = block.search.iter().rev().take_while(|l| blank(l)).count();
    let search = &block.search[lead..block.search.len() - trail];
    let loose = positions(&lines, search, |a, b| a.trim() == b.trim());
    match loose.as_slice() {
        [at] => {
            let mut replace = block.replace.as_slice();
            // The blank lines the SEARCH had around it most likely stand in the REPLACE too.
            let r_lead = replace.iter().take_while(|l| blank(l)).count().min(lead);
            replace = &replace[r_lead..];
            let r_trail = replace
                .iter()
                .rev()
                .take_while(|l| blank(l))
                .count()
                .min(trail);
            replace = &replace[..replace.len() - r_trail];
            let found = &lines[*at..*at + search.len()];
            let replace = reindent(replace, search, found, style);
            splice(doc, *at, search.len(), replace);
            Ok(())
        }
        [] => Err(not_found(n, &lines, search)),
        many => Err(ambiguous(n, many)),
    }
}

/// Where `search` starts in `lines`, by the given line comparison.
fn positions(lines: &[String], search: &[String], eq: impl Fn(&str, &str) -> bool) -> Vec<usize> {
    if search.is_empty() || search.len() > lines.len() {
        return Vec::new();
    }
    (0..=lines.len() - search.len())
        .filter(|&at| search.iter().zip(&lines[at..]).all(|(s, l)| eq(s, l)))
        .collect()
}

/// Columns a model's tab stands for when its indentation is measured.
const MODEL_TAB_COLUMNS: usize = 4;

/// Moves the REPLACE lines of a loose match into the file's indentation, line by line: an
/// indentation the SEARCH used becomes what the file has on the matching line; any other is
/// taken as steps deeper (or shallower) than the nearest SEARCH indentation at or above it and
/// written in the file's style (`style`: tabs, or spaces in its step). So the model's spaces in
/// a tab-indented file become tabs, and no line mixes the two.
fn reindent(replace: &[String], search: &[String], found: &[String], style: Indent) -> Vec<String> {
    let pairs: Vec<(&str, &str)> = search
        .iter()
        .zip(found)
        .filter(|(s, _)| !blank(s))
        .map(|(s, f)| (text::leading(s), text::leading(f)))
        .collect();
    let step = match Indent::of(search.iter().chain(replace).map(String::as_str)) {
        Indent::Tabs => MODEL_TAB_COLUMNS,
        Indent::Spaces(n) => n,
    };
    let cols = |i: &str| text::columns(i, MODEL_TAB_COLUMNS);
    let file_step = match style {
        Indent::Tabs => MODEL_TAB_COLUMNS,
        Indent::Spaces(n) => n,
    };
    replace
        .iter()
        .map(|l| {
            if blank(l) {
                return l.clone();
            }
            let lead = text::leading(l);
            let rest = &l[lead.len()..];
            // A line kept from the SEARCH takes the indentation of the line it matched, even
            // when the model wrote several file indentations the same way.
            let same = |s: &&String| s.trim() == l.trim();
            let kept = search
                .iter()
                .position(|s| same(&s) && text::leading(s) == lead)
                .or_else(|| search.iter().position(|s| same(&s)));
            if let Some(i) = kept {
                return format!("{}{rest}", text::leading(&found[i]));
            }
            if let Some((_, to)) = pairs.iter().find(|(from, _)| *from == lead) {
                return format!("{to}{rest}");
            }
            let w = cols(lead);
            let base = pairs
                .iter()
                .filter(|(from, _)| cols(from) <= w)
                .max_by_key(|(from, _)| cols(from))
                .or_else(|| pairs.iter().min_by_key(|(from, _)| cols(from)));
            let Some(&(from, to)) = base else {
                return l.clone();
            };
            let delta = w as isize - cols(from) as isize;
            let levels = (delta as f64 / step as f64).round() as isize;
            let in_style = match style {
                Indent::Tabs => !to.contains(' '),
                Indent::Spaces(_) => !to.contains('\t'),
            };
            let indent = if levels >= 0 && in_style {
                format!("{to}{}", style.repeat(levels.unsigned_abs()))
            } else {
                let base_levels = (text::columns(to, MODEL_TAB_COLUMNS) / file_step) as isize;
                style.repeat((base_levels + levels).max(0).unsigned_abs())
            };
            format!("{indent}{rest}")
        })
        .collect()
}

fn ambiguous(n: usize, at: &[usize]) -> EditError {
    let shown: Vec<String> = at.iter().take(5).map(|a| (a + 1).to_string()).collect();
    error(
        Problem::Ambiguous,
        format!(
            "block {n}: SEARCH matches {} places (lines {}); add lines around the one to change so it matches once",
            at.len(),
            shown.join(", ")
        ),
    )
}

/// "Not found", with the lines of the file nearest to the SEARCH text so the model can copy them.
fn not_found(n: usize, lines: &[String], search: &[String]) -> EditError {
    let head = format!("block {n}: SEARCH matches no lines of the file.");
    // The longest SEARCH line is the most telling one to look for.
    let Some((probe_at, probe)) = search
        .iter()
        .map(|l| l.trim())
        .enumerate()
        .max_by_key(|(_, l)| l.len())
    else {
        return error(Problem::NotFound, head);
    };
    let best = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (i, similar::TextDiff::from_chars(probe, l.trim()).ratio()))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let message = match best {
        Some((at, ratio)) if ratio >= NEAREST_MIN_RATIO => {
            let start = at.saturating_sub(probe_at);
            let end = (start + search.len().min(NEAREST_LINES)).min(lines.len());
            let mut m = format!("{head} Nearest, from line {}:\n", start + 1);
            for (i, l) in lines[start..end].iter().enumerate() {
                let l: String = l.chars().take(NEAREST_LINE_CHARS).collect();
                m.push_str(&format!("{}|{l}\n", start + i + 1));
            }
            m.push_str("Copy the SEARCH lines exactly from the file.");
            m
        }
        _ => format!(
            "{head} No line is close to `{}`; copy the SEARCH lines exactly from the file.",
            probe.chars().take(NEAREST_LINE_CHARS).collect::<String>()
        ),
    };
    error(Problem::NotFound, message)
}

/// A unified diff of a change and its line counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Diff {
    pub added: usize,
    pub removed: usize,
    /// Characters of the added lines: what the model's edit put on disk.
    pub added_chars: usize,
    /// Hunks without file headers, cut at the line limit with a `… N more lines` marker.
    pub text: String,
}

/// Marks a CRLF line ending in the diff when the two versions do not share one kind of ending.
const CR_MARK: &str = "␍";
/// Marks a byte-order mark that one version has and the other has not.
const BOM_MARK: &str = "[BOM]";

/// The diff from `old` to `new`, byte for byte, at most `max_lines` lines shown. A change of a
/// line's ending, of the BOM or of the final newline is a change and shows: a CRLF ending as `␍`
/// when the versions do not share one kind of ending (a uniformly CRLF file shows none), a BOM
/// as `[BOM]` when only one version has it, a missing final newline as the usual `\ No newline
/// at end of file`.
pub(crate) fn diff(old: &str, new: &str, max_lines: usize) -> Diff {
    let (old, new) = (Doc::split(old), Doc::split(new));
    let kinds: std::collections::HashSet<text::Eol> = old
        .lines
        .iter()
        .chain(&new.lines)
        .filter_map(|l| l.eol)
        .collect();
    let show_cr = kinds.len() > 1;
    let show_bom = old.layout.bom != new.layout.bom;
    let shown = |d: &Doc| {
        let mut s = String::new();
        if show_bom && d.layout.bom {
            s.push_str(BOM_MARK);
        }
        for l in &d.lines {
            s.push_str(&l.text);
            match l.eol {
                Some(text::Eol::CrLf) if show_cr => s.push_str(CR_MARK),
                _ => {}
            }
            if l.eol.is_some() {
                s.push('\n');
            }
        }
        s
    };
    let (old_s, new_s) = (shown(&old), shown(&new));
    let d = similar::TextDiff::from_lines(&old_s, &new_s);
    let (mut added, mut removed, mut added_chars) = (0, 0, 0);
    for change in d.iter_all_changes() {
        match change.tag() {
            similar::ChangeTag::Insert => {
                added += 1;
                // What lands on disk: the line's own text and ending, not the marks shown.
                added_chars += change
                    .new_index()
                    .and_then(|i| new.lines.get(i))
                    .map_or(0, |l| {
                        l.text.chars().count() + l.eol.map_or(0, |e| e.as_str().len())
                    });
            }
            similar::ChangeTag::Delete => removed += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    let full = d
        .unified_diff()
        .context_radius(DIFF_CONTEXT)
        .missing_newline_hint(true)
        .to_string();
    let all: Vec<&str> = full.lines().collect();
    let mut text = String::new();
    for l in all.iter().take(max_lines) {
        text.push_str(l);
        text.push('\n');
    }
    if all.len() > max_lines {
        text.push_str(&format!("… {} more lines\n", all.len() - max_lines));
    }
    Diff {
        added,
        removed,
        added_chars,
        text,
    }
}

/// What the planner gets for an edit: `edited PATH · +A −R lines`, then the diff.
pub(crate) fn receipt(path: &str, d: &Diff) -> String {
    format!(
        "edited {path} · +{} −{} lines\n{}",
        d.added, d.removed, d.text
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(search: &str, replace: &str) -> Block {
        let lines = |s: &str| s.split_terminator('\n').map(str::to_string).collect();
        Block {
            file: None,
            search: lines(search),
            replace: lines(replace),
        }
    }

    fn edit(content: &str, answer: &str) -> Result<String, EditError> {
        apply(content, &parse(answer)?)
    }

    const PY: &str = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n";

    #[test]
    fn an_edit_is_applied() {
        let answer = "<<<<<<< SEARCH\ndef sub(a, b):\n    return a - b\n=======\ndef sub(a, b):\n    \"\"\"a minus b\"\"\"\n    return a - b\n>>>>>>> REPLACE\n";
        assert_eq!(
            edit(PY, answer).unwrap(),
            "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    \"\"\"a minus b\"\"\"\n    return a - b\n"
        );
    }

    #[test]
    fn several_blocks_apply_in_order_and_empty_replace_deletes() {
        let answer = "<<<<<<< SEARCH\ndef add(a, b):\n=======\ndef plus(a, b):\n>>>>>>> REPLACE\n\
<<<<<<< SEARCH\n\n\ndef sub(a, b):\n    return a - b\n=======\n>>>>>>> REPLACE\n";
        assert_eq!(
            edit(PY, answer).unwrap(),
            "def plus(a, b):\n    return a + b\n"
        );
    }

    #[test]
    fn blocks_in_a_fence_with_a_file_name_and_chatter_parse() {
        let answer = "Here is the change:\n\nsrc/calc.py\n```python\n<<<<<<< SEARCH  \n    return a + b\n=======   \n    return b + a\n>>>>>>> REPLACE \n```\n\n`other.py`:\n```\n<<<<<<<SEARCH\nx\n=======\ny\n>>>>>>>\n```\nDone.";
        let blocks = parse(answer).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].file.as_deref(), Some("src/calc.py"));
        assert_eq!(blocks[0].search, vec!["    return a + b"]);
        assert_eq!(blocks[0].replace, vec!["    return b + a"]);
        assert_eq!(blocks[1].file.as_deref(), Some("other.py"));
        assert_eq!(blocks[1].search, vec!["x"]);
        // A fence inside a block is content (a Markdown file being edited).
        let md = parse("<<<<<<< SEARCH\n```sh\n=======\n```bash\n>>>>>>> REPLACE").unwrap();
        assert_eq!(md[0].search, vec!["```sh"]);
        assert_eq!(md[0].replace, vec!["```bash"]);
        // A chatter line between a name and the block drops the name.
        let b =
            parse("a.py\nI changed it:\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE").unwrap();
        assert_eq!(b[0].file, None);
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        for (answer, problem, words) in [
            (
                "just prose, no blocks",
                Problem::NoBlocks,
                "no SEARCH/REPLACE block",
            ),
            ("", Problem::NoBlocks, "no SEARCH/REPLACE block"),
            (
                "<<<<<<< SEARCH\nx\n",
                Problem::Format,
                "block 1 has no `=======`",
            ),
            (
                "<<<<<<< SEARCH\nx\n=======\ny\n",
                Problem::Format,
                "block 1 is not closed",
            ),
            (
                "<<<<<<< SEARCH\nx\n>>>>>>> REPLACE\n",
                Problem::Format,
                "block 1: `>>>>>>> REPLACE` before `=======`",
            ),
            (
                "<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n<<<<<<< SEARCH\na\n=======\nb\n<<<<<<< SEARCH\n",
                Problem::Format,
                "block 2: `<<<<<<< SEARCH` before `>>>>>>> REPLACE`",
            ),
            ("=======\n", Problem::Format, "outside a block"),
        ] {
            let e = parse(answer).unwrap_err();
            assert_eq!(e.problem, problem, "{answer:?}");
            assert!(e.message.contains(words), "{answer:?}: {}", e.message);
        }
    }

    #[test]
    fn missing_search_text_names_the_block_and_the_nearest_lines() {
        let answer = "<<<<<<< SEARCH\ndef add(a, b):\n=======\ndef add(a, b, c):\n>>>>>>> REPLACE\n\
<<<<<<< SEARCH\ndef sub(x, y):\n    return x - y\n=======\ndef minus(x, y):\n>>>>>>> REPLACE\n";
        let e = edit(PY, answer).unwrap_err();
        assert_eq!(e.problem, Problem::NotFound);
        assert_eq!(
            e.message,
            "block 2: SEARCH matches no lines of the file. Nearest, from line 5:\n\
5|def sub(a, b):\n6|    return a - b\nCopy the SEARCH lines exactly from the file."
        );
        let e = edit(PY, "<<<<<<< SEARCH\nzzzz qqqq\n=======\ny\n>>>>>>> REPLACE").unwrap_err();
        assert!(
            e.message.contains("No line is close to `zzzz qqqq`"),
            "{}",
            e.message
        );
        assert!(e.message.len() < 200);
    }

    #[test]
    fn an_ambiguous_match_is_refused() {
        let content = "x = 1\ny = 2\nx = 1\n";
        let e = edit(
            content,
            "<<<<<<< SEARCH\nx = 1\n=======\nx = 3\n>>>>>>> REPLACE",
        )
        .unwrap_err();
        assert_eq!(e.problem, Problem::Ambiguous);
        assert!(e.message.contains("2 places (lines 1, 3)"), "{}", e.message);
        // Loosely, too: the two places differ only in indentation.
        let content = "if a:\n    go()\nif b:\n        go()\n";
        let e = edit(
            content,
            "<<<<<<< SEARCH\n  go()\n=======\n  stop()\n>>>>>>> REPLACE",
        )
        .unwrap_err();
        assert_eq!(e.problem, Problem::Ambiguous);
    }

    #[test]
    fn a_whitespace_tolerant_match_applies_when_unique_and_keeps_the_files_indentation() {
        // The model dropped the indentation and added trailing spaces and a blank line.
        let answer = "<<<<<<< SEARCH\n\nreturn a - b   \n=======\n\nif a < b:\n    raise ValueError\nreturn a - b\n>>>>>>> REPLACE";
        assert_eq!(
            edit(PY, answer).unwrap(),
            "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    if a < b:\n        raise ValueError\n    return a - b\n"
        );
        // An exact match wins over a loose one elsewhere.
        let content = "go()\n    go()\n";
        assert_eq!(
            edit(
                content,
                "<<<<<<< SEARCH\ngo()\n=======\nstop()\n>>>>>>> REPLACE"
            )
            .unwrap(),
            "stop()\n    go()\n"
        );
    }

    #[test]
    fn crlf_files_keep_crlf_and_the_final_newline_stays_as_it_was() {
        let content = "a = 1\r\nb = 2\r\n";
        let answer = "<<<<<<< SEARCH\r\nb = 2\r\n=======\r\nb = 3\r\nc = 4\r\n>>>>>>> REPLACE\r\n";
        assert_eq!(
            edit(content, answer).unwrap(),
            "a = 1\r\nb = 3\r\nc = 4\r\n"
        );
        assert_eq!(
            edit("a\nb", "<<<<<<< SEARCH\nb\n=======\nc\n>>>>>>> REPLACE").unwrap(),
            "a\nc"
        );
    }

    #[test]
    fn an_edit_that_empties_the_file_or_changes_nothing_is_refused() {
        let e = edit("x = 1\n", "<<<<<<< SEARCH\nx = 1\n=======\n>>>>>>> REPLACE").unwrap_err();
        assert_eq!(e.problem, Problem::Emptied);
        let e = edit(
            "x = 1\n",
            "<<<<<<< SEARCH\nx = 1\n=======\nx = 1\n>>>>>>> REPLACE",
        )
        .unwrap_err();
        assert_eq!(e.problem, Problem::NoChange);
        assert_eq!(apply("x\n", &[]).unwrap_err().problem, Problem::NoBlocks);
    }

    #[test]
    fn an_empty_search_fills_an_empty_file_only() {
        assert_eq!(
            apply("", &[block("", "print('hi')\n")]).unwrap(),
            "print('hi')\n"
        );
        assert_eq!(apply("\n", &[block("\n", "x\n")]).unwrap(), "x\n");
        let e = apply("y = 1\n", &[block("", "x\n")]).unwrap_err();
        assert_eq!(e.problem, Problem::NotFound);
        assert!(e.message.contains("SEARCH is empty"), "{}", e.message);
    }

    #[test]
    fn small_files_are_asked_for_whole() {
        let lines = |n: usize| "x\n".repeat(n);
        let auto = |c: &str, lang, task| mode_for(c, lang, task, EditFormat::Auto);
        let py = Some(Lang::Python);
        assert_eq!(auto("", py, "t"), Mode::WholeFile);
        assert_eq!(auto(&lines(WHOLE_FILE_MAX_LINES), py, "t"), Mode::WholeFile);
        let long = lines(WHOLE_FILE_MAX_LINES + 1);
        assert_eq!(auto(&long, None, "t"), Mode::Blocks);
        assert_eq!(auto(&long, Some(Lang::Go), "t"), Mode::Blocks);
        assert_eq!(auto(&long, py, "add a method"), Mode::Symbols);
        assert_eq!(auto(&long, Some(Lang::TypeScript), "t"), Mode::Symbols);
        assert_eq!(auto(&long, py, "Rename calc to compute"), Mode::Blocks);
        // A forced format holds; symbols only where the language has them.
        assert_eq!(mode_for("x\n", py, "t", EditFormat::Symbols), Mode::Symbols);
        assert_eq!(
            mode_for("x\n", None, "t", EditFormat::Symbols),
            Mode::Blocks
        );
        assert_eq!(mode_for(&long, py, "t", EditFormat::Whole), Mode::WholeFile);
        assert_eq!(mode_for("x\n", py, "t", EditFormat::Blocks), Mode::Blocks);
        assert!(instructions(Mode::Blocks, py).contains("<<<<<<< SEARCH"));
        assert!(!instructions(Mode::WholeFile, py).contains("SEARCH"));
        assert!(instructions(Mode::Symbols, py).contains("def greet"));
        // The example in the instructions is itself a valid edit.
        let example = BLOCKS_INSTRUCTIONS
            .split("Example, renaming greet to hello:\n")
            .nth(1)
            .unwrap();
        assert_eq!(
            edit("def greet(name):\n    return name\n", example).unwrap(),
            "def hello(name):\n    return name\n"
        );
        assert!(
            BLOCKS_INSTRUCTIONS.len() < 600,
            "{}",
            BLOCKS_INSTRUCTIONS.len()
        );
        assert_eq!(
            file_section("a.md", "```\nx\n```\n"),
            "### a.md\n````\n```\nx\n```\n````"
        );
    }

    #[test]
    fn diff_counts_lines_and_is_cut() {
        let old = "a\nb\nc\nd\ne\nf\ng\n";
        let new = "a\nb\nC\nd\ne\nf\ng\nh\n";
        let d = diff(old, new, 80);
        assert_eq!((d.added, d.removed, d.added_chars), (2, 1, 4));
        assert_eq!(
            d.text,
            "@@ -1,7 +1,8 @@\n a\n b\n-c\n+C\n d\n e\n f\n g\n+h\n"
        );
        let d = diff(old, new, 3);
        assert_eq!(d.text, "@@ -1,7 +1,8 @@\n a\n b\n… 7 more lines\n");
        assert_eq!(
            diff("a\r\nb\r\n", "a\r\nc\r\n", 80).text,
            "@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
        );
        let big_old: String = (0..300).map(|i| format!("line {i}\n")).collect();
        let big_new = big_old
            .replace("line 7\n", "seven\n")
            .replace("line 250\n", "");
        let r = receipt("src/x.py", &diff(&big_old, &big_new, 80));
        assert!(r.starts_with("edited src/x.py · +1 −2 lines\n@@ "), "{r}");
        assert!(r.lines().count() < 20, "{r}");
    }

    #[test]
    fn a_block_edit_keeps_each_lines_ending_and_the_bom() {
        let content = "\u{feff}a\r\nb\nc\r\nd";
        assert_eq!(
            edit(
                content,
                "<<<<<<< SEARCH\nb\n=======\nB\nB2\n>>>>>>> REPLACE"
            )
            .unwrap(),
            "\u{feff}a\r\nB\nB2\nc\r\nd"
        );
        // A line added after a last line without an ending: the file still ends without one.
        assert_eq!(
            edit(content, "<<<<<<< SEARCH\nd\n=======\nd\ne\n>>>>>>> REPLACE").unwrap(),
            "\u{feff}a\r\nb\nc\r\nd\r\ne"
        );
    }

    #[test]
    fn a_loose_match_reindents_every_line_into_the_files_style() {
        let tabs = "def target(a):\n\tif a:\n\t\treturn 1\n\treturn 2\n";
        let answer = "<<<<<<< SEARCH\ndef target(a):\n    if a:\n        return 1\n=======\ndef target(a):\n    if a:\n        for i in a:\n            yield i\n    else:\n        return 10\n>>>>>>> REPLACE";
        assert_eq!(
            edit(tabs, answer).unwrap(),
            "def target(a):\n\tif a:\n\t\tfor i in a:\n\t\t\tyield i\n\telse:\n\t\treturn 10\n\treturn 2\n"
        );
        // A model that dropped all indentation: kept lines go back where they were.
        let answer = "<<<<<<< SEARCH\nif a:\nreturn 1\nreturn 2\n=======\nif a:\nreturn 1\nreturn 3\n>>>>>>> REPLACE";
        assert_eq!(
            edit(tabs, answer).unwrap(),
            "def target(a):\n\tif a:\n\t\treturn 1\n\treturn 3\n"
        );
        // Two-space file, four-space model.
        let two = "class A:\n  def f(self):\n    return 1\n";
        let answer = "<<<<<<< SEARCH\n    def f(self):\n        return 1\n=======\n    def f(self):\n        if self:\n            return 2\n        return 1\n>>>>>>> REPLACE";
        assert_eq!(
            edit(two, answer).unwrap(),
            "class A:\n  def f(self):\n    if self:\n      return 2\n    return 1\n"
        );
    }

    #[test]
    fn blocks_drafted_while_thinking_are_dropped_and_blocks_for_another_file_refused() {
        let answer = "<think>\n<<<<<<< SEARCH\nx = 1\n=======\nx = 9\n>>>>>>> REPLACE\n</think>\n<<<<<<< SEARCH\ny = 2\n=======\ny = 3\n>>>>>>> REPLACE\n";
        let content = "x = 1\ny = 2\n";
        assert_eq!(
            apply_answer(content, "a.py", answer).unwrap(),
            "x = 1\ny = 3\n"
        );
        // A model still thinking when it stopped has no blocks.
        let e = apply_answer(
            content,
            "a.py",
            "<think>\n<<<<<<< SEARCH\nx = 1\n=======\nx = 9\n>>>>>>> REPLACE\n",
        )
        .unwrap_err();
        assert_eq!(e.problem, Problem::NoBlocks);
        let named = |name: &str| {
            format!("{name}\n<<<<<<< SEARCH\ny = 2\n=======\ny = 3\n>>>>>>> REPLACE\n")
        };
        for ok in ["src/a.py", "a.py", "./src/a.py", "/repo/src/a.py"] {
            assert!(
                apply_answer(content, "src/a.py", &named(ok)).is_ok(),
                "{ok}"
            );
        }
        let e = apply_answer(content, "src/a.py", &named("src/b.py")).unwrap_err();
        assert!(
            e.message.contains("addressed to `src/b.py`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_whole_file_answer_takes_the_originals_shape() {
        // Think, fence and blank lines around it go; the file's CRLF and missing final newline stay.
        assert_eq!(
            whole(
                "a = 1\r\nb = 2",
                "<think>plan</think>\n\n```python\na = 1\nb = 3\n```\n\n",
                Some("python"),
                "t"
            )
            .unwrap(),
            "a = 1\r\nb = 3"
        );
        // Blank lines the file has at either end stay.
        assert_eq!(whole("\nx\n\n", "x2\n", None, "t").unwrap(), "x2\n");
        assert_eq!(
            whole("\nx\n\n", "\n\n\nx2\n\n\n", None, "t").unwrap(),
            "\nx2\n\n"
        );
        // The same file back, in other endings, is unchanged.
        let e = whole("a\r\nb\r\n", "a\nb", None, "t").unwrap_err();
        assert_eq!(e.problem, Problem::NoChange);
        let e = whole("a\n", "\n\n", None, "t").unwrap_err();
        assert_eq!(e.problem, Problem::Emptied);
        // A chatter line before a fence goes with it.
        assert_eq!(
            whole(
                "x = 1\n",
                "Here is the updated file:\n```python\nx = 2\n```\n",
                Some("python"),
                "t"
            )
            .unwrap(),
            "x = 2\n"
        );
        // A file that is a fenced block keeps its fence; a `</think>` line of the file stays.
        assert_eq!(
            whole("```\nx\n```\n", "```\ny\n```", Some("markdown"), "t").unwrap(),
            "```\ny\n```\n"
        );
        assert_eq!(
            whole("a\n</think>\nb\n", "a\n</think>\nc\n", None, "t").unwrap(),
            "a\n</think>\nc\n"
        );
    }

    #[test]
    fn the_diff_shows_a_change_of_line_ending_bom_or_final_newline() {
        let d = diff("a\r\nb\r\n", "a\r\nb\n", 80);
        assert_eq!((d.added, d.removed), (1, 1));
        assert_eq!(d.text, "@@ -1,2 +1,2 @@\n a␍\n-b␍\n+b\n");
        let d = diff("x\ny", "x\ny\n", 80);
        assert_eq!((d.added, d.removed), (1, 1));
        assert!(
            d.text.contains("\\ No newline at end of file"),
            "{}",
            d.text
        );
        let d = diff("\u{feff}p\n", "p\n", 80);
        assert_eq!(d.text, "@@ -1 +1 @@\n-[BOM]p\n+p\n");
        // A uniformly CRLF file shows no marks, and disk characters count its real endings.
        let d = diff("a\r\nb\r\n", "a\r\nc\r\n", 80);
        assert_eq!(d.text, "@@ -1,2 +1,2 @@\n a\n-b\n+c\n");
        assert_eq!(d.added_chars, 3);
    }

    #[test]
    fn a_whole_file_answer_that_drops_most_of_the_file_is_refused() {
        let file: String = (0..30)
            .map(|i| format!("def f{i}(x):\n    return x + {i}\n\n\n"))
            .collect();
        // The model answered with the one function it changed.
        let e = whole(
            &file,
            "def f3(x):\n    \"\"\"Add three.\"\"\"\n    return x + 3\n",
            Some("python"),
            "give f3 a docstring",
        )
        .unwrap_err();
        assert_eq!(e.problem, Problem::Dropped);
        assert!(
            e.message
                .contains("your answer has 3 of the file's 60 non-blank lines"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("58 lines of the file are missing"),
            "{}",
            e.message
        );
        // A task that asks for lines to go may shrink the file.
        for task in [
            "Remove f5 to f29",
            "delete the unused functions",
            "Get rid of dead code",
        ] {
            assert!(task_removes(task), "{task}");
            let kept: String = file.lines().take(8).map(|l| format!("{l}\n")).collect();
            assert!(whole(&file, &kept, Some("python"), task).is_ok(), "{task}");
        }
        for task in [
            "give f3 a docstring",
            "rename f3 to g3",
            "execute the query once",
        ] {
            assert!(!task_removes(task), "{task}");
        }
        // A short file may shrink by half, and a whole rewrite of every line is no loss.
        assert!(whole("a = 1\nb = 2\nc = 3\n", "a = 1\n", None, "t").is_ok());
        let indented = file.replace("    return", "  return");
        assert!(whole(&file, &indented, Some("python"), "indent by two").is_ok());
        // Half the file kept is not refused by size; in Python, the functions it leaves out are
        // named (`symbols::left_out`).
        let half: String = file.lines().take(60).map(|l| format!("{l}\n")).collect();
        assert!(whole(&file, &half, None, "t").is_ok());
        let e = whole(&file, &half, Some("python"), "t").unwrap_err();
        assert_eq!(e.problem, Problem::Dropped);
        assert!(
            e.message
                .starts_with("your answer leaves out `def f15(x):`, `def f16(x):`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_placeholder_for_left_out_lines_is_refused_whatever_the_task() {
        let file: String = (0..12).map(|i| format!("x{i} = {i}\n")).collect();
        for line in [
            "# ... rest of the file unchanged",
            "# ...",
            "// existing code ...",
            "# (other functions unchanged)",
            "/* … remaining lines … */",
        ] {
            let answer = file.replace("x11 = 11\n", &format!("x11 = 12\n{line}\n"));
            let e = whole(&file, &answer, Some("python"), "remove nothing").unwrap_err();
            assert_eq!(e.problem, Problem::Dropped, "{line}");
            assert!(
                e.message.contains("line 13 of your answer"),
                "{}",
                e.message
            );
            let e = whole(&file, &answer, Some("python"), "delete x3").unwrap_err();
            assert_eq!(e.problem, Problem::Dropped, "{line}");
        }
        // A comment that is no placeholder, or one the file already holds, is content.
        for line in ["# count the items", "# TODO: more later", "print('...')"] {
            let answer = file.replace("x11 = 11\n", &format!("x11 = 12\n{line}\n"));
            assert!(whole(&file, &answer, None, "t").is_ok(), "{line}");
        }
        let own = format!("# ...\n{file}");
        assert!(whole(&own, &own.replace("x1 = 1\n", "x1 = 9\n"), None, "t").is_ok());
    }
}
