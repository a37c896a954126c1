//! The cost of fitting a prompt to the model's window, on a 5,000-line context (three framed
//! files: Python, TypeScript, CSV): the token estimate of the whole, and every file reduced (the
//! tree-sitter outline of the code, the head of the data). The median of repeated runs; printed,
//! never asserted. Target: under 20 ms.
//!
//! Run: `cargo bench --bench context` (or `cargo test --release --bench context`).

#[path = "support/cpu.rs"]
mod cpu;

use std::time::{Duration, Instant};

use cpu::cpu_now;

use local_executor_mcp::context::{estimate, outline::reduce_all};

const RUNS: usize = 21;

fn python(lines: usize) -> String {
    let mut out = String::from("import dataclasses\n\n\n");
    let mut i = 0;
    while out.lines().count() < lines {
        out.push_str(&format!(
            "@dataclasses.dataclass\nclass Item{i}:\n    id: int\n    price: float = 0.0\n\n    def total(self, qty: int) -> float:\n        \"\"\"Price of `qty` items, discounted past ten.\"\"\"\n        if qty > 10:\n            return self.price * qty * 0.9\n        return self.price * qty\n\n\n"
        ));
        i += 1;
    }
    out
}

fn typescript(lines: usize) -> String {
    let mut out = String::new();
    let mut i = 0;
    while out.lines().count() < lines {
        out.push_str(&format!(
            "export interface Item{i} {{\n  id: number;\n  price?: number;\n}}\n\nexport function total{i}(item: Item{i}, qty: number): number {{\n  const price = item.price ?? 0;\n  return qty > 10 ? price * qty * 0.9 : price * qty;\n}}\n\n"
        ));
        i += 1;
    }
    out
}

fn csv(lines: usize) -> String {
    (0..lines)
        .map(|i| format!("{i},item {i},{}.5\n", i % 97))
        .collect()
}

fn framed(files: &[(&str, String)]) -> String {
    files
        .iter()
        .map(|(path, body)| format!("\n\n### {path}\n```\n{}\n```", body.trim_end()))
        .collect()
}

/// Medians of (CPU time, wall time) over `RUNS` runs of `f`.
fn median(mut f: impl FnMut()) -> (Duration, Duration) {
    let (mut cpu, mut wall): (Vec<Duration>, Vec<Duration>) = (0..RUNS)
        .map(|_| {
            let (c, w) = (cpu_now(), Instant::now());
            f();
            (cpu_now() - c, w.elapsed())
        })
        .unzip();
    cpu.sort();
    wall.sort();
    (cpu[RUNS / 2], wall[RUNS / 2])
}

fn main() {
    let context = framed(&[
        ("src/items.py", python(2000)),
        ("src/items.ts", typescript(2000)),
        ("data/items.csv", csv(1000)),
    ]);
    let lines = context.lines().count();
    let reduced = reduce_all(&context).expect("the context is framed");
    let count = median(|| {
        std::hint::black_box(estimate(std::hint::black_box(&context)));
    });
    let outline = median(|| {
        std::hint::black_box(reduce_all(std::hint::black_box(&context)));
    });
    println!(
        "context fitting, {lines} lines, {} KB, ~{} tokens: estimate {:.3} ms, every file reduced {:.2} ms \
(to {} lines, ~{} tokens; CPU time, wall {:.2} ms; median of {RUNS})",
        context.len() / 1024,
        estimate(&context),
        count.0.as_secs_f64() * 1e3,
        outline.0.as_secs_f64() * 1e3,
        reduced.lines().count(),
        estimate(&reduced),
        outline.1.as_secs_f64() * 1e3,
    );
}
