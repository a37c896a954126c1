//! `stats --html`: one self-contained page a team lead opens from disk and believes. No script,
//! no network (a Content-Security-Policy that allows neither says so to the browser), styles and
//! charts inline ([`super::svg`]); the numbers are those of `stats --json`, worked out by the
//! same code, and the headline is the text report's, word for word. Each chart has a title that
//! says what it means in a sentence, axes with their units, and a table view for screen readers
//! and for anyone who wants the figures. An empty log gives a page that says so.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::time::SystemTime;

use chrono::{Datelike, Days, NaiveDate};

use super::acc::Acc;
use super::saving::{Saving, ratio};
use super::summary::{CheckKey, Summary};
use super::svg::{self, Axis, Series, esc};
use super::text::{percent, seconds, thousands, u};
use super::time::format_time;
use super::{METHOD, Prices, key_name};
use crate::stats::StatsKey;

/// A daily trend up to this many days; weeks above, so a year is 53 columns.
const MAX_DAYS: i64 = 92;

const OK_CHECKED: &str = "#1b7a3a";
const OK_UNCHECKED: &str = "#8cc88f";
/// `DELEGATION_FAILED` reasons, the most frequent first: warm and dark hues, apart from the greens.
const REASONS: [&str; 8] = [
    "#d1495b", "#e8871e", "#7b3294", "#8c510a", "#c51b7d", "#4d4d4d", "#b8860b", "#2c7fb8",
];
const GAIN: &str = "#1b7a3a";
const LOSS: &str = "#d1495b";
const BLUE: &str = "#2c6fbb";
const LIGHT_BLUE: &str = "#9cc3e6";
const GREY: &str = "#b9b9b9";

const STYLE: &str = "\
:root{color-scheme:light;--ink:#1d232b;--muted:#5b6673;--line:#dfe3e8;--bg:#f6f7f9}\
*{box-sizing:border-box}\
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}\
main{max-width:1000px;margin:0 auto;padding:28px 20px 48px}\
h1{font-size:22px;margin:0 0 4px}\
h2{font-size:16px;margin:0 0 4px}\
.meta,.note,footer{color:var(--muted);font-size:13px}\
.meta{margin:0 0 18px;overflow-wrap:anywhere}\
section,figure{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 18px;margin:0 0 16px}\
.hero h2{font-weight:600;color:var(--muted)}\
.figure{font-size:34px;font-weight:700;margin:2px 0 6px;letter-spacing:-.01em}\
.gain{color:#1b7a3a}.loss{color:#b3263a}\
.formula{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px;background:var(--bg);border-radius:6px;padding:8px 10px;margin:0 0 8px;overflow-wrap:anywhere}\
.note{margin:4px 0 0}\
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:10px;margin:0}\
.kpis div{background:var(--bg);border-radius:6px;padding:8px 10px}\
.kpis dt{color:var(--muted);font-size:12px}.kpis dd{margin:0;font-size:20px;font-weight:650}\
.kpis dd small{display:block;font-size:12px;font-weight:400;color:var(--muted)}\
figure h2{margin-bottom:8px}\
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:4px 14px;padding:0;margin:0 0 6px;font-size:13px}\
.legend span{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;vertical-align:-1px}\
svg.chart{width:100%;height:auto;display:block}\
svg text{font:12px system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;fill:#3a4450}\
svg text.axis{fill:#5b6673}svg text.value{font-size:11px;fill:#5b6673}\
svg line.grid{stroke:#eceff2}svg line.zero{stroke:#8a94a0}\
details{margin-top:6px;font-size:13px}summary{cursor:pointer;color:var(--muted)}\
table{border-collapse:collapse;margin-top:6px;font-variant-numeric:tabular-nums}\
th,td{padding:3px 10px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}\
th[scope=row],thead th:first-child{text-align:left}\
caption{text-align:left;color:var(--muted);padding-bottom:4px}\
.empty{font-size:18px;margin:8px 0}\
";

/// The trend's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Period {
    Day,
    Week,
}

impl Period {
    fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
        }
    }
}

