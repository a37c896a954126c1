//! What the backend serves, seen from the planner's side: which model serves which tier, which
//! are loaded, and which are unsuited to writing code. Renders `list_local_models`.

use crate::backend::Running;

/// Why a model id looks unsuited to code, if it does. Matched on the id's words, so `vl` in
/// `qwen2.5-vl-7b` counts and the `vl` inside `devlin` does not.
pub(crate) fn unsuited(id: &str) -> Option<&'static str> {
    let lower = id.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .collect();
    let has_word = |w: &str| words.contains(&w);
    let has_prefix = |p: &str| words.iter().any(|w| w.starts_with(p));
    if has_word("vl")
        || has_prefix("vision")
        || has_prefix("llava")
        || has_prefix("mmproj")
        || has_word("vlm")
    {
        return Some("vision model");
    }
    if has_prefix("embed") || has_prefix("rerank") || words.iter().any(|w| w.ends_with("embedding"))
    {
        return Some("embedding model");
    }
    if has_prefix("whisper") || has_word("tts") || has_prefix("audio") {
        return Some("speech model");
    }
    if lower.contains("translat")
        || has_prefix("nllb")
        || has_prefix("madlad")
        || lower.contains("opus-mt")
        || has_prefix("m2m100")
        || has_prefix("seamless")
    {
        return Some("translation model");
    }
    if [
        "iq1_s", "iq1_m", "iq2_xxs", "iq2_xs", "iq2_s", "iq2_m", "iq3_xxs", "q2_k",
    ]
    .iter()
    .any(|q| {
        has_word(q)
            || words
                .iter()
                .any(|w| w.ends_with(&format!("_{q}")) || w.starts_with(&format!("{q}_")))
    }) {
        return Some("ultra-low quant");
    }
    None
}

/// Whether the backend serves `model`. Ollama lists `name:latest` and answers to plain `name`.
pub(crate) fn is_served(model: &str, ids: &[String]) -> bool {
    ids.iter().any(|id| same_model(id, model))
}

fn same_model(id: &str, model: &str) -> bool {
    id == model || id.strip_suffix(":latest") == Some(model)
}

/// The first model the backend lists that is fit to write code.
pub(crate) fn first_suitable(ids: &[String]) -> Option<&String> {
    ids.iter().find(|id| unsuited(id).is_none())
}

/// The `list_local_models` answer: one compact line a model, then a line for each tier model the
/// backend does not serve.
pub(crate) fn render(
    ids: &[String],
    running: Option<&[Running]>,
    quality: Option<&str>,
    fast: Option<&str>,
) -> String {
    let mut out = String::new();
    for id in ids {
        out.push_str(id);
        let mut tags = Vec::new();
        if quality.is_some_and(|m| same_model(id, m)) {
            tags.push("tier=quality".to_string());
        }
        if fast.is_some_and(|m| same_model(id, m)) {
            tags.push("tier=fast".to_string());
        }
        if let Some(running) = running {
            match running.iter().find(|r| &r.model == id) {
                Some(r) if r.state.is_empty() || r.state == "ready" => tags.push("loaded".into()),
                Some(r) => tags.push(r.state.clone()),
                None => tags.push("not loaded".into()),
            }
        }
        if let Some(why) = unsuited(id) {
            tags.push(format!("warning: {why}, unsuited to code"));
        }
        if !tags.is_empty() {
            out.push_str(" · ");
            out.push_str(&tags.join(" · "));
        }
        out.push('\n');
    }
    if ids.is_empty() {
        out.push_str("The backend lists no models.\n");
    }
    for (tier, model) in [("quality", quality), ("fast", fast)] {
        if let Some(m) = model
            && !is_served(m, ids)
        {
            out.push_str(&format!(
                "warning: the {tier} model {m} is not served by the backend\n"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_models_unsuited_to_code() {
        assert_eq!(unsuited("Qwen2.5-VL-7B-Instruct"), Some("vision model"));
        assert_eq!(unsuited("llava-1.6"), Some("vision model"));
        assert_eq!(unsuited("nomic-embed-text"), Some("embedding model"));
        assert_eq!(unsuited("qwen3-embedding-0.6b"), Some("embedding model"));
        assert_eq!(unsuited("nllb-200"), Some("translation model"));
        assert_eq!(unsuited("qwen3-coder-30b-iq2_xxs"), Some("ultra-low quant"));
        assert_eq!(
            unsuited("Qwen3-30B-A3B-UD-IQ3_XXS"),
            Some("ultra-low quant")
        );
        assert_eq!(unsuited("qwen3.6-35b-a3b-q8_0"), None);
        assert_eq!(unsuited("devlin-coder"), None);
        assert_eq!(unsuited("smollm2"), None);
    }

    #[test]
    fn ollama_latest_tags_count_as_served() {
        let ids = vec!["qwen3:latest".to_string(), "coder".to_string()];
        assert!(is_served("qwen3", &ids));
        assert!(is_served("qwen3:latest", &ids));
        assert!(is_served("coder", &ids));
        assert!(!is_served("qwen", &ids));
    }

    #[test]
    fn ollama_latest_tags_get_their_tier_and_no_warning() {
        let ids = vec!["qwen2.5-coder:latest".to_string()];
        let text = render(&ids, None, Some("qwen2.5-coder"), Some("qwen2.5-coder"));
        assert_eq!(text, "qwen2.5-coder:latest · tier=quality · tier=fast\n");
    }

    #[test]
    fn first_suitable_skips_the_unsuited() {
        let ids = vec!["whisper-large".to_string(), "gemma3".to_string()];
        assert_eq!(first_suitable(&ids).map(String::as_str), Some("gemma3"));
    }

    #[test]
    fn renders_tiers_loaded_state_and_missing_models() {
        let ids = vec![
            "big".to_string(),
            "small".to_string(),
            "qwen-vl".to_string(),
        ];
        let running = vec![Running {
            model: "big".into(),
            state: "ready".into(),
        }];
        let text = render(&ids, Some(&running), Some("big"), Some("tiny"));
        assert_eq!(
            text,
            "big · tier=quality · loaded\nsmall · not loaded\nqwen-vl · not loaded · warning: vision model, unsuited to code\n\
             warning: the fast model tiny is not served by the backend\n"
        );
        let text = render(&ids[..1], None, None, None);
        assert_eq!(text, "big\n");
    }
}
