//! Pure text work on what the model wrote: drop think blocks, one wrapping markdown fence and a
//! leading chatter line, end with one newline; then check the artifact parses for its language.
//! Nothing here alters the inside of the artifact.

const FENCE_MIN: usize = 3;

/// Cleans a model's raw content into the artifact. The result is empty or ends in exactly one `\n`.
pub(crate) fn clean(raw: &str, language: Option<&str>) -> String {
    let text = strip_think(raw);
    let lines: Vec<&str> = text.lines().collect();
    let Some(first) = lines.iter().position(|l| !l.trim().is_empty()) else {
        return String::new();
    };
    let last = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .unwrap_or(first);
    let body = &lines[first..=last];

    let markdown =
        language.is_some_and(|l| matches!(l.to_ascii_lowercase().as_str(), "markdown" | "md"));
    let chatter = usize::from(is_chatter(body[0]) && body.len() > 1);
    let kept = unfence(&body[chatter..], markdown).unwrap_or(&body[chatter..]);
    let mut out = kept.join("\n");
    let trimmed_len = out.trim_end().len();
    out.truncate(trimmed_len);
    if out.trim().is_empty() {
        return String::new();
    }
    out.push('\n');
    out
}

/// Drops a leading `<think>…</think>` (several, or one left unclosed), and the tail of a think
/// block whose opening tag was in the prompt (Qwen3's template ends the prompt with `<think>`).
fn strip_think(raw: &str) -> &str {
    let mut rest = raw;
    if let Some(close) = rest.find("</think>")
        && !rest[..close].contains("<think>")
    {
        rest = &rest[close + "</think>".len()..];
    }
    loop {
        let t = rest.trim_start();
        let Some(after_open) = t.strip_prefix("<think>") else {
            return rest;
        };
        match after_open.find("</think>") {
            Some(close) => rest = &after_open[close + "</think>".len()..],
            // The model was still thinking when it stopped: there is no artifact.
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

/// Checks that the artifact parses as `language`, for the formats that can be checked.
pub(crate) fn validate(artifact: &str, language: Option<&str>) -> Result<(), String> {
    let Some(lang) = language else {
        return Ok(());
    };
    match lang.to_ascii_lowercase().as_str() {
        "json" => serde_json::from_str::<serde::de::IgnoredAny>(artifact)
            .map(|_| ())
            .map_err(|e| format!("the output is not valid JSON: {e}")),
        "yaml" | "yml" => yaml_rust2::YamlLoader::load_from_str(artifact)
            .map(|_| ())
            .map_err(|e| format!("the output is not valid YAML: {e}")),
        "toml" => toml::from_str::<toml::Table>(artifact)
            .map(|_| ())
            .map_err(|e| format!("the output is not valid TOML: {}", e.message())),
        "xml" => {
            validate_xml(artifact).map_err(|e| format!("the output is not well-formed XML: {e}"))
        }
        "csv" => validate_csv(artifact).map_err(|e| format!("the output is not valid CSV: {e}")),
        _ => Ok(()),
    }
}

fn validate_xml(text: &str) -> Result<(), String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let (mut depth, mut roots) = (0usize, 0usize);
    loop {
        match reader
            .read_event()
            .map_err(|e| format!("at byte {}: {e}", reader.error_position()))?
        {
            Event::Start(_) => {
                if depth == 0 {
                    roots += 1;
                }
                depth += 1;
            }
            Event::Empty(_) if depth == 0 => roots += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Text(t) if depth == 0 && !AsRef::<str>::as_ref(&t).trim().is_empty() => {
                return Err("text outside the root element".into());
            }
            Event::Eof => break,
            _ => {}
        }
    }
    match (depth, roots) {
        (0, 1) => Ok(()),
        (0, 0) => Err("no root element".into()),
        (0, _) => Err("more than one root element".into()),
        _ => Err(format!("{depth} element(s) left open")),
    }
}

fn validate_csv(text: &str) -> Result<(), String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    let mut rows = 0usize;
    for record in reader.records() {
        record.map_err(|e| e.to_string())?;
        rows += 1;
    }
    if rows == 0 {
        return Err("no rows".into());
    }
    Ok(())
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
    fn tilde_fences_work_too() {
        assert_eq!(clean("~~~\nplain\n~~~", None), "plain\n");
    }

    #[test]
    fn single_line_chatter_is_kept_as_the_artifact() {
        assert_eq!(clean("Sure, done.", None), "Sure, done.\n");
    }

    #[test]
    fn structured_formats_are_validated() {
        assert!(validate("a: 1\nb: [1, 2]\n", Some("yaml")).is_ok());
        assert!(validate("a: [1, 2\n", Some("yaml")).is_err());
        assert!(validate("[s]\nk = 1\n", Some("toml")).is_ok());
        assert!(validate("[s\nk = \n", Some("toml")).is_err());
        assert!(validate("<a><b/>t</a>\n", Some("xml")).is_ok());
        assert!(validate("<?xml version=\"1.0\"?>\n<a/>\n", Some("xml")).is_ok());
        assert!(validate("<a><b></a>\n", Some("xml")).is_err());
        assert!(validate("<a>\n", Some("xml")).is_err());
        assert!(validate("<a/><b/>\n", Some("xml")).is_err());
        assert!(validate("a,b\n1,2\n", Some("csv")).is_ok());
        assert!(validate("a,b\n1,2,3\n", Some("csv")).is_err());
    }

    #[test]
    fn json_is_validated() {
        assert!(validate("{\"a\": 1}\n", Some("json")).is_ok());
        assert!(validate("{\"a\": }\n", Some("JSON")).is_err());
        assert!(validate("anything", Some("python")).is_ok());
        assert!(validate("anything", None).is_ok());
    }
}