/// The days of the summary as a gapless run of days or weeks, empty ones included: an axis of
/// time with holes would tell a wrong story.
fn periods(days: &BTreeMap<String, Acc>, by_day: bool) -> (Period, Vec<(NaiveDate, Acc)>) {
    let parsed: Vec<(NaiveDate, &Acc)> = days
        .iter()
        .filter_map(|(d, a)| Some((NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()?, a)))
        .collect();
    let (Some(first), Some(last)) = (parsed.first(), parsed.last()) else {
        return (Period::Day, Vec::new());
    };
    let (first, last) = (first.0, last.0);
    let period = if by_day || (last - first).num_days() < MAX_DAYS {
        Period::Day
    } else {
        Period::Week
    };
    let start_of = |d: NaiveDate| match period {
        Period::Day => d,
        Period::Week => d - Days::new(u64::from(d.weekday().num_days_from_monday())),
    };
    let step = match period {
        Period::Day => Days::new(1),
        Period::Week => Days::new(7),
    };
    let mut out: Vec<(NaiveDate, Acc)> = Vec::new();
    let mut d = start_of(first);
    while d <= last {
        out.push((d, Acc::default()));
        match d.checked_add_days(step) {
            Some(next) => d = next,
            None => break,
        }
    }
    for (day, acc) in parsed {
        let start = start_of(day);
        if let Some((_, p)) = out.iter_mut().find(|(d, _)| *d == start) {
            p.merge(acc);
        }
    }
    for (_, p) in &mut out {
        p.finish();
    }
    (period, out)
}

/// The failure reasons of the whole range, the most frequent first: one colour each, the same
/// in every chart.
fn reason_order(total: &Acc) -> Vec<String> {
    let mut r: Vec<(&String, &u64)> = total.failed_by_reason.iter().collect();
    r.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    r.into_iter().map(|(k, _)| k.clone()).collect()
}

/// One coloured series an outcome: ok and checked, ok and not checked, each failure reason.
fn outcome_series<'a>(
    accs: impl Iterator<Item = &'a Acc> + Clone,
    order: &[String],
) -> Vec<Series> {
    let mut out = vec![
        Series {
            name: "ok, checked and passed".into(),
            color: OK_CHECKED,
            values: accs.clone().map(|a| a.ok_checked as f64).collect(),
        },
        Series {
            name: "ok, unchecked".into(),
            color: OK_UNCHECKED,
            values: accs.clone().map(|a| a.ok_unchecked() as f64).collect(),
        },
    ];
    for (i, r) in order.iter().enumerate() {
        out.push(Series {
            name: format!("DELEGATION_FAILED: {r}"),
            color: REASONS[i % REASONS.len()],
            values: accs
                .clone()
                .map(|a| a.failed_by_reason.get(r).copied().unwrap_or(0) as f64)
                .collect(),
        });
    }
    out
}

fn count(v: f64) -> String {
    thousands(v.round() as i64)
}

fn pct(v: f64) -> String {
    format!("{}%", thousands(v.round() as i64))
}

fn secs(v: f64) -> String {
    if v == v.trunc() {
        format!("{v} s")
    } else {
        format!("{v:.1} s")
    }
}

fn legend(series: &[Series]) -> String {
    let mut out = String::from("<ul class=\"legend\" aria-hidden=\"true\">");
    for s in series {
        let _ = write!(
            out,
            "<li><span style=\"background:{}\"></span>{}</li>",
            s.color,
            esc(&s.name)
        );
    }
    out.push_str("</ul>");
    out
}

