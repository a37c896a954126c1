//! The checks of the models: each tier's model served by the backend (by the rule the server
//! uses, [`models::is_served`]), near matches of one that is not, and a one-token generation on
//! each, on that tier's own model: a delegation escalates a failed `fast` call to `quality`, a
//! check must not, or a fast model that cannot answer would pass on the quality model's answer.

use tokio_util::sync::CancellationToken;

use super::{Found, Report};
use crate::config::{Config, Tier};
use crate::engine::Engine;
use crate::failure::Reason;
use crate::models;
use crate::request::CodeRequest;
use crate::usage::UsageRecord;

/// The test generation's prompt; one token of any answer proves the model runs.
const TEST_TASK: &str = "Reply with the single word: ok";
/// Served ids named as near matches of a model id the backend does not serve, at most.
const MAX_NEAR_MATCHES: usize = 3;
/// Served ids listed in a fix line, at most.
const MAX_LISTED: usize = 8;

/// The tier's model: configured and served, or the default the server would pick. An unset fast
/// tier follows what was found for the quality tier.
pub(super) fn check_model(
    cfg: &Config,
    tier: Tier,
    served: &[String],
    quality: Option<&str>,
    report: &mut Report,
) -> Option<String> {
    let (configured, var) = match tier {
        Tier::Quality => (cfg.model_quality.as_deref(), "LOCAL_LLM_MODEL_QUALITY"),
        Tier::Fast => (cfg.model_fast.as_deref(), "LOCAL_LLM_MODEL_FAST"),
    };
    let name = tier.as_str();
    let Some(model) = configured else {
        if tier == Tier::Fast {
            return match quality {
                Some(q) => {
                    report.pass(format!(
                        "fast model not set: the quality model serves it ({q})"
                    ));
                    Some(q.to_string())
                }
                None => {
                    report.note("fast model not set: it follows the quality model");
                    None
                }
            };
        }
        return match models::first_suitable(served) {
            Some(m) => {
                report.pass(format!(
                    "quality model not set: the first suitable model listed serves it ({m}); {var} pins it"
                ));
                Some(m.clone())
            }
            None if served.is_empty() => {
                report.fail(
                    "the backend lists no models",
                    "load or configure a model in the backend (llama-swap's config, `ollama pull`, …)",
                );
                None
            }
            None => {
                report.fail(
                    "quality model not set, and the backend lists no model suited to code",
                    format!("set {var} to one of: {}", listed(served)),
                );
                None
            }
        };
    };
    if models::is_served(model, served) {
        match models::unsuited(model) {
            Some(why) => report.pass(format!(
                "{name} model {model} is served (warning: it looks like a {why}, unsuited to code)"
            )),
            None => report.pass(format!("{name} model {model} is served")),
        }
        return Some(model.to_string());
    }
    let near = near_matches(model, served);
    if near.is_empty() {
        report.fail(
            format!("{name} model {model} is not served by the backend"),
            format!("set {var} to one of: {}", listed(served)),
        );
    } else {
        let near: Vec<&str> = near.iter().map(|s| s.as_str()).collect();
        report.fail(
            format!(
                "{name} model {model} is not served; near matches: {}",
                near.join(", ")
            ),
            format!("set {var}={}", near[0]),
        );
    }
    None
}

fn listed(served: &[String]) -> String {
    if served.is_empty() {
        return "(the backend lists none)".into();
    }
    let mut s = served
        .iter()
        .take(MAX_LISTED)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if served.len() > MAX_LISTED {
        s.push_str(&format!(", … ({} in all)", served.len()));
    }
    s
}

/// Served ids close to `wanted`: the same once case and separators are ignored, one inside the
/// other, or a few edits apart. Closest first.
fn near_matches<'a>(wanted: &str, served: &'a [String]) -> Vec<&'a String> {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let w = squash(wanted);
    if w.is_empty() {
        return Vec::new();
    }
    let mut scored: Vec<(usize, &String)> = served
        .iter()
        .filter_map(|s| {
            let c = squash(s);
            let d = strsim::levenshtein(&w, &c);
            let close = d <= 3 || (!c.is_empty() && (c.contains(&w) || w.contains(&c)));
            close.then_some((d, s))
        })
        .collect();
    scored.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(MAX_NEAR_MATCHES)
        .map(|(_, s)| s)
        .collect()
}

