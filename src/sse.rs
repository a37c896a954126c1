//! Server-sent events, as OpenAI-compatible backends stream them: pure, incremental parsing from
//! raw bytes to the payloads of `data:` lines, and from payloads to [`StreamEvent`]s.
//!
//! Every `data:` line is taken as one event. The SSE spec joins consecutive data lines until a
//! blank line, but no chat-completion backend sends multi-line data, and some (older llama.cpp
//! builds, proxies that re-chunk) omit the blank line between events; per-line dispatch reads
//! both correctly.

use serde::Deserialize;

/// A line longer than this is not an SSE line from a chat backend; stop rather than buffer it.
pub(crate) const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Default)]
pub(crate) struct SseParser {
    buf: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("an SSE line exceeded {MAX_LINE_BYTES} bytes")]
pub(crate) struct LineTooLong;

impl SseParser {
    /// Feeds bytes; appends the payload of every completed `data:` line to `out`.
    pub(crate) fn push(&mut self, chunk: &[u8], out: &mut Vec<String>) -> Result<(), LineTooLong> {
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            if self.buf.len() + pos > MAX_LINE_BYTES {
                self.buf.clear();
                return Err(LineTooLong);
            }
            self.buf.extend_from_slice(&rest[..pos]);
            rest = &rest[pos + 1..];
            let line = std::mem::take(&mut self.buf);
            if let Some(payload) = data_payload(&line) {
                out.push(payload);
            }
        }
        self.buf.extend_from_slice(rest);
        if self.buf.len() > MAX_LINE_BYTES {
            self.buf.clear();
            return Err(LineTooLong);
        }
        Ok(())
    }

    /// At end of stream: a last `data:` line without its newline still counts.
    pub(crate) fn finish(&mut self, out: &mut Vec<String>) {
        let line = std::mem::take(&mut self.buf);
        if let Some(payload) = data_payload(&line) {
            out.push(payload);
        }
    }
}

fn data_payload(line: &[u8]) -> Option<String> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let rest = line.strip_prefix(b"data:")?;
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    Some(String::from_utf8_lossy(rest).into_owned())
}

/// What one payload says.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct StreamEvent {
    pub content: String,
    pub reasoning: String,
    pub finish_reason: Option<String>,
    pub usage: Option<(u64, u64)>,
    /// An error object in the body (llama.cpp and Ollama send these with status 200).
    pub error: Option<String>,
    pub done: bool,
}