/// A table for screen readers and for the figures themselves: a header row, then rows whose
/// first cell names them.
fn table(caption: &str, head: &[String], rows: &[(String, Vec<String>)]) -> String {
    let mut out = format!(
        "<details><summary>Table view</summary><table><caption>{}</caption><thead><tr>",
        esc(caption)
    );
    for h in head {
        let _ = write!(out, "<th scope=\"col\">{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for (key, cells) in rows {
        let _ = write!(out, "<tr><th scope=\"row\">{}</th>", esc(key));
        for c in cells {
            let _ = write!(out, "<td>{}</td>", esc(c));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></details>");
    out
}

/// A chart with its sentence of a title, its legend, the SVG and its table.
fn figure(id: &str, title: &str, body: &str) -> String {
    format!(
        "<figure id=\"{id}\" class=\"chart-figure\"><h2 id=\"{id}-title\">{}</h2>{body}</figure>",
        esc(title)
    )
}

fn outcome_head(order: &[String], first: &str) -> Vec<String> {
    let mut head = vec![
        first.to_string(),
        "delegations".into(),
        "ok, checked".into(),
        "ok, unchecked".into(),
    ];
    head.extend(order.iter().map(|r| format!("failed: {r}")));
    head
}

fn outcome_cells(a: &Acc, order: &[String]) -> Vec<String> {
    let mut cells = vec![u(a.calls), u(a.ok_checked), u(a.ok_unchecked())];
    cells.extend(
        order
            .iter()
            .map(|r| u(a.failed_by_reason.get(r).copied().unwrap_or(0))),
    );
    cells
}

fn period_label(period: Period, d: NaiveDate) -> String {
    match period {
        Period::Day => d.format("%Y-%m-%d").to_string(),
        Period::Week => format!("week of {}", d.format("%Y-%m-%d")),
    }
}

fn time_axis(period: Period, run: &[(NaiveDate, Acc)]) -> Axis {
    let (first, last) = (run[0].0, run[run.len() - 1].0);
    Axis {
        title: match period {
            Period::Day => format!("day (UTC), {first} to {last}"),
            Period::Week => format!("week starting Monday (UTC), {first} to {last}"),
        },
        fmt: count,
    }
}

/// The net saving per period, above and below zero.
fn trend(run: &[(NaiveDate, Acc)], period: Period, prices: Prices) -> String {
    let labels: Vec<String> = run
        .iter()
        .map(|(d, _)| d.format("%m-%d").to_string())
        .collect();
    let values: Vec<f64> = run
        .iter()
        .map(|(_, a)| a.priced_net(prices.ratio))
        .collect();
    let p = period.name();
    let title = format!(
        "Net saving per {p}, priced as a planner pays: a bar above zero saved the planner money \
         that {p}, a bar below cost it more than writing the artifacts itself."
    );
    let mut body = String::new();
    if run.len() < 2 {
        let _ = write!(
            body,
            "<p class=\"note\">One {p} of data so far: a trend needs two. The figures are in the table.</p>"
        );
    } else {
        body.push_str(&legend(&[
            Series {
                name: "saved".into(),
                color: GAIN,
                values: Vec::new(),
            },
            Series {
                name: "cost more than it saved".into(),
                color: LOSS,
                values: Vec::new(),
            },
        ]));
        body.push_str(&svg::signed_columns(
            &labels,
            &values,
            (GAIN, LOSS),
            &time_axis(period, run),
            &Axis {
                title: "output tokens' worth".into(),
                fmt: count,
            },
            "trend-title",
        ));
    }
    let mut cumulative = 0.0;
    let rows: Vec<(String, Vec<String>)> = run
        .iter()
        .map(|(d, a)| {
            let net = a.priced_net(prices.ratio);
            cumulative += net;
            (
                period_label(period, *d),
                vec![
                    u(a.calls),
                    thousands(a.artifact_tokens()),
                    thousands(a.planner_tokens()),
                    thousands(a.result_tokens()),
                    thousands(net.round() as i64),
                    thousands(cumulative.round() as i64),
                ],
            )
        })
        .collect();
    body.push_str(&table(
        &format!("Net saving per {p}, in output tokens' worth"),
        &[
            p.to_string(),
            "delegations".into(),
            "tokens landed on disk".into(),
            "planner wrote".into(),
            "planner read back".into(),
            "net saving".into(),
            "running total".into(),
        ],
        &rows,
    ));
    figure("trend", &title, &body)
}

fn outcomes_over_time(run: &[(NaiveDate, Acc)], period: Period, order: &[String]) -> String {
    let p = period.name();
    let series = outcome_series(run.iter().map(|(_, a)| a), order);
    let labels: Vec<String> = run
        .iter()
        .map(|(d, _)| d.format("%m-%d").to_string())
        .collect();
    let title = format!(
        "Delegations per {p} by outcome: the greens ended ok (dark: checked and passed), each \
         other colour is a DELEGATION_FAILED reason, which the planner then did itself."
    );
    let mut body = String::new();
    if run.len() < 2 {
        let _ = write!(
            body,
            "<p class=\"note\">One {p} of data so far: a trend needs two. The figures are in the table.</p>"
        );
    } else {
        body.push_str(&legend(&series));
        body.push_str(&svg::columns(
            &labels,
            &series,
            &time_axis(period, run),
            &Axis {
                title: "delegations (calls)".into(),
                fmt: count,
            },
            "outcomes-time-title",
        ));
    }
    let rows: Vec<(String, Vec<String>)> = run
        .iter()
        .map(|(d, a)| (period_label(period, *d), outcome_cells(a, order)))
        .collect();
    body.push_str(&table(
        &format!("Delegations per {p} by outcome"),
        &outcome_head(order, p),
        &rows,
    ));
    figure("outcomes-time", &title, &body)
}

fn outcomes_by(key: StatsKey, map: &BTreeMap<String, Acc>, order: &[String]) -> String {
    let name = key_name(key);
    let rows = Summary::rows(key, map);
    let keys: Vec<String> = rows.iter().map(|(k, _)| (*k).clone()).collect();
    let series = outcome_series(rows.iter().map(|(_, a)| *a), order);
    let id = format!("outcomes-{name}");
    let what = match key {
        StatsKey::Model => "model that gave the final answer",
        StatsKey::Tier => "tier asked for",
        StatsKey::Client => "MCP client",
        StatsKey::Day => "day",
    };
    let title = format!(
        "Delegations by {what} and outcome: how much of each one's work ended ok, and why the \
         rest failed."
    );
    let mut body = legend(&series);
    body.push_str(&svg::bars(
        &keys,
        &series,
        true,
        &Axis {
            title: "delegations (calls)".into(),
            fmt: count,
        },
        None,
        &format!("{id}-title"),
    ));
    let table_rows: Vec<(String, Vec<String>)> = rows
        .iter()
        .map(|(k, a)| ((*k).clone(), outcome_cells(a, order)))
        .collect();
    body.push_str(&table(
        &format!("Delegations by {name} and outcome"),
        &outcome_head(order, name),
        &table_rows,
    ));
    figure(&id, &title, &body)
}

fn checks_by_language(map: &BTreeMap<String, Acc>) -> String {
    let title = "How often an answer failed a check, and how often a repair was asked for, by \
                 language: a share of the calls a check applied to.";
    if map.is_empty() {
        return figure(
            "checks-language",
            title,
            "<p class=\"note\">No call in this range had a check applied to its answer.</p>",
        );
    }
    let rows = Summary::check_rows(map);
    let keys: Vec<String> = rows.iter().map(|(k, _)| (*k).clone()).collect();
    let share = |f: fn(&Acc) -> Option<f64>| -> Vec<f64> {
        rows.iter()
            .map(|(_, a)| f(a).unwrap_or(0.0) * 100.0)
            .collect()
    };
    let series = [
        Series {
            name: "failed a check".into(),
            color: LOSS,
            values: share(Acc::check_failure_rate),
        },
        Series {
            name: "needed a repair".into(),
            color: BLUE,
            values: share(Acc::repair_rate),
        },
    ];
    let mut body = legend(&series);
    body.push_str(&svg::bars(
        &keys,
        &series,
        false,
        &Axis {
            title: "% of the calls with checks".into(),
            fmt: pct,
        },
        Some(100.0),
        "checks-language-title",
    ));
    let table_rows: Vec<(String, Vec<String>)> = rows
        .iter()
        .map(|(k, a)| {
            (
                (*k).clone(),
                vec![
                    u(a.checked_calls),
                    u(a.check_failed),
                    percent(a.check_failure_rate()),
                    u(a.repaired_calls),
                    percent(a.repair_rate()),
                    u(a.repairs),
                    u(a.ok_checked),
                ],
            )
        })
        .collect();
    body.push_str(&table(
        "Checks and repairs by language",
        &[
            "language".into(),
            "with checks".into(),
            "failed a check".into(),
            "failure rate".into(),
            "repaired".into(),
            "repair rate".into(),
            "repairs".into(),
            "ok and checked".into(),
        ],
        &table_rows,
    ));
    figure("checks-language", title, &body)
}

fn latency_by_model(map: &BTreeMap<String, Acc>) -> String {
    let rows = Summary::rows(StatsKey::Model, map);
    let keys: Vec<String> = rows.iter().map(|(k, _)| (*k).clone()).collect();
    let at = |p: u32| -> Vec<f64> {
        rows.iter()
            .map(|(_, a)| a.latency(p).map_or(0.0, |ms| ms as f64 / 1000.0))
            .collect()
    };
    let series = [
        Series {
            name: "p50: half the calls took less".into(),
            color: BLUE,
            values: at(50),
        },
        Series {
            name: "p95: 19 calls in 20 took less".into(),
            color: LIGHT_BLUE,
            values: at(95),
        },
    ];
    let title = "Latency by model, whole call: the median (p50) and the slow tail (p95) a \
                 planner waits for.";
    let mut body = legend(&series);
    body.push_str(&svg::bars(
        &keys,
        &series,
        false,
        &Axis {
            title: "seconds (s)".into(),
            fmt: secs,
        },
        None,
        "latency-model-title",
    ));
    let table_rows: Vec<(String, Vec<String>)> = rows
        .iter()
        .map(|(k, a)| {
            (
                (*k).clone(),
                vec![
                    u(a.calls),
                    seconds(a.latency(50)),
                    seconds(a.latency(95)),
                    seconds(a.first_token(50)),
                ],
            )
        })
        .collect();
    body.push_str(&table(
        "Latency by model",
        &[
            "model".into(),
            "delegations".into(),
            "p50".into(),
            "p95".into(),
            "first token p50".into(),
        ],
        &table_rows,
    ));
    figure("latency-model", title, &body)
}

fn on_disk(total: &Acc, map: &BTreeMap<String, Acc>) -> String {
    let mut rows: Vec<(String, &Acc)> = vec![("all models".to_string(), total)];
    rows.extend(
        Summary::rows(StatsKey::Model, map)
            .into_iter()
            .map(|(k, a)| (k.clone(), a)),
    );
    rows.retain(|(_, a)| a.ok_on_disk + a.ok_inline > 0);
    let title = format!(
        "Share of ok results that landed on disk: {} of the ok results saved the planner writing \
         them; the rest came back inline, saved only if the planner did not re-type them.",
        percent(total.on_disk_share())
    );
    if rows.is_empty() {
        return figure(
            "on-disk",
            &title,
            "<p class=\"note\">No delegation from a planner ended ok in this range.</p>",
        );
    }
    let keys: Vec<String> = rows.iter().map(|(k, _)| k.clone()).collect();
    let share = |f: fn(&Acc) -> u64| -> Vec<f64> {
        rows.iter()
            .map(|(_, a)| f(a) as f64 * 100.0 / (a.ok_on_disk + a.ok_inline) as f64)
            .collect()
    };
    let series = [
        Series {
            name: "landed on disk".into(),
            color: OK_CHECKED,
            values: share(|a| a.ok_on_disk),
        },
        Series {
            name: "returned inline".into(),
            color: GREY,
            values: share(|a| a.ok_inline),
        },
    ];
    let mut body = legend(&series);
    body.push_str(&svg::bars(
        &keys,
        &series,
        true,
        &Axis {
            title: "% of the ok results".into(),
            fmt: pct,
        },
        Some(100.0),
        "on-disk-title",
    ));
    let table_rows: Vec<(String, Vec<String>)> = rows
        .iter()
        .map(|(k, a)| {
            (
                k.clone(),
                vec![
                    u(a.ok_on_disk + a.ok_inline),
                    u(a.ok_on_disk),
                    u(a.ok_inline),
                    percent(a.on_disk_share()),
                ],
            )
        })
        .collect();
    body.push_str(&table(
        "Ok results that landed on disk, by model",
        &[
            "model".into(),
            "ok results".into(),
            "landed on disk".into(),
            "inline".into(),
            "share on disk".into(),
        ],
        &table_rows,
    ));
    figure("on-disk", &title, &body)
}

fn kpis(t: &Acc) -> String {
    let mut out =
        String::from("<section aria-label=\"The delegations at a glance\"><dl class=\"kpis\">");
    let mut kpi = |label: &str, value: String, small: String| {
        let _ = write!(
            out,
            "<div><dt>{}</dt><dd>{}{}</dd></div>",
            esc(label),
            esc(&value),
            if small.is_empty() {
                String::new()
            } else {
                format!(" <small>{}</small>", esc(&small))
            }
        );
    };
    kpi("delegations", u(t.calls), String::new());
    kpi(
        "ended ok",
        percent(t.fallback_rate().map(|r| 1.0 - r)),
        format!("{} of {}", u(t.ok), u(t.calls)),
    );
    kpi(
        "DELEGATION_FAILED",
        percent(t.fallback_rate()),
        u(t.failed()),
    );
    kpi(
        "ok, checked and passed",
        percent(t.checked_share()),
        format!("{} of {}", u(t.ok_checked), u(t.ok)),
    );
    kpi(
        "ok results on disk",
        percent(t.on_disk_share()),
        format!("{} of {}", u(t.ok_on_disk), u(t.ok_on_disk + t.ok_inline)),
    );
    kpi(
        "latency, p50",
        seconds(t.latency(50)),
        format!("p95 {}", seconds(t.latency(95))),
    );
    out.push_str("</dl></section>");
    out
}

fn hero(s: &Summary, prices: Prices) -> String {
    let t = &s.total;
    let saving = Saving::of(t, prices);
    let class = if saving.exact < 0.0 { "loss" } else { "gain" };
    let mut notes = Vec::new();
    if saving.exact < 0.0 {
        notes.push(
            "Below zero: these delegations cost the planner more than writing the artifacts \
             itself would have. Delegation pays when the result is several times longer than the \
             spec."
                .to_string(),
        );
    }
    notes.push(format!(
        "Price ratio {}: input costs 1/{} of the output price. Inline artifacts: {} tokens, saved \
         only if not re-typed (not in the figure).",
        ratio(prices.ratio),
        ratio(prices.ratio),
        thousands(t.inline_tokens())
    ));
    if t.shell_calls > 0 {
        notes.push(format!(
            "Shell `delegate` calls: {}, {} tokens landed on disk with no planner involved (not in \
             the figure).",
            u(t.shell_calls),
            thousands(t.shell_disk_tokens())
        ));
    }
    let notes: String = notes
        .iter()
        .map(|n| format!("<p class=\"note\">{}</p>", esc(n)))
        .collect();
    format!(
        "<section class=\"hero\" aria-labelledby=\"saving-title\">\
         <h2 id=\"saving-title\">net saving, priced as a planner pays (an estimate, not a measurement)</h2>\
         <p class=\"figure {class}\" id=\"net-saving\">{}</p>\
         <p class=\"formula\" id=\"formula\">{}</p>{notes}</section>",
        esc(&saving.figure()),
        esc(&saving.formula()),
    )
}

pub(crate) fn render(
    s: &Summary,
    path: &Path,
    since: Option<SystemTime>,
    prices: Prices,
    by: Option<StatsKey>,
) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"generator\" content=\"local-executor-mcp {}\">\
         <title>local-executor-mcp: what delegating saved</title><style>{STYLE}</style></head><body><main>\
         <h1>What delegating to the local model saved</h1>",
        env!("CARGO_PKG_VERSION")
    );
    let mut facts = vec![
        format!("usage log: {}", path.display()),
        format!("{} calls", u(s.calls)),
    ];
    if let (Some(first), Some(last)) = (s.first, s.last) {
        facts.push(format!("{} to {}", format_time(first), format_time(last)));
    }
    if let Some(t) = since {
        facts.push(format!("since {}", format_time(t)));
    }
    if s.malformed > 0 {
        facts.push(format!("{} malformed lines skipped", u(s.malformed)));
    }
    let _ = write!(out, "<p class=\"meta\">{}</p>", esc(&facts.join(" · ")));

    let t = &s.total;
    if t.calls == 0 {
        let _ = write!(
            out,
            "<section><p class=\"empty\" id=\"empty\">No delegations recorded {}.</p>\
             <p class=\"note\">Every call to the server adds a line to the usage log; this page \
             shows them once there are some.</p></section>",
            if since.is_some() {
                "in this period"
            } else {
                "yet"
            }
        );
    } else {
        out.push_str(&hero(s, prices));
        out.push_str(&kpis(t));
        let order = reason_order(t);
        if let Some(days) = &s.days {
            let (period, run) = periods(days, by == Some(StatsKey::Day));
            if !run.is_empty() {
                out.push_str(&trend(&run, period, prices));
                out.push_str(&outcomes_over_time(&run, period, &order));
            }
        }
        let group = |k: StatsKey| s.groups.iter().find(|(g, _)| *g == k).map(|(_, m)| m);
        for k in [StatsKey::Model, StatsKey::Tier, StatsKey::Client] {
            if let Some(map) = group(k) {
                out.push_str(&outcomes_by(k, map, &order));
            }
        }
        if let Some((_, map)) = s.checks.iter().find(|(k, _)| *k == CheckKey::Language) {
            out.push_str(&checks_by_language(map));
        }
        if let Some(map) = group(StatsKey::Model) {
            out.push_str(&latency_by_model(map));
            out.push_str(&on_disk(t, map));
        }
        if !s.other_calls.is_empty() {
            let other: Vec<String> = s
                .other_calls
                .iter()
                .map(|(tool, n)| format!("{tool} {}", u(*n)))
                .collect();
            let _ = write!(
                out,
                "<p class=\"note\">Other calls: {}. The planner read their results too: they \
                 are in the net saving, as what it read back.</p>",
                esc(&other.join(", ")),
            );
        }
    }
    let _ = writeln!(
        out,
        "<footer><p>Method: {}.</p><p>Made by local-executor-mcp {} (stats --html) from the usage \
         log; the same figures as stats --json.</p></footer></main></body></html>",
        esc(METHOD),
        env!("CARGO_PKG_VERSION")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(calls: u64) -> Acc {
        Acc {
            calls,
            ok: calls,
            ..Acc::default()
        }
    }

    #[test]
    fn a_short_range_is_days_with_the_gaps_kept() {
        let days: BTreeMap<String, Acc> = [("2026-11-01", 2), ("2026-11-04", 1)]
            .into_iter()
            .map(|(d, n)| (d.to_string(), acc(n)))
            .collect();
        let (period, run) = periods(&days, false);
        assert_eq!(period, Period::Day);
        let calls: Vec<u64> = run.iter().map(|(_, a)| a.calls).collect();
        assert_eq!(calls, [2, 0, 0, 1]);
    }

    #[test]
    fn a_long_range_is_weeks_starting_monday() {
        // 2026-01-01 is a Thursday; 2026-12-31 too.
        let days: BTreeMap<String, Acc> = [
            ("2026-01-01", 1),
            ("2026-01-04", 1),
            ("2026-01-05", 3),
            ("2026-12-31", 1),
        ]
        .into_iter()
        .map(|(d, n)| (d.to_string(), acc(n)))
        .collect();
        let (period, run) = periods(&days, false);
        assert_eq!(period, Period::Week);
        assert_eq!(run[0].0.to_string(), "2025-12-29");
        assert_eq!((run[0].1.calls, run[1].1.calls), (2, 3));
        assert_eq!(run.len(), 53);
        assert_eq!(run.iter().map(|(_, a)| a.calls).sum::<u64>(), 6);
        // Asked for days, it gives days.
        assert_eq!(periods(&days, true).1.len(), 365);
    }
}