/// One token on each tier's model (once when both tiers share it), through the same path a
/// delegation takes. Nothing is written to usage.jsonl: a check is not a delegation.
pub(super) async fn check_generation(engine: &Engine, found: &Found, report: &mut Report) {
    let mut tiers: Vec<(String, Tier, &str)> = Vec::new();
    for (tier, model) in [(Tier::Quality, &found.quality), (Tier::Fast, &found.fast)] {
        let Some(model) = model.as_deref() else {
            report.note(format!(
                "test generation on {} skipped: its model is not served",
                tier.as_str()
            ));
            continue;
        };
        match tiers.iter_mut().find(|(_, _, m)| *m == model) {
            Some((label, _, _)) => label.push_str(&format!(" and {}", tier.as_str())),
            None => tiers.push((tier.as_str().to_string(), tier, model)),
        }
    }
    for (label, tier, model) in tiers {
        let req = CodeRequest {
            task: TEST_TASK.into(),
            tier,
            max_tokens: Some(1),
            ..CodeRequest::default()
        };
        // Both tiers pinned to the model under test: there is nothing to escalate to.
        let mut pinned = (*engine.cfg).clone();
        pinned.model_quality = Some(model.to_string());
        pinned.model_fast = Some(model.to_string());
        let pinned = match Engine::new(pinned) {
            Ok(e) => e,
            Err(e) => {
                report.fail(
                    format!("test generation on {label} ({model}): {e:#}"),
                    "check LOCAL_LLM_BASE_URL",
                );
                continue;
            }
        };
        let mut record = UsageRecord::new("doctor");
        let result = pinned
            .delegate(&req, None, &CancellationToken::new(), &mut record)
            .await;
        match result {
            // One token of budget ends in finish_reason `length`: the model ran, which is the
            // point, as long as it produced a token.
            Err(f) if f.reason != Reason::Truncated || !answered(&record) => {
                report.fail(
                    format!(
                        "test generation on {label} ({model}): {}",
                        f.to_string().lines().next().unwrap_or_default()
                    ),
                    if f.detail.starts_with("HTTP 429") {
                        "the backend, or a gateway in front of it, is rate-limiting: raise its limit \
                         for this key and model, or try again later"
                            .into()
                    } else {
                        generation_fix(f.reason, engine)
                    },
                );
            }
            _ => {
                report.pass(format!(
                    "test generation on {label} ({model}): answered in {}",
                    elapsed(record.latency_ms)
                ));
            }
        }
    }
}

/// Whether a generation cut at the token limit produced anything: a model that stops there
/// without a token has not answered.
fn answered(record: &UsageRecord) -> bool {
    record.output_chars > 0 || record.completion_tokens > 0
}

fn generation_fix(reason: Reason, engine: &Engine) -> String {
    let cfg = &engine.cfg;
    match reason {
        Reason::Timeout => format!(
            "the model did not answer in time; a first load can take minutes: load it first, or raise \
             LOCAL_LLM_FIRST_TOKEN_TIMEOUT (now {} s)",
            cfg.first_token_timeout.as_secs_f64()
        ),
        Reason::Unreachable => "the backend stopped answering during the test; check that it stays up".into(),
        Reason::ModelMissing => {
            "the backend lists the model but would not run it; check the backend's log and its model config".into()
        }
        Reason::ContextTooLarge => {
            "the model's context is too small for even a short prompt; raise its context size (llama.cpp: -c)".into()
        }
        Reason::Empty | Reason::Truncated => {
            "the model produced no answer; try another model for this tier".into()
        }
        _ => "check the backend's log for this request".into(),
    }
}

/// Milliseconds under a second, where a loaded model answers; seconds above, where a load is.
fn elapsed(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_matches_ignore_case_separators_and_small_typos() {
        let served: Vec<String> = ["qwen3-coder-30b", "gemma-3-270m", "smollm2-135m"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            near_matches("Qwen3-Coder", &served),
            vec!["qwen3-coder-30b"]
        );
        assert_eq!(
            near_matches("qwen3_coder_30b", &served),
            vec!["qwen3-coder-30b"]
        );
        assert_eq!(near_matches("smolm2-135m", &served), vec!["smollm2-135m"]);
        assert_eq!(near_matches("gemma3:270m", &served), vec!["gemma-3-270m"]);
        assert!(near_matches("llama-3.1-70b", &served).is_empty());
        assert!(near_matches("--", &served).is_empty());
    }

    #[test]
    fn short_waits_print_in_milliseconds() {
        assert_eq!(elapsed(42), "42 ms");
        assert_eq!(elapsed(6_449), "6.4 s");
    }
}