#[derive(Deserialize)]
struct ChunkWire {
    #[serde(default)]
    choices: Vec<ChoiceWire>,
    usage: Option<UsageWire>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ChoiceWire {
    delta: Option<DeltaWire>,
    // Non-streaming answers (a backend that ignores `stream: true`) carry `message` instead.
    message: Option<DeltaWire>,
    text: Option<String>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct DeltaWire {
    content: Option<String>,
    reasoning_content: Option<String>,
    // Ollama and OpenRouter name it `reasoning`.
    reasoning: Option<String>,
}

#[derive(Deserialize)]
struct UsageWire {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

/// Parses one payload; `None` for a payload that is not a chat-completion chunk.
pub(crate) fn parse_event(payload: &str) -> Option<StreamEvent> {
    let payload = payload.trim();
    if payload == "[DONE]" {
        return Some(StreamEvent {
            done: true,
            ..StreamEvent::default()
        });
    }
    let wire: ChunkWire = serde_json::from_str(payload).ok()?;
    let mut ev = StreamEvent {
        usage: wire
            .usage
            .map(|u| (u.prompt_tokens, u.completion_tokens))
            .filter(|&(p, c)| p > 0 || c > 0),
        error: wire.error.map(|e| error_message(&e)),
        ..StreamEvent::default()
    };
    for choice in wire.choices {
        if let Some(d) = choice.delta.or(choice.message) {
            ev.content.push_str(d.content.as_deref().unwrap_or(""));
            ev.reasoning
                .push_str(d.reasoning_content.or(d.reasoning).as_deref().unwrap_or(""));
        }
        if let Some(t) = choice.text {
            ev.content.push_str(&t);
        }
        if choice.finish_reason.is_some() {
            ev.finish_reason = choice.finish_reason;
        }
    }
    Some(ev)
}

/// The human message of an OpenAI-style error value: `{"message": …}`, a string, or the JSON.
pub(crate) fn error_message(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(o) => match o.get("message").or_else(|| o.get("error")) {
            Some(inner) => error_message(inner),
            None => v.to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(chunks: &[&[u8]]) -> Vec<String> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c, &mut out).unwrap();
        }
        p.finish(&mut out);
        out
    }

    #[test]
    fn splits_lines_across_chunks_and_crlf() {
        let out = feed(&[
            b"data: {\"a\"",
            b":1}\r\n\r\n: keep-alive\n",
            b"data:[DONE]",
        ]);
        assert_eq!(out, vec!["{\"a\":1}", "[DONE]"]);
    }

    #[test]
    fn events_without_blank_separator_still_split() {
        let out = feed(&[b"data: 1\ndata: 2\n\n"]);
        assert_eq!(out, vec!["1", "2"]);
    }

    #[test]
    fn ignores_other_fields_and_comments() {
        let out = feed(&[b"event: message\nid: 3\n:ping\nretry: 10\ndata: x\n\n"]);
        assert_eq!(out, vec!["x"]);
    }

    #[test]
    fn refuses_an_endless_line() {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        let big = vec![b'a'; MAX_LINE_BYTES + 1];
        assert_eq!(p.push(&big, &mut out), Err(LineTooLong));
    }

    #[test]
    fn parses_content_reasoning_finish_usage() {
        let ev = parse_event(
            r#"{"choices":[{"delta":{"content":"hi","reasoning_content":"hmm"},"finish_reason":null}]}"#,
        )
        .unwrap();
        assert_eq!(ev.content, "hi");
        assert_eq!(ev.reasoning, "hmm");
        let ev = parse_event(r#"{"choices":[{"delta":{},"finish_reason":"length"}]}"#).unwrap();
        assert_eq!(ev.finish_reason.as_deref(), Some("length"));
        let ev =
            parse_event(r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":34}}"#)
                .unwrap();
        assert_eq!(ev.usage, Some((12, 34)));
        let ev = parse_event(r#"{"choices":[{"delta":{"reasoning":"r"}}]}"#).unwrap();
        assert_eq!(ev.reasoning, "r");
        assert!(parse_event("[DONE]").unwrap().done);
    }

    #[test]
    fn parses_error_objects_and_rejects_garbage() {
        let ev = parse_event(r#"{"error":{"message":"model is loading","code":503}}"#).unwrap();
        assert_eq!(ev.error.as_deref(), Some("model is loading"));
        let ev = parse_event(r#"{"error":"boom"}"#).unwrap();
        assert_eq!(ev.error.as_deref(), Some("boom"));
        assert!(parse_event("{\"choices\":[{\"delta\":").is_none());
        assert!(parse_event("not json").is_none());
    }

    #[test]
    fn reads_a_non_streaming_answer() {
        let ev = parse_event(
            r#"{"choices":[{"message":{"role":"assistant","content":"x = 1"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#,
        )
        .unwrap();
        assert_eq!(ev.content, "x = 1");
        assert_eq!(ev.finish_reason.as_deref(), Some("stop"));
        assert_eq!(ev.usage, Some((3, 4)));
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn feed(chunks: &[&[u8]]) -> Result<Vec<String>, LineTooLong> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c, &mut out)?;
        }
        p.finish(&mut out);
        Ok(out)
    }

    /// Bytes that look like an SSE stream: data lines (JSON, `[DONE]`, garbage), comments,
    /// other fields, blank lines, CRLF and LF, with raw bytes mixed in.
    fn sse_like() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![
            "[ -~]{0,40}"
                .prop_map(|s| format!(
                    "data: {{\"choices\":[{{\"delta\":{{\"content\":{}}}}}]}}",
                    serde_json::Value::String(s)
                ))
                .prop_map(String::into_bytes),
            Just(b"data: [DONE]".to_vec()),
            "[ -~]{0,20}".prop_map(|s| format!("data:{s}").into_bytes()),
            "[ -~]{0,20}".prop_map(|s| format!(":{s}").into_bytes()),
            Just(b"event: message".to_vec()),
            Just(Vec::new()),
            proptest::collection::vec(any::<u8>(), 0..12),
        ];
        let ending = prop_oneof![Just(b"\n".to_vec()), Just(b"\r\n".to_vec())];
        proptest::collection::vec((line, ending), 0..24).prop_map(|lines| {
            lines
                .into_iter()
                .flat_map(|(mut l, e)| {
                    l.extend(e);
                    l
                })
                .collect()
        })
    }

    /// Splits `bytes` at the given fractions of its length.
    fn split_at<'a>(bytes: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for p in points {
            chunks.push(&bytes[start..p]);
            start = p;
        }
        chunks.push(&bytes[start..]);
        chunks
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_chunking_gives_the_payloads_of_one_chunk(
            bytes in prop_oneof![sse_like(), proptest::collection::vec(any::<u8>(), 0..256)],
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..16),
        ) {
            let whole = feed(&[&bytes]).unwrap();
            let chunked = feed(&split_at(&bytes, &cuts)).unwrap();
            prop_assert_eq!(whole, chunked);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            for payload in feed(&[&bytes]).unwrap() {
                let _ = parse_event(&payload);
            }
            let _ = parse_event(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn content_pieces_come_back_in_order(pieces in proptest::collection::vec(".{0,12}", 1..12), crlf in any::<bool>()) {
            let end = if crlf { "\r\n" } else { "\n" };
            let mut stream = String::new();
            for p in &pieces {
                let chunk = serde_json::json!({"choices":[{"delta":{"content":p}}]});
                stream.push_str(&format!("data: {chunk}{end}{end}"));
            }
            stream.push_str(&format!("data: [DONE]{end}"));
            let events: Vec<StreamEvent> = feed(&[stream.as_bytes()])
                .unwrap()
                .iter()
                .map(|p| parse_event(p).expect("a well-formed chunk parses"))
                .collect();
            let text: String = events.iter().map(|e| e.content.as_str()).collect();
            prop_assert_eq!(text, pieces.concat());
            prop_assert!(events.last().is_some_and(|e| e.done));
        }
    }

    // Found while writing the chunking property: a completed line used to be measured only when
    // its newline came in a later chunk, so the same stream was refused or accepted depending on
    // how the network cut it.
    #[test]
    fn the_line_cap_does_not_depend_on_chunking() {
        let mut line = b"data: ".to_vec();
        line.extend(std::iter::repeat_n(b'a', MAX_LINE_BYTES + 10));
        line.push(b'\n');
        let whole = feed(&[&line]);
        let halves = feed(&[&line[..MAX_LINE_BYTES + 8], &line[MAX_LINE_BYTES + 8..]]);
        assert_eq!(whole.is_err(), halves.is_err());
    }
}
