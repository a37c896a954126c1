//! A file's shape, kept through every write that replaces its text: the line ending of each line
//! (LF or CRLF, and a file may mix them), a UTF-8 byte-order mark, and whether the last line ends
//! with a line ending. A model writes text with whatever endings it likes, so an edit never takes
//! them from the answer: it splits the original into [`Line`]s, changes their text, and [`join`]s
//! them back with the original's marks. Only the lines an edit touched can change; a line the
//! model added takes the ending of the line it replaces or of its neighbour. A new file ends with
//! one line ending, CRLF when most of its lines end so. Whole-file edits, block edits and new
//! files all go through here, and the receipt's diff compares the exact bytes, so a change of any
//! of these marks would show.

/// The UTF-8 byte-order mark, as some Windows editors write it at the start of a file.
pub(crate) const BOM: char = '\u{feff}';

/// How a line ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Eol {
    Lf,
    CrLf,
}

impl Eol {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Eol::Lf => "\n",
            Eol::CrLf => "\r\n",
        }
    }
}

/// One line: its text without the ending, and the ending (`None` only for a last line without
/// one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub text: String,
    pub eol: Option<Eol>,
}

/// The marks of a file that are not its lines' text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub bom: bool,
    /// The ending most lines have: a line the file gets without one of its own takes it.
    pub majority: Eol,
    /// Whether the last line ends with a line ending (an empty file counts as yes).
    pub final_newline: bool,
}

/// A file split into its layout and lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Doc {
    pub layout: Layout,
    pub lines: Vec<Line>,
}

impl Doc {
    /// Splits `content`; [`Doc::join`] gives it back byte for byte.
    pub(crate) fn split(content: &str) -> Doc {
        let bom = content.starts_with(BOM);
        let body = content.strip_prefix(BOM).unwrap_or(content);
        let lines: Vec<Line> = body
            .split_inclusive('\n')
            .map(|piece| match piece.strip_suffix('\n') {
                Some(l) => match l.strip_suffix('\r') {
                    Some(l) => Line {
                        text: l.to_string(),
                        eol: Some(Eol::CrLf),
                    },
                    None => Line {
                        text: l.to_string(),
                        eol: Some(Eol::Lf),
                    },
                },
                None => Line {
                    text: piece.to_string(),
                    eol: None,
                },
            })
            .collect();
        let crlf = lines.iter().filter(|l| l.eol == Some(Eol::CrLf)).count();
        let lf = lines.iter().filter(|l| l.eol == Some(Eol::Lf)).count();
        Doc {
            layout: Layout {
                bom,
                majority: if crlf > lf { Eol::CrLf } else { Eol::Lf },
                final_newline: body.is_empty() || body.ends_with('\n'),
            },
            lines,
        }
    }

    /// The text of each line.
    pub(crate) fn texts(&self) -> Vec<&str> {
        self.lines.iter().map(|l| l.text.as_str()).collect()
    }

    /// The file again: the BOM if it had one, each line with its own ending (the majority's for
    /// a line without one that is no longer last), and the last line ending as the file's did.
    pub(crate) fn join(&self) -> String {
        let Layout {
            bom,
            majority,
            final_newline,
        } = self.layout;
        let mut out = String::new();
        if bom {
            out.push(BOM);
        }
        let n = self.lines.len();
        for (i, l) in self.lines.iter().enumerate() {
            out.push_str(&l.text);
            if i + 1 < n || final_newline {
                out.push_str(l.eol.unwrap_or(majority).as_str());
            }
        }
        out
    }

    /// The ending a line inserted before line `at` (0-based) takes: that of the line before it,
    /// else of the line it precedes, else the file's.
    pub(crate) fn eol_near(&self, at: usize) -> Eol {
        let before = at.checked_sub(1).and_then(|i| self.lines.get(i));
        before
            .and_then(|l| l.eol)
            .or_else(|| self.lines.get(at).and_then(|l| l.eol))
            .unwrap_or(self.layout.majority)
    }

    /// This file with its lines' text replaced by `texts` (a model's whole new file, already
    /// split): a line kept keeps its ending, a changed or added line takes the ending of the line
    /// it replaces or of its neighbour; the BOM and the final newline stay as they were.
    pub(crate) fn reshape(&self, texts: &[String]) -> String {
        let old = self.texts();
        let new: Vec<&str> = texts.iter().map(String::as_str).collect();
        let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &old, &new);
        let mut lines = Vec::with_capacity(texts.len());
        for op in ops {
            let (tag, o, n) = op.as_tag_tuple();
            for (k, j) in n.enumerate() {
                let eol = match tag {
                    similar::DiffTag::Equal => self.lines[o.start + k].eol,
                    similar::DiffTag::Replace => self.lines[(o.start + k).min(o.end - 1)].eol,
                    _ => Some(self.eol_near(o.start)),
                };
                lines.push(Line {
                    text: texts[j].clone(),
                    eol,
                });
            }
        }
        Doc {
            layout: self.layout,
            lines,
        }
        .join()
    }
}

/// The lines of a model's text, without their endings or a BOM. A final line ending ends the
/// last line rather than starting an empty one.
pub(crate) fn lines_of(text: &str) -> Vec<String> {
    let text = text.strip_prefix(BOM).unwrap_or(text);
    if text.is_empty() {
        return Vec::new();
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    body.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
        .collect()
}

/// A new artifact's text with trailing whitespace dropped and exactly one line ending added:
/// CRLF when more of its lines end so than with LF alone (a last line left with a lone `\r`
/// counts as CRLF), else LF. Empty when nothing but whitespace is left.
pub(crate) fn end_new(text: &str) -> String {
    let body = text.trim_end();
    if body.is_empty() {
        return String::new();
    }
    let crlf =
        text.matches("\r\n").count() + usize::from(text.trim_end_matches('\n').ends_with('\r'));
    let lf = text.matches('\n').count() - text.matches("\r\n").count();
    let eol = if crlf > lf { Eol::CrLf } else { Eol::Lf };
    format!("{body}{}", eol.as_str())
}

/// How a file is indented: with tabs, or with spaces in steps of this many columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Indent {
    Tabs,
    Spaces(usize),
}

