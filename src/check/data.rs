//! The data formats' parse check: JSON, YAML, TOML, XML and CSV, each by its own parser, with
//! the parser's message on failure.

use super::Lang;

/// Whether `lang` is one of the data formats parsed here.
pub(crate) fn is_data(lang: Lang) -> bool {
    matches!(
        lang,
        Lang::Json | Lang::Yaml | Lang::Toml | Lang::Xml | Lang::Csv
    )
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
