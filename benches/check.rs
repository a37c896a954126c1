//! The in-process syntax check's cost on a 1,000-line file, the median of repeated runs, for
//! Python and TypeScript: the parse and the walk for an error, as the engine runs them on every
//! artifact. Printed, never asserted.
//!
//! Run: `cargo bench --bench check` (or `cargo test --release --bench check`).

use std::time::{Duration, Instant};

use local_executor_mcp::check::{Lang, syntax_error};

const RUNS: usize = 51;
const LINES: usize = 1000;

fn python(lines: usize) -> String {
    let mut out = String::from("import dataclasses\nfrom typing import Optional\n\n\n");
    let mut i = 0;
    while out.lines().count() < lines - 10 {
        out.push_str(&format!(
            "@dataclasses.dataclass\nclass Item{i}:\n    id: int\n    name: str\n    price: float = 0.0\n    tags: Optional[list[str]] = None\n\n    def total(self, qty: int) -> float:\n        \"\"\"Price of `qty` items, discounted past ten.\"\"\"\n        if qty > 10:\n            return self.price * qty * 0.9\n        return self.price * qty\n\n\n"
        ));
        i += 1;
    }
    out
}

fn typescript(lines: usize) -> String {
    let mut out = String::from("import { z } from \"zod\";\n\n");
    let mut i = 0;
    while out.lines().count() < lines - 10 {
        out.push_str(&format!(
            "export interface Item{i} {{\n  id: number;\n  name: string;\n  price?: number;\n  tags: readonly string[];\n}}\n\nexport function total{i}(item: Item{i}, qty: number): number {{\n  const price = item.price ?? 0;\n  return qty > 10 ? price * qty * 0.9 : price * qty;\n}}\n\nexport const schema{i} = z.object({{ id: z.number(), name: z.string() }});\n\n"
        ));
        i += 1;
    }
    out
}

fn median(lang: Lang, text: &str) -> Duration {
    assert_eq!(
        syntax_error(lang, text),
        None,
        "the {lang:?} sample must parse"
    );
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let result = syntax_error(lang, std::hint::black_box(text));
            let took = start.elapsed();
            std::hint::black_box(result);
            took
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn main() {
    // `cargo test --benches` runs this binary too; one quick pass is enough there.
    let samples = [
        ("python", Lang::Python, python(LINES)),
        ("typescript", Lang::TypeScript, typescript(LINES)),
    ];
    for (name, lang, text) in &samples {
        let ok = median(*lang, text);
        let mut broken = text.clone();
        broken.push_str("def (:\n");
        let bad = median_err(*lang, &broken);
        println!(
            "syntax check, {name}, {} lines, {} KB: valid {:.2} ms, with an error at the end {:.2} ms (median of {RUNS})",
            text.lines().count(),
            text.len() / 1024,
            ok.as_secs_f64() * 1e3,
            bad.as_secs_f64() * 1e3,
        );
    }
}

fn median_err(lang: Lang, text: &str) -> Duration {
    assert!(
        syntax_error(lang, text).is_some(),
        "the broken {lang:?} sample must fail"
    );
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(syntax_error(lang, std::hint::black_box(text)));
            start.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}