impl Indent {
    /// The indentation style of these lines: tabs when more lines start with a tab than with a
    /// space; else spaces, in the step by which indentation most often grows (4 when none does).
    pub(crate) fn of<'a>(lines: impl IntoIterator<Item = &'a str>) -> Indent {
        let (mut tabs, mut spaces) = (0usize, 0usize);
        let mut steps = std::collections::HashMap::<usize, usize>::new();
        let mut last = 0usize;
        for l in lines {
            if l.trim().is_empty() {
                continue;
            }
            let lead = leading(l);
            if lead.starts_with('\t') {
                tabs += 1;
            } else if lead.starts_with(' ') {
                spaces += 1;
            }
            if !lead.contains('\t') {
                let w = lead.len();
                if w > last {
                    *steps.entry(w - last).or_default() += 1;
                }
                last = w;
            }
        }
        if tabs > spaces {
            return Indent::Tabs;
        }
        let step = steps
            .into_iter()
            .filter(|(s, _)| (1..=8).contains(s))
            .max_by_key(|&(s, n)| (n, std::cmp::Reverse(s)))
            .map_or(4, |(s, _)| s);
        Indent::Spaces(step)
    }

    /// `levels` steps of indentation.
    pub(crate) fn repeat(self, levels: usize) -> String {
        match self {
            Indent::Tabs => "\t".repeat(levels),
            Indent::Spaces(n) => " ".repeat(n * levels),
        }
    }
}

/// The leading whitespace of a line.
pub(crate) fn leading(line: &str) -> &str {
    &line[..line.len() - line.trim_start_matches([' ', '\t']).len()]
}

/// Columns of an indentation, a tab counting `tab` columns.
pub(crate) fn columns(indent: &str, tab: usize) -> usize {
    indent
        .chars()
        .map(|c| if c == '\t' { tab } else { 1 })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_join_give_the_bytes_back() {
        for s in [
            "",
            "a",
            "a\n",
            "a\r\nb\r\n",
            "a\r\nb\nc",
            "\u{feff}x = 1\r\n",
            "\n\n",
            "a\r",
            "\u{feff}",
        ] {
            assert_eq!(Doc::split(s).join(), s, "{s:?}");
        }
        let d = Doc::split("\u{feff}a\r\nb\r\nc\n");
        assert!(d.layout.bom && d.layout.final_newline);
        assert_eq!(d.layout.majority, Eol::CrLf);
        assert!(!Doc::split("a\nb").layout.final_newline);
    }

    #[test]
    fn reshape_keeps_each_lines_ending_the_bom_and_the_final_newline() {
        let texts = |s: &str| lines_of(s);
        // CRLF file, LF answer with one line changed.
        let d = Doc::split("a = 1\r\nb = 2\r\n");
        assert_eq!(d.reshape(&texts("a = 1\nb = 20\n")), "a = 1\r\nb = 20\r\n");
        // No final newline stays so, even when lines are added at the end.
        let d = Doc::split("x\ny");
        assert_eq!(d.reshape(&texts("x\ny\n")), "x\ny");
        assert_eq!(d.reshape(&texts("x\ny\nz\n")), "x\ny\nz");
        // The BOM stays whether or not the answer has it.
        let d = Doc::split("\u{feff}p = 1\n");
        assert_eq!(d.reshape(&texts("p = 2\n")), "\u{feff}p = 2\n");
        assert_eq!(d.reshape(&texts("\u{feff}p = 2")), "\u{feff}p = 2\n");
        // A mixed file keeps each line's ending; an added line takes its neighbour's.
        let d = Doc::split("a\r\nb\nc\r\nd\n");
        assert_eq!(
            d.reshape(&texts("a\nb\nB2\nc\nD\n")),
            "a\r\nb\nB2\nc\r\nD\n"
        );
        assert_eq!(d.reshape(&texts("a\nb\nc\nd\n")), "a\r\nb\nc\r\nd\n");
    }

    #[test]
    fn a_new_artifact_ends_with_one_line_ending_of_its_kind() {
        assert_eq!(end_new("x = 1"), "x = 1\n");
        assert_eq!(end_new("x\n\n\n"), "x\n");
        assert_eq!(end_new("@echo off\r\necho hi"), "@echo off\r\necho hi\r\n");
        assert_eq!(end_new("a\r\nb\r"), "a\r\nb\r\n");
        assert_eq!(end_new(" \n\t"), "");
    }

    #[test]
    fn indentation_style_is_read_from_the_lines() {
        assert_eq!(
            Indent::of(["def f():", "\tif a:", "\t\treturn 1"]),
            Indent::Tabs
        );
        assert_eq!(Indent::of(["def f():", "  x", "    y"]), Indent::Spaces(2));
        assert_eq!(Indent::of(["x"]), Indent::Spaces(4));
        assert_eq!(Indent::Tabs.repeat(2), "\t\t");
        assert_eq!(Indent::Spaces(2).repeat(2), "    ");
        assert_eq!(columns("\t  ", 4), 6);
        assert_eq!(leading("\t  x "), "\t  ");
    }
}
