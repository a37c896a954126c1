//! The in-process syntax check's cost on a 1,000-line file, the median of repeated runs, for
//! Python and TypeScript: the parse, the walk for an error and the language's own rules (Python's
//! indentation pass and compiler rules), as the engine runs them on every artifact. The figure is
//! the thread's CPU time, which a busy machine does not inflate as it does the wall clock (both
//! are printed). Printed, never asserted.
//!
//! Run: `cargo bench --bench check` (or `cargo test --release --bench check`).

#[path = "support/cpu.rs"]
mod cpu;
use cpu::cpu_now;
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

/// Medians of (CPU time, wall time) over `RUNS` checks of `text`, which must fail or not as
/// `fails` says.
fn median(lang: Lang, text: &str, fails: bool) -> (Duration, Duration) {
    assert_eq!(
        syntax_error(lang, text).is_some(),
        fails,
        "the {lang:?} sample: {:?}",
        syntax_error(lang, text)
    );
    let (mut cpu, mut wall): (Vec<Duration>, Vec<Duration>) = (0..RUNS)
        .map(|_| {
            let (c, w) = (cpu_now(), Instant::now());
            std::hint::black_box(syntax_error(lang, std::hint::black_box(text)));
            (cpu_now() - c, w.elapsed())
        })
        .unzip();
    cpu.sort();
    wall.sort();
    (cpu[RUNS / 2], wall[RUNS / 2])
}

fn main() {
    // `cargo test --benches` runs this binary too; one quick pass is enough there.
    let samples = [
        ("python", Lang::Python, python(LINES)),
        ("typescript", Lang::TypeScript, typescript(LINES)),
    ];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (name, lang, text) in &samples {
        let ok = median(*lang, text, false);
        let mut broken = text.clone();
        broken.push_str("def (:\n");
        let bad = median(*lang, &broken, true);
        println!(
            "syntax check, {name}, {} lines, {} KB: valid {:.2} ms, with an error at the end {:.2} ms (CPU time; wall {:.2} / {:.2} ms; median of {RUNS})",
            text.lines().count(),
            text.len() / 1024,
            ms(ok.0),
            ms(bad.0),
            ms(ok.1),
            ms(bad.1),
        );
    }
}
